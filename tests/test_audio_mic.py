"""MicrophoneSource through real PortAudio/ALSA (the fake-microphone recipe), plus the release
paths driven by a small PyAudio stand-in."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest

from scribe_sync.audio import (
    AudioDependencyError,
    AudioSourceError,
    MicrophoneSource,
    list_devices,
    ulaw_encode,
)
from tests.fakemic import fake_mic_home

REPO = pathlib.Path(__file__).resolve().parent.parent

pyaudio = pytest.importorskip("pyaudio", reason="PyAudio (the mic extra) is not installed")

# Runs in a child process: ALSA reads $HOME/.asoundrc once per process, so the fake microphone
# must be configured before PortAudio starts, in a process of its own.
CHILD = r"""
import json, sys
from scribe_sync.audio import MicrophoneSource, list_devices

out, device, fmt, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
names = [d.name for d in list_devices()]
with MicrophoneSource(device=device or None, format=fmt, chunk_ms=100) as mic:
    chunks = [next(mic) for _ in range(count)]
with open(out, "wb") as f:
    f.write(b"".join(chunks))
print(json.dumps({
    "devices": names,
    "sizes": [len(c) for c in chunks],
    "device": mic.device.name,
    "rate": mic.device_sample_rate,
    "closed": mic.closed,
    "live": mic.live,
}))
"""


def _alsa_available() -> bool:
    return any(
        pathlib.Path(p).exists()
        for p in (
            "/usr/lib/x86_64-linux-gnu/libasound.so.2",
            "/usr/lib/aarch64-linux-gnu/libasound.so.2",
            "/usr/lib/libasound.so.2",
            "/usr/lib64/libasound.so.2",
        )
    )


needs_alsa = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _alsa_available(),
    reason="the fake microphone needs Linux with ALSA (libasound2)",
)


def _record(
    tmp_path: pathlib.Path, samples: np.ndarray, device: str, fmt: str, count: int
) -> tuple[dict[str, Any], bytes]:
    home = fake_mic_home(tmp_path, samples.astype("<i2").tobytes())
    out = tmp_path / "chunks.raw"
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), device, fmt, str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # ALSA's "cannot find card" probing noise goes to stderr; only the exit status matters.
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), out.read_bytes()


def _signal(rate: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(5)
    t = np.arange(int(rate * seconds)) / rate
    x = 8000 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 500, t.size)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


@needs_alsa
def test_microphone_chunks_equal_the_input_file(tmp_path: pathlib.Path) -> None:
    """Through real PortAudio, the default device yields exactly the fake microphone's audio."""
    samples = _signal(16000, 1.0)
    info, data = _record(tmp_path, samples, "", "pcm_16000", 10)
    assert "fakemic" in info["devices"]
    assert info["sizes"] == [3200] * 10
    assert info["rate"] == 16000
    assert info["closed"] is True
    assert info["live"] is True
    assert data == samples.astype("<i2").tobytes()


@needs_alsa
def test_microphone_by_name_as_mulaw(tmp_path: pathlib.Path) -> None:
    """A device chosen by name captures to mu-law chunks equal to the encoded input."""
    samples = _signal(8000, 0.5)
    info, data = _record(tmp_path, samples, "fakemic", "ulaw_8000", 5)
    assert info["device"] == "fakemic"
    assert info["sizes"] == [800] * 5
    assert data == ulaw_encode(samples)


# -- a PyAudio stand-in, for paths real hardware cannot be made to take on demand ----------------


class FakeStream:
    """Records what happened to it; ``read`` returns a ramp or raises ``fail_with``."""

    def __init__(
        self, owner: FakePyAudio, rate: int, channels: int, frames_per_buffer: int
    ) -> None:
        self.owner = owner
        self.rate = rate
        self.channels = channels
        self.frames_per_buffer = frames_per_buffer
        self.stopped = False
        self.closed = False

    def read(self, frames: int, exception_on_overflow: bool = True) -> bytes:
        if self.owner.fail_with is not None:
            raise self.owner.fail_with
        t = np.arange(frames) / self.rate
        x = np.rint(10000 * np.sin(2 * np.pi * 1000 * t)).astype("<i2")
        return np.repeat(x, self.channels).tobytes()

    def stop_stream(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True


class FakePyAudio:
    """One input device that supports only ``rates`` with ``channels`` channels."""

    paInt16 = 8
    rates: tuple[int, ...] = (48000,)
    channels: tuple[int, ...] = (1, 2)
    fail_with: BaseException | None = None
    instances: list[FakePyAudio] = []

    def __init__(self) -> None:
        self.terminated = False
        self.streams: list[FakeStream] = []
        FakePyAudio.instances.append(self)

    def get_default_input_device_info(self) -> dict[str, Any]:
        return self.get_device_info_by_index(1)

    def get_device_count(self) -> int:
        return 2

    def get_device_info_by_index(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "name": ["Speakers", "USB Mic"][index],
            "maxInputChannels": [0, 2][index],
            "defaultSampleRate": 48000.0,
            "hostApi": 0,
        }

    def get_host_api_info_by_index(self, index: int) -> dict[str, Any]:
        return {"name": "FakeAPI"}

    def is_format_supported(
        self, rate: int, input_device: int, input_channels: int, input_format: int
    ) -> bool:
        if rate in self.rates and input_channels in self.channels:
            return True
        raise ValueError("Invalid sample rate")

    def open(
        self,
        *,
        format: int,
        channels: int,
        rate: int,
        input: bool,
        input_device_index: int,
        frames_per_buffer: int,
    ) -> FakeStream:
        stream = FakeStream(self, rate, channels, frames_per_buffer)
        self.streams.append(stream)
        return stream

    def terminate(self) -> None:
        self.terminated = True


@pytest.fixture
def fake_pyaudio(monkeypatch: pytest.MonkeyPatch) -> type[FakePyAudio]:
    module = types.ModuleType("pyaudio")
    monkeypatch.setattr(FakePyAudio, "instances", [])
    monkeypatch.setattr(FakePyAudio, "fail_with", None)
    module.PyAudio = FakePyAudio  # type: ignore[attr-defined]
    module.paInt16 = FakePyAudio.paInt16  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyaudio", module)
    return FakePyAudio


def _peak_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spectrum))])


def test_native_rate_fallback_resamples(fake_pyaudio: type[FakePyAudio]) -> None:
    """A device without the target rate is opened at its native rate and resampled."""
    with MicrophoneSource(format="pcm_16000", chunk_ms=100) as mic:
        chunks = [next(mic) for _ in range(10)]
    stream = fake_pyaudio.instances[0].streams[0]
    assert (mic.device_sample_rate, mic.device_channels) == (48000, 1)
    assert stream.frames_per_buffer == 4800
    assert all(len(c) == 3200 for c in chunks)
    assert abs(_peak_hz(b"".join(chunks)[3200:], 16000) - 1000) < 5


def test_stereo_only_device_is_mixed_down(
    fake_pyaudio: type[FakePyAudio], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stereo-only device at the target rate is opened in stereo and mixed to mono."""
    monkeypatch.setattr(FakePyAudio, "rates", (16000,))
    monkeypatch.setattr(FakePyAudio, "channels", (2,))
    with MicrophoneSource(device="usb", chunk_ms=20) as mic:
        chunk = next(mic)
    assert (mic.device_sample_rate, mic.device_channels) == (16000, 2)
    expected = np.rint(10000 * np.sin(2 * np.pi * 1000 * np.arange(320) / 16000)).astype("<i2")
    assert chunk == expected.tobytes()


def test_device_released_on_keyboard_interrupt(fake_pyaudio: type[FakePyAudio]) -> None:
    """Ctrl+C while reading stops and closes the stream and terminates PortAudio."""
    mic = MicrophoneSource()
    next(mic)
    FakePyAudio.fail_with = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        next(mic)
    pa = fake_pyaudio.instances[0]
    assert mic.closed
    assert pa.terminated
    assert pa.streams[0].stopped
    assert pa.streams[0].closed


def test_device_released_on_read_error(fake_pyaudio: type[FakePyAudio]) -> None:
    """A PortAudio read error becomes AudioSourceError and the device is released."""
    mic = MicrophoneSource()
    FakePyAudio.fail_with = OSError(-9981, "Input overflowed")
    with pytest.raises(AudioSourceError, match="cannot read"):
        next(mic)
    assert fake_pyaudio.instances[0].terminated
    assert fake_pyaudio.instances[0].streams[0].closed


def test_close_is_idempotent_and_ends_iteration(fake_pyaudio: type[FakePyAudio]) -> None:
    """close() twice releases once; a closed microphone yields nothing more."""
    mic = MicrophoneSource()
    mic.close()
    mic.close()
    assert fake_pyaudio.instances[0].terminated
    assert list(mic) == []


def test_unknown_device_name_lists_the_choices(fake_pyaudio: type[FakePyAudio]) -> None:
    """An unknown device name fails with the available input devices, and PortAudio is freed."""
    with pytest.raises(AudioSourceError, match=r"1: 'USB Mic'"):
        MicrophoneSource(device="webcam")
    assert fake_pyaudio.instances[0].terminated


def test_output_only_device_index_is_rejected(fake_pyaudio: type[FakePyAudio]) -> None:
    """An index that is not an input device is rejected."""
    with pytest.raises(AudioSourceError, match="not an input device"):
        MicrophoneSource(device=0)


def test_unsupported_device_is_rejected(
    fake_pyaudio: type[FakePyAudio], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device supporting neither the target nor its native rate fails clearly."""
    monkeypatch.setattr(FakePyAudio, "rates", (11025,))
    with pytest.raises(AudioSourceError, match="neither at 16000 Hz nor at 48000 Hz"):
        MicrophoneSource()


def test_list_devices_reports_inputs_only(fake_pyaudio: type[FakePyAudio]) -> None:
    """list_devices() lists input devices with their index, rate, host API and default flag."""
    devices = list_devices()
    assert [(d.index, d.name, d.is_default, d.host_api) for d in devices] == [
        (1, "USB Mic", True, "FakeAPI")
    ]


def test_missing_pyaudio_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PyAudio, the error says how to install the mic extra."""
    monkeypatch.setitem(sys.modules, "pyaudio", None)
    with pytest.raises(AudioDependencyError, match=r"scribe-sync\[mic\]"):
        MicrophoneSource()
    with pytest.raises(AudioDependencyError):
        list_devices()
