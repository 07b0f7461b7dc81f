"""Pacing: send non-live audio at real time (or a speed factor) on a monotonic-clock schedule."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator

from scribe_sync.errors import ConfigError
from scribe_sync.messages import AudioFormat

from ._base import AudioSource, check_format

__all__ = ["MAX_CATCH_UP", "Pacer", "paced"]

#: The most audio time, in seconds of the schedule, released in a burst to catch up after a
#: stall. A longer stall (a suspended machine, a consumer blocked for minutes) moves the
#: schedule instead: otherwise the whole backlog would go out at once, far faster than real time.
MAX_CATCH_UP = 1.0


def _check_speed(speed: float | None) -> float | None:
    if speed is None:
        return None
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        raise ConfigError(f"speed must be a number or None, got {speed!r}", option="speed")
    if not (math.isfinite(speed) and speed > 0):
        raise ConfigError(f"speed must be positive and finite, got {speed!r}", option="speed")
    return float(speed)


class Pacer:
    """Releases audio no faster than ``speed`` times real time.

    The schedule is absolute: chunk *n* is due at ``start + (audio before n) / speed`` on the
    monotonic clock, where ``start`` is when the first chunk was released. A late wake-up (a
    slow consumer, an oversleeping OS) therefore never accumulates as drift; the next chunk is
    simply due sooner. Durations come from byte counts, so they are exact. A stall longer than
    :data:`MAX_CATCH_UP` (a suspended machine: the clock jumps ahead) is caught up only by that
    much; the rest of it shifts the schedule, so the backlog never leaves in one burst.

    Args:
        format: the audio format of the chunks, to turn bytes into seconds.
        speed: 1.0 for real time, 2.0 for twice as fast, ``None`` for no pacing at all.
        clock: a monotonic clock in seconds (injectable for tests).
        sleep: a function that sleeps for the given seconds. Passing ``stop_event.wait`` makes
            the pacing interruptible; a sleep that returns early just means :meth:`wait`
            returns early.
    """

    def __init__(
        self,
        format: AudioFormat | str,
        speed: float | None = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.format = check_format(format, option="format")
        self.speed = _check_speed(speed)
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._sent_bytes = 0

    @property
    def sent_seconds(self) -> float:
        """Seconds of audio released so far."""
        return self.format.duration(self._sent_bytes)

    def due(self) -> float | None:
        """The clock time at which the next chunk may be released (None before the first)."""
        if self._start is None or self.speed is None:
            return None
        return self._start + self.sent_seconds / self.speed

    def wait(self, nbytes: int) -> None:
        """Block until a chunk of ``nbytes`` is due, then count it as released."""
        if self.speed is not None:
            if self._start is None:
                self._start = self._clock()
            else:
                due = self._start + self.sent_seconds / self.speed
                delay = due - self._clock()
                if delay > 0:
                    self._sleep(delay)
                elif delay < -MAX_CATCH_UP:
                    self._start += -delay - MAX_CATCH_UP  # forgive all but MAX_CATCH_UP
        self._sent_bytes += nbytes


def paced(
    source: AudioSource | Iterable[bytes],
    speed: float | None = 1.0,
    *,
    format: AudioFormat | str | None = None,
    live: bool | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Iterator[bytes]:
    """Yield the chunks of ``source`` no faster than ``speed`` times real time.

    Live sources (``source.live``) are passed through unpaced: they already arrive in real
    time and waiting would only add latency. ``speed=None`` passes everything through.

    Args:
        source: an :class:`AudioSource`, or any iterable of chunks together with ``format``.
        speed: 1.0 for real time, a factor, or ``None`` for as fast as possible.
        format: the chunks' format; default ``source.format``.
        live: override ``source.live``.
        clock: a monotonic clock (injectable for tests).
        sleep: the sleep function (injectable for tests, or ``event.wait`` to interrupt).

    Raises:
        ConfigError: ``speed`` is not positive, or no format is known.
    """
    checked = _check_speed(speed)
    fmt = format if format is not None else getattr(source, "format", None)
    if fmt is None:
        raise ConfigError("paced() needs format= for a plain iterable of chunks", option="format")
    is_live = live if live is not None else bool(getattr(source, "live", False))
    return _paced(source, Pacer(fmt, None if is_live else checked, clock=clock, sleep=sleep))


def _paced(source: Iterable[bytes], pacer: Pacer) -> Iterator[bytes]:
    for chunk in source:
        pacer.wait(len(chunk))
        yield chunk
