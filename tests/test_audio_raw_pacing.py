"""RawSource (file objects and stdin) and pacing with an injected clock."""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from scribe_sync import AudioFormat, ConfigError
from scribe_sync.audio import AudioSource, Pacer, RawSource, paced

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_raw_source_cuts_exact_chunks() -> None:
    """Raw PCM is cut into chunk_ms chunks, with a shorter last chunk, bytes unchanged."""
    data = bytes(range(256)) * 30  # 7680 bytes = 240 ms at 16 kHz
    source = RawSource(io.BytesIO(data), chunk_ms=100)
    chunks = list(source)
    assert [len(c) for c in chunks] == [3200, 3200, 1280]
    assert b"".join(chunks) == data
    assert source.closed
    assert not source.live


def test_raw_source_drops_a_trailing_half_sample() -> None:
    """An odd byte at the end of 16-bit PCM is dropped; mu-law keeps every byte."""
    assert b"".join(RawSource(io.BytesIO(b"\x01\x02\x03"))) == b"\x01\x02"
    assert b"".join(RawSource(io.BytesIO(b"\x01\x02\x03"), format="ulaw_8000")) == b"\x01\x02\x03"


class Trickle(io.RawIOBase):
    """A raw stream that returns at most 7 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(7, len(buffer), len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_short_reads_are_gathered_into_full_chunks() -> None:
    """Short reads from a pipe-like stream still give full-size chunks."""
    data = os.urandom(1000)
    chunks = list(RawSource(Trickle(data), format="ulaw_8000", chunk_ms=20))  # type: ignore[arg-type]
    assert [len(c) for c in chunks] == [160] * 6 + [40]
    assert b"".join(chunks) == data


def test_raw_source_reads_stdin() -> None:
    """RawSource() with no file object reads standard input."""
    child = (
        "from scribe_sync.audio import RawSource\n"
        "s = RawSource(format='pcm_8000', chunk_ms=20)\n"
        "print(s.name, [len(c) for c in s])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", child],
        input=b"\x00" * 1000,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
        timeout=60,
    )
    assert proc.stdout.decode().strip() == "<stdin> [320, 320, 320, 40]"


def test_raw_source_does_not_close_the_callers_file() -> None:
    """close() leaves the caller's file object open."""
    fileobj = io.BytesIO(b"\x00" * 10)
    with RawSource(fileobj):
        pass
    assert not fileobj.closed


# -- pacing ---------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when sleep() is called or a test advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _chunks(n: int, size: int = 3200) -> Iterator[bytes]:
    for _ in range(n):
        yield b"\0" * size


def _release_times(source: Iterator[bytes], clock: FakeClock, work: float = 0.0) -> list[float]:
    times = []
    for _ in source:
        times.append(clock.now)
        clock.now += work  # the consumer's own time per chunk
    return times


def test_realtime_pacing_follows_the_audio_clock() -> None:
    """At speed 1, 100 ms chunks are released 100 ms apart, the first at once."""
    clock = FakeClock()
    out = paced(_chunks(5), 1.0, format="pcm_16000", clock=clock, sleep=clock.sleep)
    assert _release_times(out, clock) == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3, 1000.4])


def test_speed_factor_scales_the_schedule() -> None:
    """At speed 4, 100 ms chunks are released 25 ms apart."""
    clock = FakeClock()
    out = paced(_chunks(4), 4.0, format="pcm_16000", clock=clock, sleep=clock.sleep)
    assert _release_times(out, clock) == pytest.approx([1000.0, 1000.025, 1000.05, 1000.075])


def test_slow_consumer_does_not_accumulate_drift() -> None:
    """Time the consumer spends counts towards the schedule: no drift, no extra sleeping."""
    clock = FakeClock()
    out = paced(_chunks(6), 1.0, format="pcm_16000", clock=clock, sleep=clock.sleep)
    times = _release_times(out, clock, work=0.07)
    assert times == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3, 1000.4, 1000.5])
    assert clock.sleeps == pytest.approx([0.03] * 5)


def test_late_chunk_is_followed_by_catch_up() -> None:
    """After a 250 ms stall the next chunks go out at once until the schedule is met."""
    clock = FakeClock()
    pacer = Pacer(AudioFormat.PCM_16000, 1.0, clock=clock, sleep=clock.sleep)
    pacer.wait(3200)
    clock.now += 0.35  # a stall: chunks 1-3 are now due at 1000.1, 1000.2, 1000.3
    for _ in range(3):
        pacer.wait(3200)
    assert clock.sleeps == []
    pacer.wait(3200)  # due at 1000.4, now 1000.35
    assert clock.sleeps == pytest.approx([0.05])
    assert pacer.sent_seconds == pytest.approx(0.5)


def test_no_speed_means_as_fast_as_possible() -> None:
    """speed=None never sleeps."""
    clock = FakeClock()
    assert (
        len(list(paced(_chunks(10), None, format="pcm_16000", clock=clock, sleep=clock.sleep)))
        == 10
    )
    assert clock.sleeps == []


class LiveSource(AudioSource):
    """A live source yielding three chunks."""

    live = True

    def __init__(self) -> None:
        super().__init__(format="pcm_16000")
        self._left = 3

    def _read(self) -> bytes:
        if not self._left:
            return b""
        self._left -= 1
        return b"\0" * self.chunk_bytes


def test_live_sources_are_never_paced() -> None:
    """A live source passes straight through even at speed 1."""
    clock = FakeClock()
    assert len(list(paced(LiveSource(), 1.0, clock=clock, sleep=clock.sleep))) == 3
    assert clock.sleeps == []


def test_mulaw_durations_use_one_byte_per_sample() -> None:
    """Pacing mu-law counts 8000 bytes per second."""
    clock = FakeClock()
    out = paced(_chunks(3, 800), 1.0, format="ulaw_8000", clock=clock, sleep=clock.sleep)
    assert _release_times(out, clock) == pytest.approx([1000.0, 1000.1, 1000.2])


@pytest.mark.parametrize("speed", [0, -1.0, float("inf"), float("nan"), "fast"])
def test_invalid_speed_is_a_config_error(speed: object) -> None:
    """A non-positive or non-numeric speed raises ConfigError naming speed."""
    with pytest.raises(ConfigError) as caught:
        paced(_chunks(1), speed, format="pcm_16000")  # type: ignore[arg-type]
    assert caught.value.option == "speed"


def test_plain_iterable_needs_a_format() -> None:
    """paced() over chunks without a format raises ConfigError."""
    with pytest.raises(ConfigError, match="format"):
        paced(_chunks(1))
