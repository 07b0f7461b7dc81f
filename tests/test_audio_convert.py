"""Sample conversion: G.711 mu-law, sample types, mixdown, streaming resampling."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pytest
import soxr
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scribe_sync import AudioFormat
from scribe_sync.audio import (
    Resampler,
    decode_audio,
    encode_audio,
    to_int16,
    to_mono,
    ulaw_decode,
    ulaw_encode,
)

int16_arrays = hnp.arrays(np.int16, st.integers(0, 2000))


def _peak_hz(x: np.ndarray, rate: int) -> float:
    x = np.asarray(x, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spectrum))])


def _ulaw_bound(x: np.ndarray) -> np.ndarray:
    # Half a quantisation step of the sample's segment, in the 16-bit domain: steps are
    # 2**(segment+3), at most 1/16 of the biased magnitude; clipping adds up to 32767 - 32635.
    magnitude = np.minimum(np.abs(x.astype(np.int64)), 32635)
    return (magnitude + 132) // 16 + 4 + np.maximum(np.abs(x.astype(np.int64)) - 32635, 0)


@given(int16_arrays)
def test_ulaw_round_trip_within_quantisation_error(samples: np.ndarray) -> None:
    """decode(encode(x)) differs from x by at most half a mu-law step (plus clipping)."""
    decoded = ulaw_decode(ulaw_encode(samples))
    assert decoded.dtype == np.int16
    assert decoded.shape == samples.shape
    error = np.abs(decoded.astype(np.int64) - samples.astype(np.int64))
    assert np.all(error <= _ulaw_bound(samples))


@given(st.binary(max_size=512))
def test_ulaw_encode_of_decode_is_identity(codes: bytes) -> None:
    """Every mu-law code survives decode then encode (0x7F, negative zero, becomes 0xFF)."""
    expected = codes.replace(b"\x7f", b"\xff")
    assert ulaw_encode(ulaw_decode(codes)) == expected


@given(int16_arrays)
def test_ulaw_encoding_is_monotonic(samples: np.ndarray) -> None:
    """Larger samples never decode smaller: the codec preserves order."""
    ordered = np.sort(samples)
    decoded = ulaw_decode(ulaw_encode(ordered)).astype(np.int64)
    assert np.all(np.diff(decoded) >= 0)


def test_ulaw_matches_audioop_table() -> None:
    """The encoder and decoder agree with audioop's G.711 tables over every 16-bit value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="audioop was removed in Python 3.13")
    everything = np.arange(-32768, 32768, dtype=np.int16)
    assert ulaw_encode(everything) == audioop.lin2ulaw(everything.tobytes(), 2)
    codes = bytes(range(256))
    assert ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)


def _ffmpeg(fmt_in: str, fmt_out: str, data: bytes) -> bytes:
    command = ["ffmpeg", "-v", "error", "-f", fmt_in, "-ar", "8000", "-ac", "1", "-i", "pipe:0"]
    return subprocess.run(
        [*command, "-f", fmt_out, "pipe:1"], input=data, capture_output=True, check=True
    ).stdout


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_ulaw_agrees_with_ffmpeg() -> None:
    """ffmpeg decodes every code like ulaw_decode, and its encoder differs at most by one step."""
    codes = bytes(range(256))
    assert _ffmpeg("mulaw", "s16le", codes) == ulaw_decode(codes).tobytes()
    everything = np.arange(-32768, 32768, dtype="<i2")
    theirs = np.frombuffer(_ffmpeg("s16le", "mulaw", everything.tobytes()), dtype=np.uint8)
    ours = np.frombuffer(ulaw_encode(everything), dtype=np.uint8)
    differ = theirs != ours
    # ffmpeg rounds to the nearest code at segment boundaries; the Sun encoder truncates.
    assert differ.sum() <= 512
    assert np.all(np.abs(theirs[differ].astype(int) - ours[differ].astype(int)) == 1)
    error = np.abs(ulaw_decode(theirs.tobytes()).astype(np.int64) - everything)
    assert np.all(error <= _ulaw_bound(everything))


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        (np.array([0.0, 0.5, -1.0, 1.0, 2.0], dtype=np.float32), [0, 16384, -32768, 32767, 32767]),
        (np.array([0, 128, 255, 1], dtype=np.uint8), [-32768, 0, 32512, -32512]),
        (np.array([0, 1 << 16, -(1 << 31), (1 << 31) - 1], dtype=np.int32), [0, 1, -32768, 32767]),
        (np.array([-128, 127], dtype=np.int8), [-32768, 32512]),
        (np.array([7, -7], dtype=np.int16), [7, -7]),
    ],
)
def test_to_int16_scales_every_sample_type(samples: np.ndarray, expected: list[int]) -> None:
    """Float, unsigned 8-bit, 32-bit and 8-bit signed samples map onto 16-bit full scale."""
    out = to_int16(samples)
    assert out.dtype == np.int16
    assert out.tolist() == expected


@given(int16_arrays)
def test_int16_survives_float32(samples: np.ndarray) -> None:
    """16-bit -> float32 (soundfile's scale) -> 16-bit is exact."""
    assert np.array_equal(to_int16(samples.astype(np.float32) / 32768), samples)


def test_to_mono_averages_channels() -> None:
    """Mixdown is the per-frame mean of the channels; mono input is unchanged."""
    frames = np.array([[0.5, -0.5, 0.25], [1.0, 0.0, 0.5]], dtype=np.float32)
    assert to_mono(frames).tolist() == pytest.approx([0.0833333, 0.5])
    assert to_mono(np.array([0.1, 0.2], dtype=np.float32)).tolist() == pytest.approx([0.1, 0.2])
    assert to_mono(np.array([[16384, 0]], dtype=np.int16)).tolist() == [0.25]


def test_encode_decode_formats() -> None:
    """encode_audio writes little-endian 16-bit or mu-law; decode_audio reads them back."""
    samples = np.array([0, 1000, -1000, 32767], dtype=np.int16)
    pcm = encode_audio(samples, AudioFormat.PCM_16000)
    assert pcm == b"\x00\x00\xe8\x03\x18\xfc\xff\x7f"
    assert decode_audio(pcm, AudioFormat.PCM_16000).tolist() == samples.tolist()
    ulaw = encode_audio(samples, AudioFormat.ULAW_8000)
    assert len(ulaw) == 4
    assert decode_audio(ulaw, AudioFormat.ULAW_8000).tolist() == ulaw_decode(ulaw).tolist()


@pytest.mark.parametrize(
    ("in_rate", "out_rate"), [(44100, 16000), (8000, 48000), (22050, 24000), (48000, 8000)]
)
def test_streaming_resampler_keeps_frequency_and_scales_length(in_rate: int, out_rate: int) -> None:
    """Resampling in 10 ms blocks keeps a 440 Hz sine at 440 Hz and scales the length."""
    seconds = 2.0
    t = np.arange(int(in_rate * seconds)) / in_rate
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    resampler = Resampler(in_rate, out_rate)
    block = in_rate // 100
    parts = [resampler.process(x[i : i + block]) for i in range(0, x.size, block)]
    parts.append(resampler.flush())
    y = np.concatenate(parts)
    assert abs(y.size - x.size * out_rate / in_rate) <= 2
    assert abs(_peak_hz(y, out_rate) - 440) < 1.0


def test_streaming_resampler_keeps_state_across_blocks() -> None:
    """Block-by-block output equals one-shot resampling: no restart (click) at block edges."""
    rate_in, rate_out = 44100, 16000
    t = np.arange(rate_in) / rate_in
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    whole = soxr.resample(x, rate_in, rate_out, quality="HQ")
    resampler = Resampler(rate_in, rate_out)
    blocks = [resampler.process(x[i : i + 441]) for i in range(0, x.size, 441)]
    streamed = np.concatenate([*blocks, resampler.flush()])
    assert streamed.size == whole.size
    assert np.max(np.abs(streamed - whole)) < 1e-4
    # Resetting the filter per block would be far off: resample each block independently.
    independent = np.concatenate(
        [soxr.resample(x[i : i + 441], rate_in, rate_out) for i in range(0, x.size, 441)]
    )
    n = min(independent.size, whole.size)
    assert np.max(np.abs(independent[:n] - whole[:n])) > 1e-2


def test_equal_rates_pass_through() -> None:
    """A resampler between equal rates returns the samples unchanged."""
    resampler = Resampler(16000, 16000)
    x = np.array([0.1, -0.2], dtype=np.float32)
    assert resampler.passthrough
    assert resampler.process(x).tolist() == x.tolist()
    assert resampler.flush().size == 0
