"""What C libraries print on fd 2 while a source calls them goes to the log, and only that:
an ffmpeg-made MP3 decodes without libmpg123's lines on stderr (the CLI shows them with -v);
anything else written meanwhile reaches stderr intact."""

from __future__ import annotations

import logging
import os
import pathlib
import shutil
import subprocess
import sys
import threading

import pytest

from scribe_sync.audio import sample_path
from scribe_sync.audio._quiet import quiet_native_stderr

REPO = pathlib.Path(__file__).resolve().parent.parent
MPG123 = "[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length (1408) too large"


@pytest.fixture(scope="module")
def ffmpeg_mp3(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The bundled sample encoded to MP3 by ffmpeg (libmpg123 complains about such files)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("quiet") / "talk.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(sample_path()), str(path)],
                   check=True, timeout=60)
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ELEVENLABS_API_KEY", "COLUMNS")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def test_mp3_decodes_without_libmpg123_lines(ffmpeg_mp3: pathlib.Path) -> None:
    """FileSource over an ffmpeg-made MP3 prints nothing on stderr; the lines are logged."""
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
        "from scribe_sync.audio import FileSource\n"
        f"with FileSource({str(ffmpeg_mp3)!r}) as source:\n"
        "    print(sum(len(chunk) for chunk in source), 'bytes')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "bytes" in proc.stdout
    # libsndfile's MP3 decoder did complain; the complaints went to the log, with the file named.
    logged = [line for line in proc.stdout.splitlines() if "libmpg123" in line]
    assert logged and all(line.startswith(f"{ffmpeg_mp3}: [") for line in logged)


def test_cli_prints_nothing_on_stderr_without_v(ffmpeg_mp3: pathlib.Path) -> None:
    """`scribe-sync transcribe talk.mp3 --mock -q` prints no decoder line; `-v` shows them."""
    argv = [sys.executable, "-m", "scribe_sync.cli", "transcribe", str(ffmpeg_mp3), "--mock",
            "--fast"]
    quiet = subprocess.run([*argv, "-q"], capture_output=True, text=True, env=_env(),
                           timeout=120, check=False)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    verbose = subprocess.run([*argv, "-q", "-v"], capture_output=True, text=True, env=_env(),
                             timeout=120, check=False)
    assert verbose.returncode == 0, verbose.stderr
    assert "libmpg123" in verbose.stderr


def test_other_output_is_written_back(capfd: pytest.CaptureFixture[str],
                                      caplog: pytest.LogCaptureFixture) -> None:
    """Known library noise is logged; any other line written to fd 2 meanwhile reaches it."""
    with caplog.at_level(logging.INFO, logger="scribe_sync.audio"), \
            quiet_native_stderr("talk.mp3"):
        os.write(2, f"{MPG123}\nALSA lib pcm.c:2664:(snd_pcm_open_noupdate) Unknown PCM\n"
                    "a line of someone else's\n".encode())
        os.write(2, b"jack server is not running or cannot be started\n")
    err = capfd.readouterr().err
    assert err == "a line of someone else's\n"
    assert [r.getMessage() for r in caplog.records] == [
        f"talk.mp3: {MPG123}",
        "talk.mp3: ALSA lib pcm.c:2664:(snd_pcm_open_noupdate) Unknown PCM",
        "talk.mp3: jack server is not running or cannot be started",
    ]


def test_overlapping_captures_share_one_redirection(capfd: pytest.CaptureFixture[str]) -> None:
    """Two threads inside captures at once: fd 2 comes back only when the last one leaves."""
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with quiet_native_stderr("other"):
            inside.set()
            leave.wait(10)
            os.write(2, b"from the other thread\n")

    thread = threading.Thread(target=other, name="quiet-other")
    thread.start()
    assert inside.wait(10)
    with quiet_native_stderr("main"):
        os.write(2, b"from the main thread\n")
    os.write(2, b"while the other thread's capture is open\n")
    leave.set()
    thread.join(10)
    err = capfd.readouterr().err.splitlines()
    assert sorted(err) == sorted(["from the main thread", "from the other thread",
                                  "while the other thread's capture is open"])


def test_microphone_listing_keeps_alsa_and_jack_off_stderr(tmp_path: pathlib.Path) -> None:
    """list_devices() prints nothing on stderr where PortAudio's start prints ALSA's and JACK's
    probing (a machine without a sound card); those lines reach the log instead."""
    pytest.importorskip("pyaudio", reason="PyAudio (the mic extra) is not installed")
    env = {**_env(), "HOME": str(tmp_path)}  # no .asoundrc: ALSA's default configuration
    raw = subprocess.run([sys.executable, "-c", "import pyaudio; pyaudio.PyAudio().terminate()"],
                         capture_output=True, text=True, env=env, timeout=60, check=False)
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
        "from scribe_sync.audio import list_devices\n"
        "print(len(list_devices()), 'devices')\n"
    )
    ours = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert ours.returncode == 0, ours.stderr
    assert ours.stderr == ""
    noise = [line for line in raw.stderr.splitlines() if line.strip()]
    logged = [line for line in ours.stdout.splitlines() if line.startswith("microphone: ")]
    assert len(logged) == len(noise)  # every line PortAudio printed, logged (none lost)
