"""Audio in: sources that yield fixed-duration chunks in a session's audio format.

Every source is an iterator of ``bytes`` already in the target
:class:`~scribe_sync.AudioFormat` (16-bit little-endian mono PCM at one of six rates, or 8 kHz
mu-law), one chunk per ``chunk_ms`` (100 ms by default, 20 ms to 1 s), and a context manager
that releases its file, device or subprocess on close.

- :class:`FileSource`: audio files through soundfile/libsndfile, streamed.
- :class:`MicrophoneSource`: a microphone through PyAudio (the ``mic`` extra); :func:`list_devices`.
- :class:`FfmpegSource`: URLs, live streams and video through an ffmpeg subprocess.
- :class:`RawSource`: raw PCM or mu-law from a file object or stdin.
- :func:`paced` / :class:`Pacer`: send non-live audio at real time or a speed factor.
- Conversion helpers: :func:`ulaw_encode`, :func:`ulaw_decode`, :func:`to_int16`,
  :func:`to_mono`, :func:`encode_audio`, :func:`decode_audio`, :class:`Resampler`.
- :func:`open_source`: the right source for a path, URL or ``-`` (stdin).
- :func:`sample_path`, :func:`sample_transcript`: the bundled sample recording.

The names are loaded on first use (PEP 562), so ``import scribe_sync.audio`` costs nothing and
works on a base install: numpy, soundfile and soxr (the ``audio`` extra) are imported by the
sources and helpers that need them, and PyAudio (the ``mic`` extra) by the microphone. Without
them, using such a name raises :class:`AudioDependencyError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._base import missing_extra as _missing_extra

if TYPE_CHECKING:
    from ._base import (
        DEFAULT_CHUNK_MS,
        MAX_CHUNK_MS,
        MIN_CHUNK_MS,
        AudioDependencyError,
        AudioSource,
        AudioSourceError,
        chunk_samples,
    )
    from ._convert import (
        Resampler,
        decode_audio,
        encode_audio,
        to_int16,
        to_mono,
        ulaw_decode,
        ulaw_encode,
    )
    from ._ffmpeg import FfmpegSource, find_ffmpeg
    from ._file import FileSource
    from ._mic import DeviceInfo, MicrophoneSource, list_devices
    from ._open import open_source
    from ._pacing import Pacer, paced
    from ._raw import RawSource
    from ._sample import sample_path, sample_transcript

__all__ = [
    "DEFAULT_CHUNK_MS",
    "MAX_CHUNK_MS",
    "MIN_CHUNK_MS",
    "AudioDependencyError",
    "AudioSource",
    "AudioSourceError",
    "DeviceInfo",
    "FfmpegSource",
    "FileSource",
    "MicrophoneSource",
    "Pacer",
    "RawSource",
    "Resampler",
    "chunk_samples",
    "decode_audio",
    "encode_audio",
    "find_ffmpeg",
    "list_devices",
    "open_source",
    "paced",
    "sample_path",
    "sample_transcript",
    "to_int16",
    "to_mono",
    "ulaw_decode",
    "ulaw_encode",
]

#: Where each public name lives; the module is imported on first access.
_LAZY: dict[str, str] = {
    "DEFAULT_CHUNK_MS": "_base",
    "MAX_CHUNK_MS": "_base",
    "MIN_CHUNK_MS": "_base",
    "AudioDependencyError": "_base",
    "AudioSource": "_base",
    "AudioSourceError": "_base",
    "chunk_samples": "_base",
    "Resampler": "_convert",
    "decode_audio": "_convert",
    "encode_audio": "_convert",
    "to_int16": "_convert",
    "to_mono": "_convert",
    "ulaw_decode": "_convert",
    "ulaw_encode": "_convert",
    "FfmpegSource": "_ffmpeg",
    "find_ffmpeg": "_ffmpeg",
    "FileSource": "_file",
    "DeviceInfo": "_mic",
    "MicrophoneSource": "_mic",
    "list_devices": "_mic",
    "open_source": "_open",
    "Pacer": "_pacing",
    "paced": "_pacing",
    "RawSource": "_raw",
    "sample_path": "_sample",
    "sample_transcript": "_sample",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as exc:
        # Everything the microphone needs (PyAudio, numpy, soxr) comes with the mic extra.
        error = _missing_extra(exc, name, extra="mic" if module_name == "_mic" else None)
        if error is None:
            raise
        raise error from exc
    value = getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

