"""The command's output and failures: -o replaced atomically and only with a transcript, devices
and pipes written directly, every write failure one line, bugs reported without a traceback,
undecodable files named as such, and a summary of the caller's audio only."""

from __future__ import annotations

import json
import os
import pathlib
import re
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile

from mock_server import MockServer
from mock_server.testing import speech
from scribe_sync.audio import sample_path
from scribe_sync.cli import EXIT_AUDIO, EXIT_INTERNAL, EXIT_OUTPUT, EXIT_SERVER
from tests.test_cli import KEY, SAMPLE, TIMEOUT, _env, one_error_line, run

OLD = "the previous transcript, which a failed run must not touch\n"


def _leftovers(folder: pathlib.Path, keep: str) -> list[str]:
    """Files in ``folder`` other than ``keep`` (a temporary file left behind would show)."""
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def _truncated_flac(tmp_path: pathlib.Path) -> pathlib.Path:
    """A FLAC file whose header is fine and whose audio stops decoding at once."""
    path = tmp_path / "corrupt.flac"
    path.write_bytes(sample_path().read_bytes()[:2000])
    return path


# =============================================================================================
# -o: atomic, and only with something to keep


@pytest.mark.parametrize("failure", ["corrupt audio", "unreachable server"])
def test_a_run_that_fails_before_any_transcript_leaves_the_output_file_alone(
    tmp_path: pathlib.Path, failure: str
) -> None:
    """Exit 4 (audio that stops decoding) or 5 (no server): the old -o file keeps its bytes."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "good.srt"
    out.write_text(OLD)
    if failure == "corrupt audio":
        proc = run("transcribe", str(_truncated_flac(tmp_path)), "--mock", "--fast",
                   "-o", str(out))
        expected = EXIT_AUDIO
    else:
        with MockServer() as server:
            url = server.base_url
        proc = run("transcribe", SAMPLE, "--base-url", url, "--api-key", KEY, "--fast",
                   "-o", str(out))
        expected = EXIT_SERVER
    assert proc.returncode == expected, proc.stderr
    one_error_line(proc.stderr)
    assert out.read_text() == OLD
    assert _leftovers(out_dir, "good.srt") == []


def test_a_finished_run_replaces_the_file_keeping_its_mode(tmp_path: pathlib.Path) -> None:
    """Success: the new transcript replaces the file, with the old file's permissions."""
    out = tmp_path / "talk.txt"
    out.write_text(OLD)
    out.chmod(0o640)
    proc = run("demo", "--fast", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() != OLD and out.read_text().strip()
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert _leftovers(tmp_path, "talk.txt") == []


def test_a_new_output_file_gets_the_umask_mode(tmp_path: pathlib.Path) -> None:
    """A file -o creates has the mode open() would give it, not the temporary file's 0600."""
    out = tmp_path / "new.txt"
    proc = subprocess.run(
        ["bash", "-c", 'umask 022 && exec "$@"', "bash", sys.executable, "-m", "scribe_sync.cli",
         "demo", "--fast", "-o", str(out)],
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_a_symlinked_output_replaces_the_target_not_the_link(tmp_path: pathlib.Path) -> None:
    """-o through a symlink writes the file it points to; the link stays a link."""
    target = tmp_path / "real.txt"
    target.write_text(OLD)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    proc = run("demo", "--fast", "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink()
    assert target.read_text().strip() and target.read_text() != OLD


def test_a_named_pipe_is_written_directly_and_stays_a_pipe(tmp_path: pathlib.Path) -> None:
    """-o FIFO: the transcript goes through the pipe; the FIFO is never replaced by a file."""
    fifo = tmp_path / "captions.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as pipe:  # blocks until the command opens it for writing
            received.append(pipe.read())

    reader = threading.Thread(target=read, name="fifo-reader")
    reader.start()
    try:
        proc = run("demo", "--fast", "-o", str(fifo), "--format", "text")
    finally:
        if reader.is_alive() and not received:
            # The command never opened the pipe: open it ourselves so the reader returns.
            with open(fifo, "wb"):
                pass
        reader.join(TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert received and received[0].decode().strip()
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert _leftovers(tmp_path, "captions.fifo") == []


def test_dev_stdout_redirected_to_a_file_writes_the_shells_file(tmp_path: pathlib.Path) -> None:
    """-o /dev/stdout > out.txt: the transcript goes into the file the shell opened (the same
    inode), not into a file renamed over it."""
    out = tmp_path / "out.txt"
    out.write_text("")
    inode = out.stat().st_ino
    with open(out, "w") as redirected:
        proc = subprocess.run(
            [sys.executable, "-m", "scribe_sync.cli", "demo", "--fast", "-o", "/dev/stdout"],
            stdout=redirected, stderr=subprocess.PIPE, env=_env(), timeout=TIMEOUT, check=False,
        )
    assert proc.returncode == 0, proc.stderr.decode()
    assert out.stat().st_ino == inode
    assert out.read_text().strip()
    assert _leftovers(tmp_path, "out.txt") == []


def test_transcript_write_to_dev_stdout_on_a_pipe_goes_down_the_pipe() -> None:
    """``Transcript.write("/dev/stdout")`` with stdout a pipe: /dev/stdout resolves to
    "pipe:[N]", which no open finds; it is opened by the name given."""
    code = ("from scribe_sync import CommittedTranscript, Transcript\n"
            "t = Transcript()\nt.add(CommittedTranscript('down the pipe'))\n"
            "t.write('/dev/stdout', format='text')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=_env(),
                          timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"down the pipe" in proc.stdout


def test_a_regular_file_under_dev_shm_is_still_replaced_atomically() -> None:
    """Only links to a descriptor under /dev (/dev/stdout, /dev/fd/N) are written in place."""
    import os

    from scribe_sync import CommittedTranscript, Transcript

    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    path = f"/dev/shm/scribe-test-{os.getpid()}.txt"
    with open(path, "w") as old:
        old.write("old")
    inode = os.stat(path).st_ino
    try:
        transcript = Transcript()
        transcript.add(CommittedTranscript("new"))
        transcript.write(path, format="text")
        assert os.stat(path).st_ino != inode  # a new file moved over the old one
        with open(path) as new:
            assert new.read().strip() == "new"
    finally:
        os.unlink(path)


# =============================================================================================
# Write failures: one line, exit 6


def test_a_full_disk_behind_o_is_one_line_and_exit_6() -> None:
    """-o /dev/full: 'cannot write /dev/full: No space left on device', no traceback; the device
    node is still a device afterwards (it is written, never renamed over)."""
    proc = run("demo", "--fast", "-o", "/dev/full")
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    line = one_error_line(proc.stderr)
    assert line == "scribe-sync: error: cannot write /dev/full: No space left on device"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.mark.parametrize("fmt", ["text", "srt"])
def test_stdout_on_a_full_disk_is_one_line_and_exit_6(fmt: str) -> None:
    """> /dev/full (as the lines arrive, or the document at the end): one line, exit 6."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "scribe_sync.cli", "demo", "--fast", "--format", fmt],
            stdout=full, stderr=subprocess.PIPE, env=_env(), timeout=TIMEOUT, check=False,
        )
    stderr = proc.stderr.decode()
    assert proc.returncode == EXIT_OUTPUT, stderr
    assert one_error_line(stderr) == (
        "scribe-sync: error: cannot write <stdout>: No space left on device"
    )


def test_an_output_in_a_missing_folder_is_one_line_and_nothing_is_sent(
    tmp_path: pathlib.Path,
) -> None:
    """-o into a folder that does not exist: exit 6 before any session is opened."""
    out = tmp_path / "no-such-folder" / "talk.txt"
    with MockServer() as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "-o", str(out))
        assert server.sessions() == []
    assert proc.returncode == EXIT_OUTPUT
    line = one_error_line(proc.stderr)
    assert line.startswith(f"scribe-sync: error: cannot write {out}: ")


@pytest.mark.parametrize(("name", "reason"), [("", "No such file or directory")],
                         ids=["empty"])
def test_an_output_that_names_no_file_is_one_line_and_nothing_is_sent(
    tmp_path: pathlib.Path, name: str, reason: str
) -> None:
    """-o '' names no file: exit 6 before any session, as open() would say, and no file is
    made up (nor a temporary file left). (-o 'folder/' names a directory for the outputs.)"""
    work = tmp_path / "work"
    work.mkdir()
    with MockServer() as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "-o", name, cwd=work)
        assert server.sessions() == []
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    line = one_error_line(proc.stderr)
    assert line == f"scribe-sync: error: cannot write {name or repr(name)}: {reason}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert list(work.iterdir()) == []


# =============================================================================================
# A bug


BUGGY = """
import sys
from scribe_sync import cli

def broken(args):
    raise ValueError("an invariant broke")

cli._COMMANDS["token"] = broken
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_a_bug_is_exit_1_with_a_report_line_and_the_traceback_only_with_v(
    verbose: bool,
) -> None:
    """An unexpected exception: exit 1, one 'please report' line; the traceback needs -v."""
    args = ["token", "--api-key", KEY] + (["-v"] if verbose else [])
    proc = subprocess.run([sys.executable, "-c", BUGGY, *args], env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == EXIT_INTERNAL
    first = proc.stderr.splitlines()[0]
    assert first.startswith("scribe-sync: internal error: ValueError: an invariant broke")
    assert "please report" in first
    if verbose:
        assert "Traceback (most recent call last)" in proc.stderr
    else:
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert "-v" in first


# =============================================================================================
# Audio that is not audio


@pytest.mark.parametrize("name", ["notaudio.mp3", "notaudio.wav", "notaudio"])
def test_a_text_file_is_not_an_audio_file_in_one_line(tmp_path: pathlib.Path, name: str) -> None:
    """A readable text file: 'not an audio file we can decode', naming the decoders tried,
    exit 4, and not a line of the decoders' own chatter without -v."""
    path = tmp_path / name
    path.write_text("hello, this is not audio\n" * 20)
    proc = run("transcribe", str(path), "--mock", "--fast")
    assert proc.returncode == EXIT_AUDIO
    line = one_error_line(proc.stderr)  # exactly one line: the decoders' notes are captured
    assert "not an audio file we can decode" in line
    assert "libsndfile" in line
    assert "does not exist" not in line and "regular file" not in line
    verbose = run("transcribe", str(path), "--mock", "--fast", "-v")
    assert verbose.returncode == EXIT_AUDIO
    assert "libsndfile:" in verbose.stderr  # what each decoder said, for whoever asks


# =============================================================================================
# The summary


def test_the_summary_counts_only_the_callers_audio(tmp_path: pathlib.Path) -> None:
    """A 0.1 s file is '0.1 s of audio' (not the 0.35 s the padded commit sent); --format json
    reports the padding apart."""
    path = tmp_path / "short.wav"
    soundfile.write(path, np.frombuffer(speech(0.1, seed=4), dtype="<i2"), 16000,
                    subtype="PCM_16")
    out = tmp_path / "short.json"
    proc = run("transcribe", str(path), "--mock", "--fast", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert re.match(r"scribe-sync: 0\.1 s of audio, ", proc.stderr), proc.stderr
    audio = json.loads(out.read_text())["audio"]
    assert audio["seconds"] == pytest.approx(0.1)
    assert audio["padding_seconds"] == pytest.approx(0.25, abs=0.011)
    assert audio["keepalive_seconds"] >= 0
