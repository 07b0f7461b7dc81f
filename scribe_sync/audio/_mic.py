"""``MicrophoneSource`` and ``list_devices``: capture through PyAudio (PortAudio).

PyAudio is optional (the ``mic`` extra) and imported only when a microphone is used.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs
import numpy as np

from scribe_sync.errors import ConfigError
from scribe_sync.messages import AudioFormat

from ._base import (
    DEFAULT_CHUNK_MS,
    AudioDependencyError,
    AudioSource,
    AudioSourceError,
    chunk_samples,
)
from ._convert import Resampler, encode_audio, to_mono
from ._quiet import quiet_native_stderr

__all__ = ["DeviceInfo", "MicrophoneSource", "list_devices"]


def _import_pyaudio() -> Any:
    try:
        import pyaudio
    except ImportError as exc:
        raise AudioDependencyError(
            "microphone",
            "PyAudio is not installed; run: pip install 'scribe-sync[mic]' "
            "(it needs PortAudio: apt-get install portaudio19-dev, brew install portaudio)",
        ) from exc
    return pyaudio


@attrs.frozen
class DeviceInfo:
    """An audio input device as PortAudio reports it."""

    index: int
    name: str
    max_input_channels: int
    default_sample_rate: float
    host_api: str = ""
    is_default: bool = False


def _devices(pa: Any) -> list[DeviceInfo]:
    try:
        default = int(pa.get_default_input_device_info()["index"])
    except (OSError, KeyError):
        default = -1  # PortAudio raises IOError when there is no default input
    result = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if int(info.get("maxInputChannels", 0)) <= 0:
            continue
        try:
            host_api = str(pa.get_host_api_info_by_index(info["hostApi"])["name"])
        except (OSError, KeyError, ValueError):
            host_api = ""
        result.append(
            DeviceInfo(
                index=index,
                name=str(info["name"]),
                max_input_channels=int(info["maxInputChannels"]),
                default_sample_rate=float(info["defaultSampleRate"]),
                host_api=host_api,
                is_default=index == default,
            )
        )
    return result


def list_devices() -> list[DeviceInfo]:
    """Every audio input device PortAudio can see.

    Raises:
        AudioDependencyError: PyAudio is not installed.
    """
    pyaudio = _import_pyaudio()
    # PortAudio's start prints ALSA's and JACK's probing on fd 2: to the log (see _quiet).
    with quiet_native_stderr("microphone"):
        pa = pyaudio.PyAudio()
        try:
            return _devices(pa)
        finally:
            pa.terminate()


def _choose(devices: list[DeviceInfo], device: int | str | None) -> DeviceInfo:
    if not devices:
        raise AudioSourceError("microphone", "no audio input devices found")
    names = ", ".join(f"{d.index}: {d.name!r}" for d in devices)
    if device is None:
        for d in devices:
            if d.is_default:
                return d
        raise AudioSourceError("microphone", f"no default input device; choose one of {names}")
    if isinstance(device, int):
        for d in devices:
            if d.index == device:
                return d
        raise AudioSourceError(f"device {device}", f"not an input device; choose one of {names}")
    exact = [d for d in devices if d.name == device]
    if len(exact) == 1:
        return exact[0]
    partial = [d for d in devices if device.lower() in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise AudioSourceError(repr(device), f"no input device by that name; choose one of {names}")
    matches = ", ".join(f"{d.index}: {d.name!r}" for d in partial)
    raise AudioSourceError(repr(device), f"ambiguous device name, matches {matches}")


def _supported(pa: Any, pyaudio: Any, index: int, rate: int, channels: int) -> bool:
    try:
        return bool(
            pa.is_format_supported(
                rate, input_device=index, input_channels=channels, input_format=pyaudio.paInt16
            )
        )
    except ValueError:  # PyAudio's way of saying "unsupported"
        return False


class MicrophoneSource(AudioSource):
    """Live audio from a microphone through PyAudio (PortAudio). ``live`` is True.

    The device is opened for 16-bit capture at the target rate in mono. When it does not support
    that, it is opened at its native (default) rate and/or in stereo, and the audio is resampled
    and mixed down here. The device is released by :meth:`close`, on any error and on Ctrl+C
    (``KeyboardInterrupt`` raised while reading).

    Reads never raise on input overflow (the consumer fell behind): PortAudio drops the
    oldest audio instead, which is the lesser evil for live transcription.

    Args:
        device: ``None`` for the default input device, an index from :func:`list_devices`, or a
            name (exact, else a unique case-insensitive substring).
        format: the target :class:`~scribe_sync.AudioFormat`.
        chunk_ms: the duration of each chunk, 20 to 1000 ms.

    Attributes:
        device: the chosen :class:`DeviceInfo`.
        device_sample_rate: the rate the device was opened at.
        device_channels: the channel count the device was opened with.

    Raises:
        AudioDependencyError: PyAudio is not installed.
        AudioSourceError: no such device, or it cannot be opened.
        ConfigError: ``device`` is neither None, an integer nor a string; ``format`` or
            ``chunk_ms`` is invalid.
    """

    live = True

    def __init__(
        self,
        device: int | str | None = None,
        *,
        format: AudioFormat | str = AudioFormat.PCM_16000,
        chunk_ms: int = DEFAULT_CHUNK_MS,
    ) -> None:
        super().__init__(format=format, chunk_ms=chunk_ms, name="microphone")
        if device is not None and (isinstance(device, bool) or not isinstance(device, (int, str))):
            # Checked before PortAudio starts: 1.5 or b"USB" would otherwise fail deep in the
            # name matching, and True would quietly mean device 1.
            self._closed = True
            raise ConfigError(
                f"device must be None (the default input), an index from list_devices() or a "
                f"name, got {device!r}", option="device",
            )
        pyaudio = _import_pyaudio()
        # Guards _stream and _pa: close() from another thread waits for the current read
        # (at most one chunk) instead of closing the stream under PortAudio.
        self._io_lock = threading.Lock()
        # Starting PortAudio and probing the device print ALSA's and JACK's complaints on fd 2:
        # to the log (see _quiet).
        with quiet_native_stderr("microphone"):
            self._pa: Any = pyaudio.PyAudio()
            self._stream: Any = None
            self._open(pyaudio, device)

    def _open(self, pyaudio: Any, device: int | str | None) -> None:
        """Choose the device and open its stream; on any failure PortAudio is released."""
        try:
            self.device = _choose(_devices(self._pa), device)
            self.name = f"microphone {self.device.index}: {self.device.name!r}"
            target = self.format.sample_rate
            native = int(self.device.default_sample_rate)
            for rate, channels in ((target, 1), (native, 1), (target, 2), (native, 2)):
                if channels <= self.device.max_input_channels and _supported(
                    self._pa, pyaudio, self.device.index, rate, channels
                ):
                    break
            else:
                raise AudioSourceError(
                    self.name, f"supports 16-bit capture neither at {target} Hz nor at {native} Hz"
                )
            self.device_sample_rate = rate
            self.device_channels = channels
            self._frames = chunk_samples(rate, self.chunk_ms)
            self._resampler = Resampler(rate, target)
            try:
                self._stream = self._pa.open(
                    format=pyaudio.paInt16,
                    channels=channels,
                    rate=rate,
                    input=True,
                    input_device_index=self.device.index,
                    frames_per_buffer=self._frames,
                )
            except OSError as exc:
                raise AudioSourceError(self.name, f"cannot open: {exc}") from exc
        except BaseException:
            self._closed = True
            self._pa.terminate()
            raise

    def _read(self) -> bytes:
        with self._io_lock:
            if self._stream is None:
                return b""
            try:
                data: bytes = self._stream.read(self._frames, exception_on_overflow=False)
            except OSError as exc:
                raise AudioSourceError(self.name, f"cannot read: {exc}") from exc
        if self.device_channels == 1 and self._resampler.passthrough and not self.format.is_ulaw:
            return data  # already 16-bit mono at the target rate: pass the bytes untouched
        frames = np.frombuffer(data, dtype="<i2").reshape(-1, self.device_channels)
        return encode_audio(self._resampler.process(to_mono(frames)), self.format)

    def _release(self) -> None:
        with self._io_lock:
            stream, self._stream = self._stream, None
            try:
                if stream is not None:
                    stream.stop_stream()
                    stream.close()
            except OSError:
                pass  # a broken stream is freed by terminate() below; close() must not raise
            finally:
                self._pa.terminate()
