"""Timing profiles: how long the mock takes to answer (``--timing instant|live``).

- ``instant``: every answer is sent as soon as it is decided (the embedded ``MockServer`` and
  the pytest fixture default to it: tests stay fast).
- ``live``: the delays the live service shows (docs/protocol.md §6), drawn from a seeded random
  stream per session so that a run is reproducible:

  - commit -> ``committed_transcript``: a triangular distribution over 250-380 ms with its
    mode at 300 ms (median ≈ 308 ms), for manual and auto commits ("≈250-380 ms",
    innate-os#715);
  - VAD commit: the live service answers 0.73-0.9 s after the end of speech *whatever*
    ``vad_silence_threshold_secs`` says (measured, innate-os#715; no source shows the setting
    changing it). The live profile follows that observation: the VAD decides after 0.3 s of
    silence on the audio clock (``vad_silence``), and the decision adds 0.43-0.60 s
    (triangular, mode 0.5 s), so the answer comes 0.73-0.9 s after the speech ended, at the
    default threshold of 1.5 s as at 0.3 s or 3.0 s;
  - the echo partial after a committed transcript: 5-49 ms after it (two observed runs, §4.2);
  - partials keep the audio cadence (at most one per ``partial_interval_secs`` of audio) and
    the ≈2 s warm-up, as in ``instant``: no partial latency was ever measured.

  The distributions' shapes are inferences; only their ranges were observed.

``instant`` keeps the documented rule instead (a VAD commit once the silence reaches
``vad_silence_threshold_secs``), so that tests can rely on the parameter and stay fast.

Times are seconds *after* the audio frame that triggered the answer was received; the driver
sends a delayed frame no earlier than that, in order (see :class:`mock_server.actions.Send`).
"""

from __future__ import annotations

import random
from typing import Final

import attrs

__all__ = ["LIVE", "TIMINGS", "Latencies", "TimingProfile"]


@attrs.frozen
class TimingProfile:
    """Delay ranges ``(low, mode, high)`` in seconds of one timing profile."""

    name: str
    commit: tuple[float, float, float] = (0.0, 0.0, 0.0)
    vad_decision: tuple[float, float, float] = (0.0, 0.0, 0.0)
    echo_gap: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: Seconds of silence after which the VAD commits; ``None``: the session's
    #: ``vad_silence_threshold_secs`` (the documented rule).
    vad_silence: float | None = None


INSTANT: Final = TimingProfile("instant")
LIVE: Final = TimingProfile(
    "live",
    commit=(0.250, 0.300, 0.380),
    vad_decision=(0.43, 0.50, 0.60),
    echo_gap=(0.005, 0.020, 0.049),
    vad_silence=0.3,
)
#: The profiles by name (``Settings.timing`` and ``--timing`` take these names).
TIMINGS: Final = {"instant": INSTANT, "live": LIVE}


class Latencies:
    """The seeded delays of one session under a profile."""

    def __init__(self, profile: TimingProfile, seed: str) -> None:
        self.profile = profile
        self._rng = random.Random(seed)

    def _draw(self, spread: tuple[float, float, float]) -> float:
        low, mode, high = spread
        if high <= 0.0:
            return 0.0
        return round(self._rng.triangular(low, high, mode), 4)

    def commit(self, *, vad: bool) -> float:
        """Seconds from the commit's trigger to its ``committed_transcript``."""
        if vad:
            return self._draw(self.profile.vad_decision)
        return self._draw(self.profile.commit)

    def echo(self) -> float:
        """Seconds from a committed transcript to its echo partial."""
        return self._draw(self.profile.echo_gap)
