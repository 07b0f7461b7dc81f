"""FileSource over real files written by soundfile: formats, rates, channel counts, errors."""

from __future__ import annotations

import io
import pathlib
from typing import Any

import numpy as np
import pytest
import soundfile

from scribe_sync import AudioFormat, ConfigError
from scribe_sync.audio import AudioSourceError, FileSource, RawSource, ulaw_decode


def _peak_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spectrum))])


def _sine(rate: int, seconds: float, channels: int, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * hz * t)
    return np.repeat(mono[:, None], channels, axis=1)


CASES = [
    # (container, subtype, rate, channels)
    ("WAV", "PCM_U8", 8000, 1),
    ("WAV", "PCM_16", 22050, 2),
    ("WAV", "PCM_24", 44100, 6),
    ("WAV", "PCM_32", 48000, 2),
    ("WAV", "FLOAT", 44100, 1),
    ("FLAC", "PCM_16", 48000, 2),
    ("FLAC", "PCM_24", 22050, 1),
    ("OGG", "VORBIS", 44100, 2),
    ("OGG", "VORBIS", 8000, 6),
]


@pytest.mark.parametrize(("container", "subtype", "rate", "channels"), CASES)
@pytest.mark.parametrize("target", [AudioFormat.PCM_16000, AudioFormat.PCM_44100])
def test_file_is_converted_to_the_target_format(
    tmp_path: pathlib.Path,
    container: str,
    subtype: str,
    rate: int,
    channels: int,
    target: AudioFormat,
) -> None:
    """Any container, sample type, rate and channel count becomes exact-size mono chunks at the
    target rate, with the sine's frequency kept and the length scaled by the rate ratio."""
    path = tmp_path / f"sine.{container.lower()}"
    seconds = 2.0
    soundfile.write(path, _sine(rate, seconds, channels), rate, format=container, subtype=subtype)
    with FileSource(path, format=target, chunk_ms=100) as source:
        chunks = list(source)
        assert source.file_sample_rate == rate
        assert source.file_channels == channels
    assert source.closed
    assert all(len(c) == source.chunk_bytes for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= source.chunk_bytes
    assert source.chunk_bytes == target.sample_rate // 10 * 2
    pcm = b"".join(chunks)
    assert abs(len(pcm) / 2 - seconds * target.sample_rate) <= 4
    assert abs(_peak_hz(pcm, target.sample_rate) - 440) < 1.0
    level = np.abs(np.frombuffer(pcm, dtype="<i2")).max()
    assert 15000 < level < 17500  # 0.5 full scale survives mixdown of identical channels


def test_16_bit_mono_at_the_target_rate_is_bit_exact(tmp_path: pathlib.Path) -> None:
    """A 16-bit mono file already at the target rate comes out byte for byte."""
    rng = np.random.default_rng(1)
    samples = rng.integers(-32768, 32768, 16000 * 3 + 123, dtype=np.int16)
    path = tmp_path / "noise.wav"
    soundfile.write(path, samples, 16000, subtype="PCM_16")
    with FileSource(path, chunk_ms=20) as source:
        chunks = list(source)
    assert [len(c) for c in chunks] == [640] * 150 + [246]
    assert b"".join(chunks) == samples.astype("<i2").tobytes()


def test_stereo_mixdown_is_the_mean(tmp_path: pathlib.Path) -> None:
    """Left and right channels are averaged."""
    frames = np.array([[1000, 3000], [-2000, 2000], [100, 101]] * 100, dtype=np.int16)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, frames, 16000, subtype="PCM_16")
    data = b"".join(FileSource(path))
    assert np.frombuffer(data, dtype="<i2")[:3].tolist() == [2000, 0, 100]


def test_mulaw_target(tmp_path: pathlib.Path) -> None:
    """A 48 kHz file becomes 8 kHz mu-law: one byte per sample, sine frequency kept."""
    path = tmp_path / "sine.wav"
    soundfile.write(path, _sine(48000, 1.0, 1, hz=1000), 48000)
    with FileSource(path, format="ulaw_8000") as source:
        chunks = list(source)
    assert [len(c) for c in chunks] == [800] * 10
    pcm = ulaw_decode(b"".join(chunks)).astype("<i2").tobytes()
    assert abs(_peak_hz(pcm, 8000) - 1000) < 2


def test_mp3_when_libsndfile_reads_it(tmp_path: pathlib.Path) -> None:
    """MP3 files decode and resample like any other (when libsndfile has MP3 support)."""
    if "MP3" not in soundfile.available_formats():
        pytest.skip("this libsndfile build has no MP3 support")
    path = tmp_path / "sine.mp3"
    soundfile.write(path, _sine(44100, 2.0, 2), 44100, format="MP3")
    pcm = b"".join(FileSource(path))
    assert abs(len(pcm) / 2 - 32000) < 1600  # MP3 adds encoder delay and padding
    assert abs(_peak_hz(pcm, 16000) - 440) < 1.0


class CountingFile(io.BytesIO):
    """A BytesIO that remembers how many bytes were read from it."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        self.bytes_read += n
        return n


def test_file_is_streamed_not_loaded_whole(tmp_path: pathlib.Path) -> None:
    """The first chunk of a 60 s file reads only a small part of it."""
    buffer = io.BytesIO()
    soundfile.write(buffer, _sine(16000, 60.0, 1), 16000, format="WAV", subtype="PCM_16")
    counting = CountingFile(buffer.getvalue())
    source = FileSource(counting)
    first = next(source)
    assert len(first) == 3200
    assert counting.bytes_read < len(buffer.getvalue()) // 20
    source.close()


def test_missing_file_names_the_file_and_reason(tmp_path: pathlib.Path) -> None:
    """A missing path raises AudioSourceError with the path and 'no such file'."""
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioSourceError) as caught:
        FileSource(path)
    assert caught.value.source == str(path)
    assert caught.value.reason == "no such file"
    assert str(path) in str(caught.value)


def test_directory_is_rejected(tmp_path: pathlib.Path) -> None:
    """A directory is reported as such."""
    with pytest.raises(AudioSourceError, match="is a directory"):
        FileSource(tmp_path)


@pytest.mark.parametrize("content", [b"", b"this is not audio at all\n" * 10])
def test_unsupported_file_is_rejected(tmp_path: pathlib.Path, content: bytes) -> None:
    """Bytes that are not a known audio format say so and name the decoder tried."""
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(AudioSourceError,
                       match=r"not an audio file we can decode \(tried libsndfile\)") as caught:
        FileSource(path)
    assert caught.value.source == str(path)


@pytest.mark.parametrize("chunk_ms", [0, 19, 1001, 2.5, True])
def test_chunk_ms_out_of_range_is_a_config_error(tmp_path: pathlib.Path, chunk_ms: Any) -> None:
    """chunk_ms outside 20..1000 (or not an int) raises ConfigError naming chunk_ms."""
    with pytest.raises(ConfigError) as caught:
        RawSource(io.BytesIO(), chunk_ms=chunk_ms)
    assert caught.value.option == "chunk_ms"


def test_unknown_format_is_a_config_error() -> None:
    """An unknown audio format raises ConfigError naming audio_format."""
    with pytest.raises(ConfigError) as caught:
        RawSource(io.BytesIO(), format="pcm_11025")
    assert caught.value.option == "audio_format"


@pytest.mark.parametrize(
    ("fmt", "chunk_ms", "expected"),
    [
        ("pcm_8000", 20, 320),
        ("pcm_16000", 100, 3200),
        ("pcm_22050", 20, 882),
        ("pcm_22050", 100, 4410),
        ("pcm_24000", 1000, 48000),
        ("pcm_44100", 100, 8820),
        ("pcm_48000", 50, 4800),
        ("ulaw_8000", 100, 800),
    ],
)
def test_chunk_bytes_per_format(fmt: str, chunk_ms: int, expected: int) -> None:
    """Chunk sizes are exactly chunk_ms of audio for every format."""
    assert RawSource(io.BytesIO(), format=fmt, chunk_ms=chunk_ms).chunk_bytes == expected


def test_close_is_idempotent_and_ends_iteration(tmp_path: pathlib.Path) -> None:
    """close() twice is fine, and a closed source yields nothing more."""
    path = tmp_path / "sine.wav"
    soundfile.write(path, _sine(16000, 1.0, 1), 16000)
    source = FileSource(path)
    next(source)
    source.close()
    source.close()
    assert source.closed
    assert list(source) == []
