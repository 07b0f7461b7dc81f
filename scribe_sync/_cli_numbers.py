"""The command line's numeric flags: argparse types that check a range, and the ranges two
commands share (``--commit-every`` of ``transcribe`` and ``bench``), so that a value is refused
by the parser, in one line naming the range, the same way wherever the flag appears.

A leaf: imported by :mod:`scribe_sync._cli_args` and :mod:`scribe_sync._probe`, it imports
neither.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Final

__all__ = ["BENCH_COMMIT_EVERY_MIN", "COMMIT_EVERY_MAX", "MIN_SPEED", "number"]

#: The slowest --speed: a 100 ms chunk every 10 s, slower than any use of pacing needs.
MIN_SPEED: Final = 0.01
#: The longest --commit-every, an hour of audio, in both commands.
COMMIT_EVERY_MAX: Final = 3600.0
#: bench's shortest --commit-every: it commits at the first pause after that much audio, so a
#: fraction of a second (a commit at every pause) is a measurement worth making; transcribe's
#: sessions need at least 1 s (0 there means only at the end).
BENCH_COMMIT_EVERY_MIN: Final = 0.1


def number(kind: type[float] | type[int], low: float, high: float = math.inf,
           *, low_open: bool = False, zero: bool = False) -> Any:
    """An argparse type: a finite number in [low, high] (or (low, high] if ``low_open``), or
    also exactly 0 if ``zero`` (a flag whose 0 means "never", below a range that starts
    higher)."""
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if zero and value == 0:
            return value
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            bounds = (f"> {low:g}" if low_open else f">= {low:g}") + (
                f" and <= {high:g}" if math.isfinite(high) else "")
            raise argparse.ArgumentTypeError(
                f"must be {'0 or ' if zero else ''}{bounds}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse
