"""Choosing a source for what the user named: a path, a URL, ``-`` for stdin, or a source."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from scribe_sync.messages import AudioFormat

from ._base import DEFAULT_CHUNK_MS, AudioSource, AudioSourceError, missing_extra
from ._ffmpeg import FfmpegSource, find_ffmpeg
from ._raw import RawSource

__all__ = ["open_source"]


def open_source(
    spec: str | os.PathLike[str] | AudioSource | Iterable[bytes],
    *,
    format: AudioFormat | str = AudioFormat.PCM_16000,
    chunk_ms: int = DEFAULT_CHUNK_MS,
) -> AudioSource | Iterable[bytes]:
    """An audio source for ``spec``.

    - an :class:`AudioSource` or any iterable of chunks: returned as it is;
    - ``"-"``: raw audio already in ``format`` from standard input;
    - a URL (``scheme://...``): read through ffmpeg;
    - a path: read with soundfile when libsndfile knows the format, otherwise (video files, AAC,
      ...) through ffmpeg when it is installed.

    Raises:
        AudioSourceError: the file is missing or unreadable, or nothing can decode it.
    """
    if isinstance(spec, AudioSource) or not isinstance(spec, (str, os.PathLike)):
        return spec
    location = os.fspath(spec)
    if location == "-":
        return RawSource(sys.stdin.buffer, format=format, chunk_ms=chunk_ms)
    if "://" in location:
        return FfmpegSource(location, format=format, chunk_ms=chunk_ms)
    # Imported here: FileSource needs the audio extra (numpy, soundfile, soxr), stdin and URLs
    # do not.
    try:
        from ._file import FileSource
    except ImportError as exc:
        error = missing_extra(exc, location)
        if error is None:
            raise
        raise error from exc
    try:
        return FileSource(location, format=format, chunk_ms=chunk_ms)
    except AudioSourceError as exc:
        if not os.path.isfile(location) or "unsupported" not in exc.reason:
            raise
        try:
            find_ffmpeg()
        except AudioSourceError:
            raise exc from None
        # libsndfile does not read containers such as MP4 or M4A; ffmpeg reads almost anything.
        return FfmpegSource(location, format=format, chunk_ms=chunk_ms)
