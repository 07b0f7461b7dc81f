"""Benchmarks only: a steady stream of partials, independent of the audio (driver side).

With ``Settings.bench_stream_count`` the network driver runs one :class:`BenchStream` next to
each session's engine: after ``session_started`` it sends ``bench_stream_count``
``partial_transcript`` frames (text ``"tick <n> ..."``), one every
``bench_stream_interval_secs``. The rules engine knows nothing about it. Sans-I/O like the
engine: :meth:`deadline` says when :meth:`tick` has frames to send.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["BenchStream"]


@attrs.define
class BenchStream:
    """The tick stream of one session, started at ``start`` (monotonic seconds)."""

    count: int
    interval: float
    start: float
    _sent: int = attrs.field(init=False, default=0)

    def deadline(self) -> float | None:
        """When the next frame is due (``None``: all sent)."""
        if self._sent >= self.count:
            return None
        return self.start + (self._sent + 1) * self.interval

    def tick(self, now: float) -> list[dict[str, Any]]:
        """Every frame due by ``now``."""
        out: list[dict[str, Any]] = []
        while (due := self.deadline()) is not None and now >= due:
            self._sent += 1
            text = f"tick {self._sent} the quick brown fox jumps over the lazy dog"
            out.append({"message_type": "partial_transcript", "text": text})
        return out
