"""Hypothesis strategies for audio: speech-like sound and the ways to chunk it.

Part of :mod:`mock_server.strategies`, which re-exports every public name; import from there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

from scribe_sync.messages import AudioFormat

from .testing import pcm16_to_ulaw, silence
from .testing import speech as _voiced

__all__ = ["Chunking", "Speech", "chunkings", "speech"]




@attrs.frozen
class Speech:
    """Speech-like audio: ``phrases`` (start, end) seconds of sound, pauses in between.

    The sound is band-limited noise the mock's VAD hears as speech, generated from ``seed``, so
    the same example always has the same bytes.
    """

    audio: bytes = attrs.field(repr=lambda a: f"<{len(a)} bytes>")
    format: AudioFormat
    phrases: tuple[tuple[float, float], ...]
    seed: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.format.bytes_per_second

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints attrs classes field by field; the audio bytes would flood a report.
        printer.text(repr(self))

    def phrase_audio(self) -> list[bytes]:
        """The audio cut after each phrase's pause: one piece per phrase, together ``audio``."""
        bps = self.format.bytes_per_second
        size = self.format.bytes_per_sample
        cuts = [round(start * bps) // size * size for start, _ in self.phrases[1:]]
        edges = [0, *cuts, len(self.audio)]
        return [self.audio[a:b] for a, b in itertools.pairwise(edges)]


def _format(value: AudioFormat | str) -> AudioFormat:
    return value if isinstance(value, AudioFormat) else AudioFormat(value)


def _render(fmt: AudioFormat, pieces: Sequence[tuple[float, bool]], seed: int) -> bytes:
    rate = fmt.sample_rate
    pcm = b"".join(
        _voiced(seconds, rate=rate, seed=seed + i) if voiced else silence(seconds, rate=rate)
        for i, (seconds, voiced) in enumerate(pieces)
    )
    return pcm16_to_ulaw(pcm) if fmt.is_ulaw else pcm


@st.composite
def _speech(draw: st.DrawFn, fmt: AudioFormat, phrases: st.SearchStrategy[int],
            phrase_ds: tuple[int, int], pause_ds: tuple[int, int], lead_ds: tuple[int, int]
            ) -> Speech:
    count = draw(phrases)
    seed = draw(st.integers(0, 2**16))
    lead = draw(st.integers(*lead_ds)) / 10
    pieces: list[tuple[float, bool]] = [(lead, False)] if lead else []
    spans: list[tuple[float, float]] = []
    at = lead
    for _ in range(count):
        spoken = draw(st.integers(*phrase_ds)) / 10
        pause = draw(st.integers(*pause_ds)) / 10
        spans.append((round(at, 3), round(at + spoken, 3)))
        pieces += [(spoken, True), (pause, False)]
        at += spoken + pause
    return Speech(_render(fmt, pieces, seed), fmt, tuple(spans), seed)


def speech(*, phrases: int | st.SearchStrategy[int] | None = None,
           format: AudioFormat | str = AudioFormat.PCM_16000,
           phrase_secs: tuple[float, float] = (0.4, 1.2),
           pause_secs: tuple[float, float] = (0.8, 1.2),
           lead_secs: tuple[float, float] = (0.0, 0.3)) -> st.SearchStrategy[Speech]:
    """Deterministic speech-like audio in ``format``: ``phrases`` phrases (default: 1 to 3)
    of ``phrase_secs`` seconds, each followed by a pause of ``pause_secs``, after an optional
    leading silence of ``lead_secs``. A VAD silence threshold below ``pause_secs[0]`` commits
    once per phrase. Lengths are whole tenths of a second."""
    fmt = _format(format)
    count = (st.integers(1, 3) if phrases is None
             else st.just(phrases) if isinstance(phrases, int) else phrases)

    def tenths(bounds: tuple[float, float]) -> tuple[int, int]:
        low, high = round(bounds[0] * 10), round(bounds[1] * 10)
        if not 0 <= low <= high:
            raise ValueError(f"bad bounds {bounds!r}")
        return low, high

    if tenths(phrase_secs)[0] < 1:
        raise ValueError("phrases must last at least 0.1 s")
    return _speech(fmt, count, tenths(phrase_secs), tenths(pause_secs), tenths(lead_secs))


@attrs.frozen
class Chunking:
    """Audio cut into chunks: ``sizes_ms`` repeated in a cycle (the last chunk takes the rest).
    Iterating gives the chunks."""

    sizes_ms: tuple[int, ...]
    chunks: tuple[bytes, ...] = attrs.field(repr=False)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def chunkings(audio: bytes, *, format: AudioFormat | str = AudioFormat.PCM_16000,
              min_ms: int = 20, max_ms: int = 1000, max_sizes: int = 4
              ) -> st.SearchStrategy[Chunking]:
    """Ways to cut ``audio`` into chunks of ``min_ms`` to ``max_ms`` (whole samples): a cycle of
    up to ``max_sizes`` chunk lengths, repeated to the end. Shrinks to one length."""
    fmt = _format(format)
    if not 0 < min_ms <= max_ms:
        raise ValueError(f"need 0 < min_ms <= max_ms: {min_ms}, {max_ms}")
    size = fmt.bytes_per_sample

    def cut(lengths: list[int]) -> Chunking:
        chunks: list[bytes] = []
        at, i = 0, 0
        while at < len(audio):
            step = max(size, fmt.bytes_per_second * lengths[i % len(lengths)] // 1000
                       // size * size)
            chunks.append(audio[at : at + step])
            at += step
            i += 1
        return Chunking(tuple(lengths), tuple(chunks))

    return st.lists(st.integers(min_ms, max_ms), min_size=1, max_size=max_sizes).map(cut)
