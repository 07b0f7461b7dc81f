"""Sample conversion: any sample type to 16-bit, mono mixdown, G.711 mu-law, streaming resampling.

All vectorised with numpy. Float audio uses the soundfile/libsndfile convention: full scale is
[-1.0, 1.0) and 16-bit sample ``s`` is ``s / 32768``, so 16-bit audio survives a trip through
float32 bit-exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from scribe_sync.errors import ConfigError
from scribe_sync.messages import AudioFormat

from ._base import check_format, missing_extra

__all__ = [
    "Resampler",
    "decode_audio",
    "encode_audio",
    "to_int16",
    "to_mono",
    "ulaw_decode",
    "ulaw_encode",
]

Int16Array = npt.NDArray[np.int16]
Float32Array = npt.NDArray[np.float32]

# G.711 mu-law, after the Sun reference implementation (g711.c) that audioop also follows
# (ffmpeg's table encoder picks the neighbouring code at 512 segment-boundary inputs; the
# decoders agree exactly). The encoder works on 14-bit samples (an arithmetic shift, so
# negative values round towards minus infinity), biased by 0x21 so every segment starts at a
# power of two.
_ULAW_BIAS = 0x84
_ULAW_BIAS_14 = 0x21
_ULAW_CLIP_14 = 8159


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    """Encode 16-bit linear samples (any integer or float array, see :func:`to_int16`) to mu-law.

    ITU-T G.711, bit-identical to ``audioop.lin2ulaw``.
    """
    pcm = to_int16(samples).astype(np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP_14) + _ULAW_BIAS_14
    # The segment is the position of the highest set bit above bit 5 (the bias guarantees one);
    # the clip keeps it at most 7 except for the very top value, handled by np.minimum.
    segment = np.floor(np.log2(magnitude)).astype(np.int32) - 5
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    top = segment >= 8
    segment = np.minimum(segment, 7)
    mantissa = np.where(top, 0x0F, mantissa)
    code: npt.NDArray[np.uint8] = (((segment << 4) | mantissa) ^ mask).astype(np.uint8)
    return code.tobytes()


def ulaw_decode(data: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> Int16Array:
    """Decode G.711 mu-law bytes to 16-bit linear samples."""
    code = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    result: Int16Array = np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)
    return result


def to_int16(samples: npt.ArrayLike) -> Int16Array:
    """Convert samples of any numeric type to 16-bit signed integers.

    Floats are full scale at +-1.0 (rounded, clipped; NaN is silence, infinities full scale);
    wider integers keep their top 16 bits;
    unsigned 8-bit (WAV's 8-bit convention) is re-centred on zero.
    """
    a = np.asarray(samples)
    if a.dtype == np.int16:
        return a
    if a.dtype.kind == "f":
        # Clip before scaling so that 1e308 cannot overflow, and make NaN silence: casting NaN
        # to an integer is undefined (0 on one CPU, -32768 on another) and warns.
        finite = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
        scaled = np.rint(np.clip(finite, -1.0, 1.0) * 32768.0)
        clipped: Int16Array = np.minimum(scaled, 32767).astype(np.int16)
        return clipped
    if a.dtype.kind == "u" and a.dtype.itemsize == 1:
        recentred: Int16Array = ((a.astype(np.int16) - 128) << 8).astype(np.int16)
        return recentred
    if a.dtype.kind in "iu":
        bits = a.dtype.itemsize * 8
        # Shift in the array's own type first: uint64 does not fit in int64 (OverflowError).
        top = a >> (bits - 16) if bits > 16 else a.astype(np.int64) << (16 - bits)
        wide = top.astype(np.int64)
        if a.dtype.kind == "u":
            wide -= 1 << 15
        narrowed: Int16Array = wide.astype(np.int16)
        return narrowed
    raise TypeError(f"cannot convert samples of type {a.dtype} to 16-bit audio")


def to_mono(frames: npt.NDArray[Any]) -> Float32Array:
    """Mix ``(frames, channels)`` audio down to one channel (the mean), as float32.

    1-D input is already mono. Integer input is first scaled to float full scale; NaN becomes
    0.0 and infinities +-1.0.
    """
    a = np.asarray(frames)
    if a.dtype.kind != "f":
        a = to_int16(a).astype(np.float32) / 32768.0
    elif not np.isfinite(a).all():
        # A float file may hold NaN or infinities; a resampler would smear one over its whole
        # filter length, so they become silence and full scale here, before any filtering.
        a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
    if a.ndim == 1:
        return a.astype(np.float32, copy=False)
    if a.ndim != 2:
        raise ValueError(f"expected (frames, channels) audio, got shape {a.shape}")
    if a.shape[1] == 0:
        raise ValueError("expected (frames, channels) audio, got no channels")
    if a.shape[1] == 1:
        return a[:, 0].astype(np.float32)
    mixed: Float32Array = a.mean(axis=1, dtype=np.float64).astype(np.float32)
    return mixed


def encode_audio(samples: npt.ArrayLike, fmt: AudioFormat | str) -> bytes:
    """Encode mono samples (float or integer) as ``fmt``: 16-bit little-endian PCM or mu-law."""
    fmt = check_format(fmt)
    pcm = to_int16(samples)
    if fmt.is_ulaw:
        return ulaw_encode(pcm)
    return pcm.astype("<i2", copy=False).tobytes()


def decode_audio(data: bytes, fmt: AudioFormat | str) -> Int16Array:
    """Decode raw ``fmt`` audio (16-bit little-endian PCM or mu-law) to 16-bit samples. A
    trailing odd byte of PCM (half a sample) is ignored."""
    fmt = check_format(fmt)
    if fmt.is_ulaw:
        return ulaw_decode(data)
    usable = len(data) - len(data) % 2
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)


_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")  # soxr's names, quick to very high
_MAX_RATE = 2**31 - 1  # the largest rate a WAV or FLAC header can state that libsndfile opens


def _check_rate(rate: int, option: str) -> int:
    # soxr spins for ever on a NaN rate and takes fractions: both are refused here.
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not (
            1 <= rate <= _MAX_RATE):
        raise ConfigError(f"{option} must be a whole number of Hz from 1 to {_MAX_RATE}, got "
                          f"{rate!r}", option=option)
    return int(rate)


class Resampler:
    """A streaming mono resampler over ``soxr.ResampleStream``.

    One instance per stream: soxr keeps filter state between chunks, so chunk boundaries leave
    no clicks or gaps, unlike resampling every chunk independently. When the rates are equal
    the samples pass through untouched.

    Raises:
        ConfigError: a rate is not a whole number of Hz from 1 to 2**31 - 1, or ``quality``
            is not one of soxr's (QQ, LQ, MQ, HQ, VHQ).
    """

    def __init__(self, in_rate: int, out_rate: int, *, quality: str = "HQ") -> None:
        self.in_rate = _check_rate(in_rate, "in_rate")
        self.out_rate = _check_rate(out_rate, "out_rate")
        if quality not in _QUALITIES:
            raise ConfigError(f"quality must be one of {', '.join(_QUALITIES)}, got {quality!r}",
                              option="quality")
        self._stream: Any = None
        if in_rate != out_rate:
            try:
                import soxr
            except ImportError as exc:
                error = missing_extra(exc, "resampling")
                if error is None:
                    raise
                raise error from exc

            self._stream = soxr.ResampleStream(
                in_rate, out_rate, 1, dtype="float32", quality=quality
            )

    @property
    def passthrough(self) -> bool:
        """True when the rates are equal and nothing is resampled."""
        return self._stream is None

    def process(self, samples: npt.ArrayLike, *, last: bool = False) -> Float32Array:
        """Resample the next mono block; pass ``last=True`` (with the final block or an empty
        one) to flush the samples soxr holds back for its filter."""
        x = np.ascontiguousarray(to_mono(np.asarray(samples)), dtype=np.float32)
        if self._stream is None:
            return x
        out: Float32Array = self._stream.resample_chunk(x, last=last)
        return out

    def flush(self) -> Float32Array:
        """The samples still held by the resampler at the end of the stream."""
        return self.process(np.zeros(0, dtype=np.float32), last=True)
