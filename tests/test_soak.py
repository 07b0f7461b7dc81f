"""A small, fast soak: concurrent reconnecting sessions under the mock's seeded random faults.

Every run must show: no call blocking past its bound, no thread or socket left behind, every
accepted audio byte in the mock's journal in order (repeats only where a replay starts), and a
final transcript equal to the fault-free transcript of the same audio. ``benchmarks/soak.py``
runs the same check longer, with more sessions and seeds.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from benchmarks.soak import SoakConfig, run_soak


def open_sockets() -> int:
    """Sockets this process holds (Linux; 0 elsewhere, which only weakens the check)."""
    count = 0
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        with contextlib.suppress(OSError):  # the listing's own descriptor, already closed
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


@pytest.mark.parametrize("seed", [1, 2])
def test_soak_under_random_faults_loses_nothing(seed: int) -> None:
    """Sessions survive drops, closes, garbage, stalls and retryable errors with exact text."""
    before = open_sockets()
    report = run_soak(SoakConfig(sessions=4, concurrency=4, segments=5, seed=seed, rate=0.04))
    assert report.failures == [], report.failures
    assert report.sessions == 4
    assert report.faults_injected > 0
    assert report.bytes_lost == 0
    assert report.transcripts_equal == 4
    assert open_sockets() <= before
