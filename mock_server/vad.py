"""A deterministic energy-based voice activity detector working on the received signal.

The live service uses a neural VAD; the mock approximates it with frame energy so that tests
with synthetic audio (a tone or noise bursts as speech, zeros as silence) behave predictably:

- the signal (16-bit PCM, or mu-law decoded to 16-bit) is cut into 20 ms frames, carried across
  chunk boundaries, so the result never depends on how the client chunked its audio;
- each frame gets a speech probability from its RMS level: 0 at -60 dBFS or below, 1 at -20 dBFS
  or above, linear in between; a frame is voiced when the probability is at least
  ``vad_threshold`` (so a lower threshold is more sensitive, as documented);
- a voiced run becomes speech only once it lasts ``min_speech_duration_ms``, and speech ends
  only after ``min_silence_duration_ms`` of unvoiced frames (shorter gaps stay inside the speech).

The detector reports every frame, in order, as speech or not, with its place on the session
clock; onsets are reported retroactively, so no speech frame is lost to the onset delay.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Final

import attrs
import numpy as np

__all__ = ["FRAME_SECS", "Frame", "VoiceActivityDetector", "ulaw_to_pcm16"]

FRAME_SECS: Final = 0.02
_FLOOR_DB: Final = -60.0
_CEILING_DB: Final = -20.0


def _ulaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32)
    inverted = ~codes & 0xFF
    sign = inverted & 0x80
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_ULAW: Final = _ulaw_table()


def ulaw_to_pcm16(data: bytes) -> np.ndarray:
    """Decode G.711 mu-law bytes to 16-bit samples."""
    return _ULAW[np.frombuffer(data, dtype=np.uint8)]


def probability_for_level(rms: float) -> float:
    """Speech probability of a frame with the given RMS (full scale = 32768)."""
    if rms <= 0.0:
        return 0.0
    db = 20.0 * math.log10(rms / 32768.0)
    return min(1.0, max(0.0, (db - _FLOOR_DB) / (_CEILING_DB - _FLOOR_DB)))


@attrs.frozen
class Frame:
    """One 20 ms frame on the session clock, as the detector finally classified it."""

    start: float
    end: float
    speech: bool
    data: bytes


@attrs.define
class VoiceActivityDetector:
    """Frame-level VAD with onset and hangover smoothing. Feed bytes, get classified frames."""

    sample_rate: int
    bytes_per_sample: int
    threshold: float = 0.4
    min_speech_ms: int = 100
    min_silence_ms: int = 100

    _frame_samples: int = attrs.field(init=False)
    _frame_bytes: int = attrs.field(init=False)
    _rms_threshold: float = attrs.field(init=False)
    _energy_threshold: float = attrs.field(init=False)  # a frame's sum of squares at it
    _carry: bytes = attrs.field(init=False, default=b"")
    _frames_done: int = attrs.field(init=False, default=0)
    _in_speech: bool = attrs.field(init=False, default=False)
    _pending: list[Frame] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        self._frame_samples = max(1, round(self.sample_rate * FRAME_SECS))
        self._frame_bytes = self._frame_samples * self.bytes_per_sample
        # probability >= threshold  <=>  rms >= this level; comparing squares avoids a log.
        db = _FLOOR_DB + self.threshold * (_CEILING_DB - _FLOOR_DB)
        self._rms_threshold = 32768.0 * 10 ** (db / 20.0)
        self._energy_threshold = self._rms_threshold**2 * self._frame_samples

    @property
    def in_speech(self) -> bool:
        """True while the detector is inside a confirmed speech run (including hangover)."""
        return self._in_speech

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Consume audio bytes; yield the frames whose classification is now final."""
        if self._carry:
            data = self._carry + data
        whole = len(data) - len(data) % self._frame_bytes
        self._carry = data[whole:]
        if not whole:
            return
        block = data[:whole]
        if self.bytes_per_sample == 1:
            samples = ulaw_to_pcm16(block).astype(np.float32)
        else:
            samples = np.frombuffer(block, dtype="<i2").astype(np.float32)
        frames = samples.reshape(-1, self._frame_samples)
        # Sum of squares per frame in one call (np.mean's wrapper costs more than the maths:
        # this runs for every chunk of every session), compared with the threshold's.
        energy = np.einsum("ij,ij->i", frames, frames)
        voiced = energy >= self._energy_threshold
        step = self._frame_bytes
        frame_secs = self._frame_samples / self.sample_rate
        min_speech = self.min_speech_ms / 1000.0
        min_silence = self.min_silence_ms / 1000.0
        base = self._frames_done
        flags: list[bool] = voiced.tolist()
        self._frames_done += len(flags)
        pending = self._pending
        if not pending and (all(flags) if self._in_speech else not any(flags)):
            # The common case, a chunk wholly inside speech or silence: no state changes.
            speech = self._in_speech
            for i in range(len(flags)):
                start = (base + i) * frame_secs
                yield Frame(start, start + frame_secs, speech, block[i * step : (i + 1) * step])
            return
        for i, is_voiced in enumerate(flags):
            start = (base + i) * frame_secs
            frame_data = block[i * step : (i + 1) * step]
            if self._in_speech:
                if is_voiced:
                    # Gap shorter than min_silence: the gap frames belong to the speech.
                    for held in pending:
                        yield Frame(held.start, held.end, True, held.data)
                    pending.clear()
                    yield Frame(start, start + frame_secs, True, frame_data)
                else:
                    pending.append(Frame(start, start + frame_secs, False, frame_data))
                    if len(pending) * frame_secs >= min_silence - 1e-9:
                        self._in_speech = False
                        yield from pending
                        pending.clear()
            elif is_voiced:
                pending.append(Frame(start, start + frame_secs, True, frame_data))
                if len(pending) * frame_secs >= min_speech - 1e-9:
                    self._in_speech = True
                    yield from pending
                    pending.clear()
            else:
                # A voiced run shorter than min_speech is noise, not speech.
                for held in pending:
                    yield Frame(held.start, held.end, False, held.data)
                pending.clear()
                yield Frame(start, start + frame_secs, False, frame_data)

    def flush(self) -> Iterator[Frame]:
        """Settle held frames (at a commit): a held onset counts as speech, a held gap not."""
        yield from self._pending
        self._pending.clear()
