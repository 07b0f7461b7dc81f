"""Hostile input for the audio package: damaged samples and headers, odd ratios, boundaries."""

from __future__ import annotations

import io
import logging
import os
import pathlib
import pty
import struct
import subprocess
import sys
import threading
import tracemalloc
import warnings
from typing import Any

import numpy as np
import pytest
import soundfile
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scribe_sync import AudioFormat, ConfigError
from scribe_sync.audio import (
    AudioSourceError,
    FileSource,
    MicrophoneSource,
    Pacer,
    RawSource,
    Resampler,
    decode_audio,
    encode_audio,
    open_source,
    paced,
    to_int16,
    to_mono,
)
from scribe_sync.audio._pacing import MAX_CATCH_UP

REPO = pathlib.Path(__file__).resolve().parent.parent


def _wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """A 16-bit PCM WAV header that claims whatever it is told to."""
    block = 2 * channels
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate, (rate * block) & 0xFFFFFFFF, block, 16)
    riff = struct.pack("<I", (36 + data_bytes) & 0xFFFFFFFF)
    return b"RIFF" + riff + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", data_bytes)


def test_nan_and_infinite_floats_become_silence_and_full_scale() -> None:
    """NaN is silence and +-inf is full scale, without a numpy warning, even after 1e308."""
    samples = np.array([np.nan, np.inf, -np.inf, 1e308, -1e308, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = to_int16(samples)
    assert out.tolist() == [0, 32767, -32768, 32767, -32768, 16384]


def test_nan_in_a_float_file_does_not_smear_through_the_resampler(tmp_path: pathlib.Path) -> None:
    """One NaN sample in a 48 kHz float WAV stays one silent instant after resampling to 16 kHz."""
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.float32)
    damaged = tone.copy()
    damaged[24000] = np.nan
    soundfile.write(tmp_path / "clean.wav", tone, 48000, subtype="FLOAT")
    soundfile.write(tmp_path / "nan.wav", damaged, 48000, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with FileSource(tmp_path / "clean.wav") as clean, FileSource(tmp_path / "nan.wav") as bad:
            a = np.frombuffer(b"".join(clean), dtype="<i2").astype(np.int32)
            b = np.frombuffer(b"".join(bad), dtype="<i2").astype(np.int32)
    assert a.size == b.size == 16000
    # Zeroing one input sample changes the output by at most that sample's filtered weight.
    assert np.abs(a - b).max() <= 16384


@pytest.mark.parametrize(
    ("in_rate", "out_rate"), [(44100, 16000), (8000, 16000), (48000, 8000), (22050, 16000)]
)
@given(cuts=st.lists(st.integers(1, 6000), max_size=30))
def test_resampling_in_blocks_equals_resampling_whole(
    in_rate: int, out_rate: int, cuts: list[int]
) -> None:
    """Streaming a signal through the resampler in any blocks gives the whole-signal result:
    no sample dropped or repeated at a block boundary."""
    n = in_rate + 17
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / in_rate)).astype(np.float32)
    whole = Resampler(in_rate, out_rate).process(x, last=True)
    streaming = Resampler(in_rate, out_rate)
    parts, start = [], 0
    for size in cuts:
        parts.append(streaming.process(x[start : start + size]))
        start += size
    parts.append(streaming.process(x[start:], last=True))
    blocks = np.concatenate(parts)
    assert blocks.size == whole.size == round(n * out_rate / in_rate)
    assert np.array_equal(blocks, whole)


@given(
    samples=hnp.arrays(np.int16, st.integers(0, 3000)),
    fmt=st.sampled_from(list(AudioFormat)),
    cut=st.integers(0, 3000),
)
def test_encoding_in_two_parts_equals_encoding_whole(
    samples: np.ndarray, fmt: AudioFormat, cut: int
) -> None:
    """The codecs are sample-wise: encoding (and decoding) two parts concatenates to the whole."""
    head, tail = samples[:cut], samples[cut:]
    whole = encode_audio(samples, fmt)
    assert encode_audio(head, fmt) + encode_audio(tail, fmt) == whole
    assert len(whole) == samples.size * fmt.bytes_per_sample
    decoded = decode_audio(whole, fmt)
    if not fmt.is_ulaw:
        assert np.array_equal(decoded, samples)
    assert encode_audio(decoded, fmt) == whole  # decoded audio re-encodes to the same bytes


@pytest.mark.parametrize(
    ("rate", "target"),
    [(44100, "pcm_16000"), (8000, "pcm_16000"), (48000, "ulaw_8000"), (16000, "pcm_44100")],
)
@pytest.mark.parametrize("chunk_ms", [20, 33, 1000])
def test_file_sample_count_is_exact_at_odd_ratios(
    tmp_path: pathlib.Path, rate: int, target: str, chunk_ms: int
) -> None:
    """Any chunk size yields the same samples, as many as the ratio says, at the same pitch."""
    n = 2 * rate + 333
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.int16)
    soundfile.write(tmp_path / "tone.wav", tone, rate)
    with FileSource(tmp_path / "tone.wav", format=target, chunk_ms=chunk_ms) as source:
        chunks = list(source)
    fmt = AudioFormat(target)
    out = decode_audio(b"".join(chunks), fmt)
    assert abs(out.size - n * fmt.sample_rate / rate) <= 1
    assert all(len(c) == source.chunk_bytes for c in chunks[:-1])
    with FileSource(tmp_path / "tone.wav", format=target, chunk_ms=100) as reference:
        assert b"".join(chunks) == b"".join(reference)
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64) * np.hanning(out.size)))
    peak = float(np.fft.rfftfreq(out.size, 1 / fmt.sample_rate)[int(np.argmax(spectrum))])
    assert abs(peak - 440) < 2


def test_absurd_header_on_a_pipe_does_not_allocate_gigabytes(tmp_path: pathlib.Path) -> None:
    """A WAV header claiming 255 channels at 10 MHz, read from a FIFO (so libsndfile cannot check
    it against the file size), is read in bounded blocks instead of one 10 GB allocation."""
    fifo = tmp_path / "hostile.wav"
    os.mkfifo(fifo)
    frames = 100
    payload = _wav_header(10_000_000, 255, 0x7FFFFFF0) + b"\x00\x10" * 255 * frames

    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(payload)

    writer = threading.Thread(target=write, name="test-fifo-writer")
    writer.start()
    # numpy reports its buffers to tracemalloc; untouched pages would not show in the RSS.
    tracemalloc.start()
    try:
        with FileSource(fifo, chunk_ms=1000) as source:
            total = sum(len(chunk) for chunk in source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        writer.join(timeout=10)
    assert peak < 64 << 20
    # 100 frames at 10 MHz is 10 microseconds: 0.16 of a 16 kHz sample.
    assert total <= 2


def test_half_sample_at_the_end_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """An odd byte at the end of 16-bit PCM is not dropped silently: a warning names the input
    and the source counts the byte."""
    source = RawSource(io.BytesIO(b"\x01\x02\x03"))
    with caplog.at_level(logging.WARNING, logger="scribe_sync.audio"):
        assert b"".join(source) == b"\x01\x02"
    assert source.dropped_bytes == 1
    assert "middle of a 16-bit sample" in caplog.text
    caplog.clear()
    even = RawSource(io.BytesIO(b"\x01\x02\x03\x04"))
    with caplog.at_level(logging.WARNING, logger="scribe_sync.audio"):
        assert b"".join(even) == b"\x01\x02\x03\x04"
    assert even.dropped_bytes == 0
    assert not caplog.text


def _run_child(code: str, **kwargs: Any) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)}, **kwargs,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().strip()


STDIN_CHILD = (
    "from scribe_sync.audio import AudioSourceError, open_source\n"
    "try:\n"
    "    print(sum(len(c) for c in open_source('-')))\n"
    "except AudioSourceError as exc:\n"
    "    print(type(exc).__name__, exc)\n"
)


def test_closed_stdin_is_an_audio_source_error() -> None:
    """A process started with fd 0 closed gets a typed error, not an AttributeError on None."""
    out = _run_child(STDIN_CHILD, stdin=None, preexec_fn=lambda: os.close(0))
    assert out == "AudioSourceError <stdin>: standard input is closed"


def test_terminal_on_stdin_is_refused() -> None:
    """Raw audio cannot come from a terminal: the source says so instead of waiting for keys."""
    main, secondary = pty.openpty()
    try:
        out = _run_child(STDIN_CHILD, stdin=secondary)
    finally:
        os.close(main)
        os.close(secondary)
    assert out.startswith("AudioSourceError <stdin>: is a terminal")


def test_binary_garbage_on_stdin_is_passed_through_whole() -> None:
    """Raw input is not interpreted: random bytes come out as they went in, all of them."""
    data = os.urandom(100_001)
    assert _run_child(STDIN_CHILD, input=data) == "100000"


class JumpingClock:
    """A monotonic clock the test moves by hand; sleeping advances it exactly."""

    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_clock_jump_is_not_followed_by_an_hour_long_burst() -> None:
    """After the monotonic clock jumps an hour (a suspended machine), at most MAX_CATCH_UP of
    audio goes out at once; then real-time pacing resumes, 100 ms per 100 ms chunk."""
    clock = JumpingClock()
    pacer = Pacer(AudioFormat.PCM_16000, 1.0, clock=clock, sleep=clock.sleep)
    pacer.wait(3200)
    clock.now += 3600.0
    burst = 0
    while not clock.sleeps:
        pacer.wait(3200)
        burst += 1
    assert burst <= round(MAX_CATCH_UP / 0.1) + 2  # the cap, the chunk that re-based, one sleep
    clock.sleeps.clear()
    for _ in range(5):
        pacer.wait(3200)
    assert clock.sleeps == pytest.approx([0.1] * 5)


@given(stalls=st.lists(st.floats(0, 5000), min_size=1, max_size=40))
def test_pacing_never_runs_early_and_its_backlog_is_bounded(stalls: list[float]) -> None:
    """Whatever the consumer's stalls: no chunk is released before it is due, and after any
    release the audio still owed is at most MAX_CATCH_UP (plus the chunk just released)."""
    clock = JumpingClock()
    pacer = Pacer(AudioFormat.PCM_16000, 1.0, clock=clock, sleep=clock.sleep)
    pacer.wait(3200)
    for stall in stalls:
        clock.now += stall
        due = pacer.due()
        assert due is not None
        pacer.wait(3200)
        assert clock.now >= due - 1e-9
        next_due = pacer.due()
        assert next_due is not None
        assert next_due >= clock.now - MAX_CATCH_UP - 0.1 - 1e-9


@pytest.mark.parametrize("fmt", ["bogus", None, 16000])
def test_pacing_an_unknown_format_is_a_config_error(fmt: Any) -> None:
    """paced() and Pacer name the format option instead of a bare ValueError."""
    with pytest.raises(ConfigError) as caught:
        Pacer(fmt)
    assert caught.value.option == "format"
    with pytest.raises(ConfigError):
        paced([b"\0\0"], 1.0, format=fmt)


@pytest.mark.parametrize("device", [1.5, True, b"fakemic", ["fakemic"], object()])
def test_a_microphone_device_of_the_wrong_type_is_a_config_error(device: Any) -> None:
    """A device that is neither None, an index nor a name is refused before PortAudio starts
    (True is not device 1)."""
    with pytest.raises(ConfigError) as caught:
        MicrophoneSource(device)
    assert caught.value.option == "device"


@pytest.mark.parametrize("spec", [None, 123, 1.5, b"/tmp/a.wav", bytearray(b"\0\0")])
def test_open_source_refuses_what_is_neither_a_path_nor_chunks(spec: Any) -> None:
    """bytes (iterable, of ints), None and numbers were handed back as if they were sources."""
    with pytest.raises(ConfigError) as caught:
        open_source(spec)
    assert caught.value.option == "source"


def test_file_objects_must_be_binary(tmp_path: pathlib.Path,
                                     capfd: pytest.CaptureFixture[str]) -> None:
    """A text-mode file, None or an int is a ConfigError naming the argument, not 'not an audio
    file' after soundfile printed a UnicodeDecodeError from its C callback."""
    path = tmp_path / "tone.wav"
    soundfile.write(path, np.zeros(1600, dtype=np.int16), 16000)
    with open(path, encoding="utf-8") as text:
        for bad in (text, None, 7):
            with pytest.raises(ConfigError) as caught:
                FileSource(bad)  # type: ignore[arg-type]
            assert caught.value.option == "file"
        for bad in (text, io.StringIO("abcd"), 7):
            with pytest.raises(ConfigError) as caught:
                RawSource(bad)  # type: ignore[arg-type]
            assert caught.value.option == "fileobj"
    assert "Error" not in capfd.readouterr().err
    with open(path, "rb") as binary:
        assert b"".join(FileSource(binary)) == b"\0\0" * 1600


def test_a_truncated_ogg_stream_is_not_silently_empty(tmp_path: pathlib.Path) -> None:
    """A short Vorbis file cut short: libsndfile finds no length and would read nothing at all;
    FileSource now says it cannot decode it (so open_source tries ffmpeg) instead."""
    tone = (0.3 * np.sin(np.arange(48000 * 3) / 7)).astype(np.float32)
    whole = tmp_path / "whole.ogg"
    soundfile.write(whole, tone, 48000, format="OGG", subtype="VORBIS")
    cut = tmp_path / "cut.ogg"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(AudioSourceError, match="truncated"):
        FileSource(cut)
    with FileSource(whole) as source:  # the whole file still reads in full
        assert sum(len(chunk) for chunk in source) == 3 * 32000


@pytest.mark.parametrize(
    ("in_rate", "out_rate", "option"),
    [(float("nan"), 16000, "in_rate"), (0, 16000, "in_rate"), (-8000, 16000, "in_rate"),
     (44100.5, 16000, "in_rate"), (True, 16000, "in_rate"), (16000, 2**31, "out_rate"),
     (16000, "8000", "out_rate")],
)
def test_resampler_rates_are_checked(in_rate: Any, out_rate: Any, option: str) -> None:
    """A NaN rate made soxr spin for ever; fractions, zero and strings reached soxr too."""
    with pytest.raises(ConfigError) as caught:
        Resampler(in_rate, out_rate)
    assert caught.value.option == option


def test_resampler_quality_is_checked() -> None:
    """An unknown soxr quality is a ConfigError naming the choices."""
    with pytest.raises(ConfigError, match="VHQ") as caught:
        Resampler(8000, 16000, quality="best")
    assert caught.value.option == "quality"


@given(st.sampled_from([np.uint16, np.uint32, np.uint64, np.int32, np.int64]), st.data())
def test_wide_integers_keep_their_top_16_bits(dtype: Any, data: st.DataObject) -> None:
    """Every integer width, uint64 included (an OverflowError before), maps to its top 16 bits,
    unsigned types re-centred on zero."""
    info = np.iinfo(dtype)
    values = data.draw(st.lists(st.integers(int(info.min), int(info.max)), max_size=50))
    a = np.array(values, dtype=dtype)
    bits = info.bits
    expected = [(v >> (bits - 16)) - (32768 if info.min == 0 else 0) for v in values]
    assert to_int16(a).tolist() == expected


def test_conversion_helpers_take_format_names_and_refuse_zero_channels() -> None:
    """encode_audio/decode_audio accept "ulaw_8000" as well as the enum (an AttributeError
    before); audio with no channels is an error, not NaN with numpy warnings."""
    assert encode_audio(np.array([0, 1000], dtype=np.int16), "ulaw_8000") == encode_audio(
        np.array([0, 1000], dtype=np.int16), AudioFormat.ULAW_8000)
    assert decode_audio(b"\x01\x00\x02", "pcm_16000").tolist() == [1]
    with pytest.raises(ConfigError):
        encode_audio(np.zeros(2), "mp3")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="no channels"):
            to_mono(np.zeros((10, 0), dtype=np.float32))


@pytest.mark.parametrize("live", ["no", 0, None])
def test_raw_source_live_must_be_a_bool(live: Any) -> None:
    """live="no" is truthy: it would have turned pacing off without a word."""
    with pytest.raises(ConfigError) as caught:
        RawSource(io.BytesIO(b""), live=live)
    assert caught.value.option == "live"


@pytest.mark.parametrize("keep", [0, 100_001])
def test_a_file_that_shrinks_while_read_is_an_error_not_a_short_success(
        tmp_path: pathlib.Path, keep: int) -> None:
    """Emptied or cut (to an odd byte count) while it was streamed, a WAV ended as if it were
    complete: exit 0 and a transcript of part of it."""
    import wave

    from scribe_sync.audio import AudioSourceError, FileSource

    path = tmp_path / "shrinking.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(b"\x01\x00" * 16000 * 10)  # 10 s
    with FileSource(path, chunk_ms=100) as source:
        chunks = iter(source)
        first = next(chunks)
        assert first
        os.truncate(path, keep)
        with pytest.raises(AudioSourceError, match="shrank while it was read"):
            for _ in chunks:
                pass


def test_a_whole_file_read_to_its_end_is_not_said_to_have_shrunk(tmp_path: pathlib.Path) -> None:
    import wave

    from scribe_sync.audio import FileSource

    path = tmp_path / "whole.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(44100)
        handle.writeframes(b"\x01\x00" * 2 * 44100 * 3 + b"\x01\x00" * 2 * 7)  # odd frames
    with FileSource(path, chunk_ms=100) as source:
        assert sum(len(chunk) for chunk in source) > 0
