"""Hostile inputs to ``scribe-sync transcribe``: stdin closed, file names that are not UTF-8 or
that hold a newline. One line and a documented code, never an internal error."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import threading

import pytest

from scribe_sync.cli import EXIT_AUDIO, EXIT_OK, EXIT_USAGE
from tests.test_cli import SAMPLE, TIMEOUT, _cli, _env, one_error_line


def test_stdin_closed_is_one_line_and_exit_4() -> None:
    """`transcribe - <&-` was an internal error (AttributeError on sys.stdin None, exit 1)."""
    proc = subprocess.run(_cli("transcribe", "-", "--mock", "--fast"), env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False,
                          stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
    assert proc.returncode == EXIT_AUDIO, proc.stderr
    assert "stdin" in one_error_line(proc.stderr)


def test_a_file_name_that_is_not_utf8_is_transcribed(tmp_path: pathlib.Path) -> None:
    """A name with the byte 0xff (legal on Linux) was an internal error: soundfile encodes a
    str path as strict UTF-8."""
    if sys.platform == "win32" or os.fsencode("x") != b"x":
        return
    name = os.fsdecode(b"bad\xff.flac")
    shutil.copyfile(SAMPLE, os.path.join(tmp_path, name))
    proc = subprocess.run(_cli("transcribe", name, "--mock", "--fast"), env=_env(),
                          cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert proc.stdout.strip(), proc.stderr  # a transcript (the mock makes one up)


def test_a_summary_holds_a_file_name_that_is_not_utf8(tmp_path: pathlib.Path) -> None:
    """--summary failed with exit 6 and a raw codec error (a lone surrogate cannot be UTF-8),
    after every file had been written. The name is escaped; fsencode gives its bytes back."""
    if sys.platform == "win32" or os.fsencode("x") != b"x":
        return
    import json

    name = os.fsdecode(b"bad\xff.flac")
    shutil.copyfile(SAMPLE, os.path.join(tmp_path, name))
    shutil.copyfile(SAMPLE, tmp_path / "caf\u00e9.flac")
    proc = subprocess.run(
        _cli("transcribe", name, "caf\u00e9.flac", "--mock", "--fast", "-q", "-o", "out/",
             "--summary", "s.json"),
        env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_OK, proc.stderr
    summary = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert [os.fsencode(f["input"]) for f in summary["files"]] == [
        b"bad\xff.flac", "caf\u00e9.flac".encode()]
    assert summary["totals"]["ok"] == 2


def test_a_file_name_with_a_newline_is_one_summary_line(tmp_path: pathlib.Path) -> None:
    """The batch summary has one line per file, whatever the file is called."""
    odd = tmp_path / "new\nline.flac"
    shutil.copyfile(SAMPLE, odd)
    shutil.copyfile(SAMPLE, tmp_path / "plain.flac")
    proc = subprocess.run(
        _cli("transcribe", str(odd), str(tmp_path / "plain.flac"), "--mock", "--fast", "-o",
             str(tmp_path / "out")),
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_OK, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, proc.stderr  # two files and the totals
    assert lines[0].startswith("ok ") and lines[1].startswith("ok "), proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["new\nline.txt",
                                                                   "plain.txt"]


def test_a_summary_that_is_an_output_is_refused_before_any_session(
    tmp_path: pathlib.Path,
) -> None:
    """--summary out/a.txt with a.flac in the batch silently replaced a.flac's transcript."""
    shutil.copyfile(SAMPLE, tmp_path / "a.flac")
    shutil.copyfile(SAMPLE, tmp_path / "b.flac")
    for summary in ("out/a.txt", "out/../out/b.txt"):
        proc = subprocess.run(
            _cli("transcribe", "a.flac", "b.flac", "--mock", "--fast", "-o", "out",
                 "--summary", summary),
            env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT,
            check=False, stdin=subprocess.DEVNULL)
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert "--summary" in one_error_line(proc.stderr)
    assert not (tmp_path / "out").exists()  # nothing ran, and the folder made for it is gone


def test_stdin_a_terminal_is_one_line_and_exit_4() -> None:
    """`transcribe -` typed at a prompt waited for raw PCM from the keyboard: a silent hang."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(_cli("transcribe", "-", "--mock", "--fast"), env=_env(),
                              stdin=slave, capture_output=True, text=True, timeout=TIMEOUT,
                              check=False)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == EXIT_AUDIO, proc.stderr
    assert "terminal" in one_error_line(proc.stderr)


def _feed_fifo(path: pathlib.Path, data: bytes) -> threading.Thread:
    """A writer that opens the named pipe (waiting for its reader, as a shell's would), writes
    ``data`` and leaves: what is not read by then is gone."""
    def write() -> None:
        try:
            with open(path, "wb") as fifo:
                fifo.write(data)
        except BrokenPipeError:
            pass  # the reader closed early; the test judges the command, not the writer

    writer = threading.Thread(target=write, name="fifo-writer", daemon=True)
    writer.start()
    return writer


@pytest.mark.skipif(shutil.which("ffmpeg") is None or not hasattr(os, "mkfifo"),
                    reason="needs ffmpeg and named pipes")
@pytest.mark.parametrize("content", ["flac", "garbage"])
def test_a_named_pipe_is_read_once(tmp_path: pathlib.Path, content: str) -> None:
    """A FLAC file through a named pipe: libsndfile drained part of it and failed, then
    ffmpeg opened the pipe again and waited for ever for a writer that had left. It is now
    read once, by ffmpeg; what is not audio is one line and exit 4."""
    fifo = tmp_path / "talk"
    os.mkfifo(fifo)
    data = pathlib.Path(SAMPLE).read_bytes() if content == "flac" else os.urandom(100_000)
    writer = _feed_fifo(fifo, data)
    try:
        proc = subprocess.run(_cli("transcribe", str(fifo), "--mock", "--fast"), env=_env(),
                              capture_output=True, text=True, timeout=TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    finally:
        if writer.is_alive():  # the command never opened the pipe: let the writer go
            with open(fifo, "rb") as drain:
                drain.read()
        writer.join(TIMEOUT)
    if content == "flac":
        assert proc.returncode == EXIT_OK, proc.stderr
        assert proc.stdout.strip()
    else:
        assert proc.returncode == EXIT_AUDIO, proc.stderr
        assert "talk" in one_error_line(proc.stderr)


def test_misleading_messages_say_what_is_wrong(tmp_path: pathlib.Path) -> None:
    """A link loop was "no such file"; a base URL pasted with a trailing space was "the port
    must be a number" and blamed on --base-url when it came from the environment; stdin alone
    with -o DIR/ was "cannot be one of many inputs"."""
    from tests.test_cli import run

    (tmp_path / "loop1.wav").symlink_to("loop2.wav")
    (tmp_path / "loop2.wav").symlink_to("loop1.wav")
    (tmp_path / "broken.wav").symlink_to("missing.wav")
    loop = run("transcribe", str(tmp_path / "loop1.wav"), "--mock")
    assert loop.returncode == EXIT_AUDIO
    assert "a loop of symbolic links" in one_error_line(loop.stderr)
    broken = run("transcribe", str(tmp_path / "broken.wav"), "--mock")
    assert "a symbolic link to a file that does not exist" in one_error_line(broken.stderr)
    env = {**_env(), "SCRIBE_SYNC_BASE_URL": "http://127.0.0.1:9 ", "ELEVENLABS_API_KEY": "k"}
    spaced = run("transcribe", SAMPLE, env=env)
    assert spaced.returncode == EXIT_USAGE
    line = one_error_line(spaced.stderr)
    assert line.startswith("scribe-sync: error: $SCRIBE_SYNC_BASE_URL:")
    assert "without spaces around it" in line
    for given in ("--base-url", "--base"):  # argparse takes an abbreviation too
        flag = run("transcribe", SAMPLE, given, "http://127.0.0.1:9 ", env=env)
        assert "error: --base-url:" in one_error_line(flag.stderr)
    alone = run("transcribe", "-", "-o", str(tmp_path / "out") + "/", "--mock", stdin=b"")
    assert alone.returncode == EXIT_USAGE
    assert "has no name to give its output" in one_error_line(alone.stderr)
