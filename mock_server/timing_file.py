"""Timing profiles measured by users (``scribe-mock --timing FILE``): the live delays of
:mod:`mock_server.timing` taken from ``scribe-sync bench --record-timing FILE`` instead of the
protocol notes (docs/cassettes.md, "Timing profiles").

From the file's samples (seconds, measured in the client's code):

- ``commit``: commit -> ``committed_transcript`` becomes the mock's commit delay, a triangular
  distribution from the fastest sample through the median to the slowest;
- ``vad``: end of speech -> ``committed_transcript``: as in the ``live`` profile, the VAD
  decides after 0.3 s of silence whatever the threshold (the service was measured answering
  0.73-0.9 s after speech at any setting), and the decision's delay is the rest of each
  sample, spread the same way;
- ``connect`` and ``first_partial`` are kept in the file for people: the mock's connection and
  partials follow the audio, not a delay.

A metric without samples keeps the ``live`` profile's range. The client measured network round
trips the mock does not have, so a profile from a distant service errs slow, as it should.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from typing import Any, Final

from .timing import LIVE, TimingProfile
from .validation import read_config_file

__all__ = ["TimingFileError", "load_timing"]

_FORMAT: Final = "scribe-timing"
_VERSION: Final = 1


class TimingFileError(ValueError):
    """A timing profile that cannot be used; ``str(exc)`` is one line naming the file."""


def _spread(samples: Sequence[float], fallback: tuple[float, float, float]
            ) -> tuple[float, float, float]:
    if not samples:
        return fallback
    return (min(samples), statistics.median(samples), max(samples))


def _samples(data: dict[str, Any], key: str, path: str) -> list[float]:
    values = data.get(key, [])
    if not isinstance(values, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 3600 for v in values
    ):
        raise TimingFileError(f"{path}: samples_s.{key} must be a list of seconds (0 to 3600)")
    return [float(v) for v in values]


def load_timing(path: str | os.PathLike[str]) -> TimingProfile:
    """The profile in a ``scribe-sync bench --record-timing`` file.

    Raises:
        TimingFileError: the file is missing, not JSON, not a timing profile, or too new.
    """
    name = os.fspath(path)
    try:
        data = json.loads(read_config_file(name))
    except FileNotFoundError:
        raise TimingFileError(f"{name}: no such timing profile") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        detail = ("not valid JSON" if isinstance(exc, ValueError)
                  else exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
        raise TimingFileError(f"{name}: cannot read the timing profile: {detail}") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise TimingFileError(f"{name}: not a timing profile (scribe-sync bench "
                              "--record-timing writes them)")
    version = data.get("version")
    if not isinstance(version, int) or version > _VERSION:
        raise TimingFileError(f"{name}: timing profile version {version!r} is not one this "
                              f"scribe-mock reads ({_VERSION})")
    samples = data.get("samples_s")
    if not isinstance(samples, dict):
        raise TimingFileError(f"{name}: samples_s must be an object")
    silence = LIVE.vad_silence or 0.0
    commit = _samples(samples, "commit", name)
    vad = [max(0.0, v - silence) for v in _samples(samples, "vad", name)]
    for key in ("connect", "first_partial"):
        _samples(samples, key, name)  # checked, kept for people
    return TimingProfile(
        f"file:{os.path.basename(name)}",
        commit=_spread(commit, LIVE.commit),
        vad_decision=_spread(vad, LIVE.vad_decision),
        echo_gap=LIVE.echo_gap,
        vad_silence=LIVE.vad_silence,
    )
