"""The progress display on a narrow terminal: it measures the terminal it draws on (stderr),
not stdout's, and draws nothing it would have to wrap. Each drawn row fits, so the in-place
redraw (which moves up by the rows it drew) never leaves debris."""

from __future__ import annotations

import fcntl
import os
import pathlib
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import time

import pytest

from tests.test_cli import SAMPLE, TIMEOUT, _cli, _env

#: The control sequences the display uses: carriage return, erase line/screen, rows up.
_CONTROL = re.compile(rb"\r|\x1b\[K|\x1b\[J|\x1b\[\d*F")


def _run_on_narrow_stderr(columns: int, *args: str, term: str | None = None,
                          stdout_too: bool = False) -> tuple[int, bytes]:
    """stderr on a pseudo-terminal ``columns`` wide, stdout to a pipe (``> out.txt``), or to
    the terminal too; ``term``: the ``TERM`` it says it is."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = _env()
    env.pop("COLUMNS", None)
    if term is not None:
        env["TERM"] = term
    proc = subprocess.Popen(_cli(*args), stdin=subprocess.DEVNULL,
                            stdout=slave if stdout_too else subprocess.DEVNULL,
                            stderr=slave, env=env)
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            try:
                data = os.read(master, 65536) if ready else b""
            except OSError:  # EIO: the child closed the terminal's last reference
                data = b""
            if not data:
                break
            shown += data
        code = proc.wait(timeout=TIMEOUT)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, shown


def _progress_rows(shown: bytes) -> list[str]:
    """Every row drawn before the final summary (whose lines are plain text)."""
    drawn = shown.rsplit(b"\x1b[J", 1)[0] if b"\x1b[J" in shown else shown
    rows = [_CONTROL.sub(b"\n", line) for line in drawn.split(b"\r\n")]
    return [r for row in rows for r in row.decode().split("\n") if r]


@pytest.mark.parametrize("columns", [30, 1])
def test_the_batch_progress_fits_the_width_of_stderr(tmp_path: pathlib.Path,
                                                     columns: int) -> None:
    """30 columns: every row fits in 29 (it was drawn 80 wide: stdout, a pipe, was measured).
    1 column: nothing is drawn (rows of 10 wrapped into ten)."""
    for name in ("a", "b"):
        shutil.copyfile(SAMPLE, tmp_path / f"{name}.flac")
    code, shown = _run_on_narrow_stderr(
        columns, "transcribe", str(tmp_path / "a.flac"), str(tmp_path / "b.flac"), "--mock",
        "--speed", "8", "-o", str(tmp_path / "out"))
    assert code == 0, shown
    rows = _progress_rows(shown)
    if columns == 1:
        assert not [r for r in rows if "in flight" in r], shown
    else:
        assert any("in flight" in r for r in rows), shown
        assert all(len(r) <= columns - 1 for r in rows if "in flight" in r or ".flac:" in r), \
            rows


def test_a_dumb_terminal_gets_plain_lines_and_no_redraws() -> None:
    """TERM=dumb (Emacs' shell, some CI logs) shows the erase sequence as text: the live view
    and the redrawn progress are off there, and committed lines scroll plainly."""
    code, shown = _run_on_narrow_stderr(80, "transcribe", SAMPLE, "--mock", "--speed", "8",
                                        term="dumb", stdout_too=True)
    assert code == 0, shown
    assert b"\x1b[" not in shown, shown
    assert b"ETA" in shown and b"1 segment" in shown, shown  # progress as plain lines
    _, redrawn = _run_on_narrow_stderr(80, "transcribe", SAMPLE, "--mock", "--speed", "8",
                                       term="xterm", stdout_too=True)
    assert b"\x1b[K" in redrawn  # the same run on a capable terminal redraws in place
