"""The base install, for real: ``pip install .`` into a new virtual environment with only the
client's dependencies (websocket-client, attrs, websockets), then ``import scribe_sync`` and a
whole session against a mock server running in another process (this test's environment, which
has the mock extra). Also: what the base install cannot do says, in one line, which extra to
install.

The import time of the base install is a benchmark figure, not a test (BENCHMARKS.md):
``python -X importtime -c "import scribe_sync"`` in the environment this test builds.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mock_server.testing import silence, speech
from scribe_sync.audio import sample_path

REPO = pathlib.Path(__file__).resolve().parent.parent
KEY = "light-install-key"
#: What the base install must never load: the audio extra, the mock and its server library.
HEAVY = ("numpy", "soundfile", "soxr", "aiohttp", "mock_server", "pyaudio")
#: A base dependency that ``import scribe_sync`` must not load (its package import costs about
#: 30 ms); the first connection loads it, for its C masking loop.
LAZY = ("websockets",)
INSTALL_TIMEOUT = 600

SESSION = """
import json, sys
import scribe_sync

audio = open(sys.argv[2], "rb").read()
with scribe_sync.connect(base_url=sys.argv[1], api_key="{key}") as session:
    session.send_audio(audio)
from scribe_sync._framing import fast_mask, mask
print(json.dumps({{
    "transcript": session.transcript,
    "loaded": sorted(m for m in {heavy!r} if m in sys.modules),
    "masking_in_c": fast_mask() is not mask,
}}))
"""

IMPORT_ONLY = """
import json, sys
import scribe_sync
import scribe_sync.audio  # the package itself is light too: its names load on first use
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""

MISSING_AUDIO = """
from scribe_sync.audio import AudioDependencyError
try:
    from scribe_sync.audio import FileSource
except AudioDependencyError as exc:
    print(exc.extra, "|", exc)
"""


def _copy_source(destination: pathlib.Path) -> pathlib.Path:
    """The files `pip install .` needs, without this checkout's venv, caches or build output."""
    source = destination / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in ("scribe_sync", "mock_server"):
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    return source


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A new virtual environment with `pip install .` and nothing else: its python."""
    root = tmp_path_factory.mktemp("light")
    source = _copy_source(root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                   timeout=INSTALL_TIMEOUT)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return python


def _run(python: pathlib.Path, *args: str, stdin: bytes | None = None,
         cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[bytes]:
    # A clean environment: nothing from this checkout may leak in through PYTHONPATH.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "ELEVENLABS_API_KEY", "SCRIBE_SYNC_BASE_URL")}
    return subprocess.run([str(python), *args], input=stdin, env=env, cwd=cwd,
                          capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def mock_process() -> Iterator[str]:
    """A mock server in another process, started from this (full) environment: its URL."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", "0", "--api-key", KEY,
         "--transcript", "a light install works"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("scribe-mock listening on http://127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(20)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_base_install_has_only_the_clients_dependencies(base_venv: pathlib.Path) -> None:
    """pip install . brings websocket-client, attrs and websockets, and none of the extras'
    packages."""
    proc = _run(base_venv, "-c", "import importlib.util, json; print(json.dumps("
                f"[m for m in {HEAVY!r} if m != 'mock_server' and importlib.util.find_spec(m)]))")
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout) == []


def test_import_loads_none_of_the_heavy_modules(base_venv: pathlib.Path) -> None:
    """import scribe_sync (and scribe_sync.audio) works and loads no numpy, soundfile, soxr,
    aiohttp, mock_server, nor websockets (loaded by the first connection)."""
    proc = _run(base_venv, "-c", IMPORT_ONLY.format(heavy=HEAVY + LAZY))
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout) == []


def test_a_session_against_a_mock_in_another_process_works(
    base_venv: pathlib.Path, mock_process: str, tmp_path: pathlib.Path
) -> None:
    """The base install connects, streams, commits and gets the transcript, loading nothing
    heavy along the way; its frames are masked by websockets' C extension."""
    audio = tmp_path / "speech.pcm"
    audio.write_bytes(speech(2.0, seed=5) + silence(0.3))  # 5 words at 400 ms per word
    proc = _run(base_venv, "-c", SESSION.format(key=KEY, heavy=HEAVY), mock_process,
                str(audio))
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    assert result["transcript"] == "a light install works"
    assert result["loaded"] == []
    assert result["masking_in_c"] is True


def test_the_cli_streams_raw_stdin_on_the_base_install(
    base_venv: pathlib.Path, mock_process: str
) -> None:
    """scribe-sync transcribe - (raw PCM) needs no extra: it runs on the base install."""
    cli = base_venv.parent / "scribe-sync"
    proc = _run(cli, "transcribe", "-", "--fast", "--base-url", mock_process, "--api-key", KEY,
                stdin=speech(2.0, seed=5) + silence(0.3))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode() == "a light install works\n"


def test_a_missing_audio_extra_is_named(base_venv: pathlib.Path) -> None:
    """from scribe_sync.audio import FileSource on a base install: AudioDependencyError with
    extra 'audio' and the pip command."""
    proc = _run(base_venv, "-c", MISSING_AUDIO)
    assert proc.returncode == 0, proc.stderr.decode()
    extra, _, message = proc.stdout.decode().partition(" | ")
    assert extra == "audio"
    assert "pip install 'scribe-sync[audio]'" in message


@pytest.mark.parametrize(
    ("args", "extra", "code"),
    [
        (["transcribe", str(sample_path()), "--fast", "--base-url", "{url}", "--api-key", KEY],
         "audio", 4),
        # A new user's first try, with no key and no mock extra: the extra is named first,
        # since it must be installed whatever the key or the server.
        (["transcribe", str(sample_path())], "audio", 4),
        (["transcribe", str(sample_path()), "--mock"], "audio", 4),
        (["demo", "--fast"], "mock", 2),
        (["devices"], "mic", 4),
        (["listen", "--duration", "1", "--base-url", "{url}", "--api-key", KEY], "mic", 4),
        (["transcribe", "-", "--mock"], "mock", 2),
    ],
    ids=["file-needs-audio", "file-without-key-needs-audio", "file-with-mock-needs-audio",
         "demo-needs-mock", "devices-needs-mic", "listen-needs-mic",
         "mock-flag-needs-mock"],
)
def test_the_cli_names_the_missing_extra_in_one_line(
    base_venv: pathlib.Path, mock_process: str, args: list[str], extra: str, code: int
) -> None:
    """A command that needs an extra the install lacks: one line naming it, no traceback."""
    cli = base_venv.parent / "scribe-sync"
    proc = _run(cli, *(arg.format(url=mock_process) for arg in args))
    stderr = proc.stderr.decode()
    assert proc.returncode == code, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scribe-sync: error: "), stderr
    assert f"pip install 'scribe-sync[{extra}]'" in lines[0]


def test_scribe_mock_names_the_mock_extra_in_one_line(base_venv: pathlib.Path) -> None:
    """scribe-mock on the base install: its help works, and running it says in one line which
    extra to install (exit 2), with no traceback."""
    mock = base_venv.parent / "scribe-mock"
    help_proc = _run(mock, "--help")
    assert help_proc.returncode == 0, help_proc.stderr.decode()
    assert b"--transcript" in help_proc.stdout
    proc = _run(mock, "--port", "0")
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scribe-mock: error: "), stderr
    assert "pip install 'scribe-sync[mock]'" in lines[0]
    assert proc.stdout == b""


THEIR_TESTS = """
def test_theirs():
    assert True


def test_with_the_fixture(scribe_mock):
    pass
"""


def test_pytest_starts_on_the_base_install(base_venv: pathlib.Path,
                                           tmp_path: pathlib.Path) -> None:
    """A project that depends on the base install can still run its own tests with pytest: the
    mock's plugin, registered by the same distribution, loads without the mock extra. A test
    that asks for the scribe_mock fixture there errors with one line naming the extra."""
    install = _run(base_venv, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                   "pytest")
    assert install.returncode == 0, install.stderr.decode()[-2000:]
    (tmp_path / "test_theirs.py").write_text(THEIR_TESTS)
    proc = _run(base_venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_theirs.py",
                cwd=tmp_path)
    output = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 1, output[-2000:]  # tests ran; one errored
    assert "1 passed, 1 error" in output, output[-2000:]
    failures = [line for line in output.splitlines() if "scribe-sync[mock]" in line]
    assert failures, output[-2000:]
    assert "the mock server needs" in failures[0]
    assert "Traceback" not in output and "ModuleNotFoundError" not in output, output[-2000:]
