"""Progress for the ``scribe-sync`` command: what one line says, and how lines reach stderr.

A small renderer of our own rather than tqdm or rich: the command needs one status line (or, in
a batch, one line per file in flight under an overall line), redrawn in place on a terminal or
printed every few seconds for CI logs. That is some forty lines; a dependency would add an
install-time cost and a second code path for when it is absent.

- :func:`status`: ``talk.wav: 12.3 s of 60.0 s (20%), 4.1x, ETA 0:14``; without a known length (a
  stream, the microphone) the elapsed audio only.
- :class:`Board`: writes a block of lines to a stream, redrawn in place (``mode="tty"``) or,
  with ``mode="plain"``, the first line every ``every`` seconds.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Sequence
from typing import IO, Final

__all__ = ["MIN_WIDTH", "PROGRESS_MODES", "Board", "Rate", "clock", "columns", "status"]

PROGRESS_MODES: Final = ("auto", "tty", "plain", "none")
_TTY_INTERVAL: Final = 0.2  # redraws per second on a terminal: smooth, and cheap
#: The narrowest line the live view draws (narrower terminals get no live view).
MIN_WIDTH: Final = 10


def clock(seconds: float) -> str:
    """``75`` -> ``1:15``; ``3725`` -> ``1:02:05``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Rate:
    """Audio seconds per wall second since the first audio, and the ETA that follows.

    ``pace`` is the sending speed when the audio is paced (``--realtime``, ``--speed``): then the
    ETA is the remaining audio at that pace, which is exact, rather than a measurement.
    """

    def __init__(self, pace: float | None) -> None:
        self.pace = pace
        self._started = time.monotonic()

    def speed(self, position: float) -> float | None:
        elapsed = time.monotonic() - self._started
        if elapsed < 0.5 or position <= 0:
            return None  # too early for a figure that means anything
        return position / elapsed

    def eta(self, position: float, total: float | None) -> float | None:
        if total is None:
            return None
        left = max(0.0, total - position)
        if self.pace:
            return left / self.pace
        speed = self.speed(position)
        return None if speed is None else left / speed


def status(label: str, position: float, total: float | None, rate: Rate | None) -> str:
    """One file's status: position against the total, speed, ETA (what is known of them)."""
    if total:
        text = (f"{label}: {position:.1f} s of {total:.1f} s "
                f"({min(100, int(100 * position / total))}%)")
    else:
        text = f"{label}: {position:.1f} s"
    if rate is not None:
        speed = rate.speed(position)
        if speed is not None:
            text += f", {speed:.1f}x"
        eta = rate.eta(position, total)
        if eta is not None and math.isfinite(eta):
            text += f", ETA {clock(eta)}"
    return text


class Board:
    """A block of status lines on ``stream``, redrawn in place or printed now and then."""

    def __init__(self, stream: IO[str], mode: str, every: float = 5.0) -> None:
        self.stream = stream
        self.mode = mode  # "tty" or "plain"
        self.every = every
        self._shown = 0  # lines on screen (tty)
        self._next = 0.0
        self.broken = False  # stderr went away: stop writing, never fail the run for it

    def due(self, force: bool = False) -> bool:
        """Whether a redraw is due now (and, if so, when the next one is)."""
        now = time.monotonic()
        if self.broken or (not force and now < self._next):
            return False
        self._next = now + (_TTY_INTERVAL if self.mode == "tty" else self.every)
        return True

    def show(self, lines: Sequence[str]) -> None:
        if self.mode == "plain":
            self._write(lines[0] + "\n" if lines else "")
            return
        width = columns(self.stream) - 1  # never wrap: redraw by rows
        if width < MIN_WIDTH:
            # Lines cut shorter than this say nothing, and longer ones wrap: the rows counted
            # for the next erase would be wrong, and every redraw would leave debris.
            self._write(self._erase() if self._shown else "")
            self._shown = 0
            return
        text = self._erase() + "\n".join(_fit(line, width) for line in lines)
        self._shown = len(lines)
        self._write(text)

    def clear(self) -> None:
        if self.mode == "tty" and self._shown:
            self._write(self._erase())
            self._shown = 0

    def _erase(self) -> str:
        # Back to the first row of the block, then clear to the end of the screen.
        up = f"\x1b[{self._shown - 1}F" if self._shown > 1 else ""
        return "\r" + up + "\x1b[J" if self._shown else "\r\x1b[K"

    def _write(self, text: str) -> None:
        if self.broken or not text:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError, AttributeError):
            self.broken = True  # stderr is gone: the run goes on without progress


def columns(stream: IO[str] | None) -> int:
    """The width of the terminal ``stream`` draws on: ``COLUMNS`` first (as shutil does), then
    that terminal's own size. ``shutil.get_terminal_size()`` asks stdout's terminal, and falls
    back to 80 columns when stdout is a file (``> out.txt``): the progress on a narrower stderr
    then wrapped, and each redraw left the wrapped rows behind."""
    try:
        env = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        env = 0
    if env > 0:
        return env
    try:
        size = os.get_terminal_size(stream.fileno()).columns if stream is not None else 0
    except (AttributeError, ValueError, OSError):
        size = 0
    return size if size > 0 else shutil.get_terminal_size().columns


def _fit(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"
