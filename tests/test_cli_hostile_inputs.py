"""Hostile inputs to ``scribe-sync transcribe``: stdin closed, file names that are not UTF-8 or
that hold a newline. One line and a documented code, never an internal error."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

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
    assert not any((tmp_path / "out").iterdir())  # nothing ran


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
