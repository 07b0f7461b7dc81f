"""Every script in examples/ runs, against the mock server, and does what its docstring says."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync.audio import sample_path, sample_transcript
from tests.fakemic import fake_mic_home

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
TIMEOUT = 120


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with MockServer(transcript=sample_transcript()) as server:
        yield server


def _env(server: MockServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(SCRIBE_SYNC_BASE_URL=server.base_url, ELEVENLABS_API_KEY="example-key",
               PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}", **extra)
    return env


def _run(script: str, *args: str, env: dict[str, str], cwd: pathlib.Path,
         ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env,
                          capture_output=True, timeout=TIMEOUT, check=False)
    # Decoded by hand: text mode would turn the captions' carriage returns into newlines.
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_every_example_has_a_test() -> None:
    """Each script in examples/ is one of those run below (test_captions_property.py is run
    by tests/test_captions_example.py)."""
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "file_to_srt.py", "many_files.py", "mic_captions.py", "test_captions_property.py",
        "test_my_app.py", "test_replay_cassette.py",
    ]


def test_file_to_srt_writes_subtitles(mock: MockServer, tmp_path: pathlib.Path) -> None:
    """file_to_srt.py FILE OUT.srt writes timed cues of the transcript."""
    proc = _run("file_to_srt.py", str(sample_path()), "talk.srt", env=_env(mock), cwd=tmp_path)
    srt = (tmp_path / "talk.srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:")
    assert " --> " in srt
    assert "-> talk.srt" in proc.stdout
    assert mock.sessions()[0].query["include_timestamps"] == ["true"]


def test_many_files_transcribes_each_file_on_a_worker(
    mock: MockServer, tmp_path: pathlib.Path
) -> None:
    """many_files.py A B C: one session per file, in parallel; a .txt beside each file."""
    files = []
    for name in ("a.flac", "b.flac", "c.flac"):
        shutil.copy(sample_path(), tmp_path / name)
        files.append(str(tmp_path / name))
    proc = _run("many_files.py", *files, env=_env(mock), cwd=tmp_path)
    assert sorted(line.split(":")[0] for line in proc.stdout.splitlines()) == [
        "a.flac", "b.flac", "c.flac",
    ]
    texts = {(tmp_path / n).read_text(encoding="utf-8") for n in ("a.txt", "b.txt", "c.txt")}
    assert len(texts) == 1 and texts.pop().strip()  # the same audio, the same transcript
    assert len(mock.wait_idle(count=3)) == 3


def test_mic_captions_prints_the_microphones_transcript(tmp_path: pathlib.Path) -> None:
    """mic_captions.py --seconds 2, on the fake ALSA microphone: the committed caption."""
    pytest.importorskip("pyaudio", reason="PyAudio (the mic extra) is not installed")
    home = fake_mic_home(tmp_path, speech(1.6, seed=9) + silence(2.0))
    with MockServer(transcript="hello from the microphone") as server:
        proc = _run("mic_captions.py", "--seconds", "2", env=_env(server, HOME=str(home)),
                    cwd=tmp_path)
        record = server.wait_idle()[0]
    # Each line ends as the last redraw left it: the committed caption, shown once.
    lines = [line.split("\r\x1b[K")[-1] for line in proc.stdout.split("\n")]
    assert lines == ["hello from the microphone", ""]
    assert record.query["commit_strategy"] == ["vad"]
    assert record.audio_bytes == 2 * 32000


def test_the_fixture_example_passes_under_pytest(tmp_path: pathlib.Path) -> None:
    """examples/test_my_app.py, run by pytest on its own, passes both of its tests."""
    env = {k: v for k, v in os.environ.items() if k != "ELEVENLABS_API_KEY"}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(EXAMPLES / "test_my_app.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout


def test_the_cassette_example_replays_offline(tmp_path: pathlib.Path) -> None:
    """examples/test_replay_cassette.py replays its recorded cassette with no key set (the
    strict test included: the same audio, chunk for chunk)."""
    env = {k: v for k, v in os.environ.items()
           if k != "ELEVENLABS_API_KEY" and not k.startswith("SCRIBE_")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(EXAMPLES / "test_replay_cassette.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout
