"""Choosing a source for what the user named: a path, a URL, ``-`` for stdin, or a source."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable

from scribe_sync.errors import ConfigError
from scribe_sync.messages import AudioFormat

from ._base import (
    DEFAULT_CHUNK_MS,
    AudioDependencyError,
    AudioSource,
    AudioSourceError,
    NotDecodableError,
    missing_extra,
)
from ._ffmpeg import FfmpegSource, find_ffmpeg
from ._raw import RawSource

__all__ = ["open_source"]

logger = logging.getLogger("scribe_sync.audio")


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
      ...) through ffmpeg when it is installed;
    - a path that is not a regular file (a named pipe, ``/dev/fd/N`` from a shell's ``<(...)``,
      a device): read once, by ffmpeg when it is installed, by libsndfile otherwise.

    Example::

        import scribe_sync
        from scribe_sync.audio import open_source, sample_path

        with scribe_sync.connect() as session, open_source(sample_path()) as chunks:
            for chunk in chunks:  # 100 ms of 16 kHz PCM each, sent as fast as they come
                session.send_audio(chunk)
        print(session.transcript)

    Raises:
        ConfigError: ``spec`` is of none of the kinds above (bytes, None, a number).
        AudioSourceError: the file is missing or unreadable, or nothing can decode it: a readable
            file that is not audio is "not an audio file we can decode (tried libsndfile and
            ffmpeg)", naming the decoders tried.
        AudioDependencyError: a path was given and the audio extra is not installed.
    """
    if isinstance(spec, AudioSource):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        # bytes are iterable (of ints), so they would pass for a source of chunks.
        if isinstance(spec, (bytes, bytearray, memoryview)) or not isinstance(spec, Iterable):
            raise ConfigError(
                f"source must be a path (str), a URL, '-', an audio source or an iterable of "
                f"bytes chunks, got {type(spec).__name__}", option="source",
            )
        return spec
    location = os.fspath(spec)
    if location == "-":
        return RawSource(None, format=format, chunk_ms=chunk_ms)  # checks stdin is usable
    if "://" in location:
        return FfmpegSource(location, format=format, chunk_ms=chunk_ms)
    # Imported here: FileSource needs the audio extra (numpy, soundfile, soxr), stdin and URLs
    # do not.
    try:
        from ._file import NOT_AUDIO, FileSource
    except ImportError as exc:
        error = missing_extra(exc, location)
        if error is None:
            raise
        raise error from exc
    if _read_once(location):
        if not _has_ffmpeg():
            return FileSource(location, format=format, chunk_ms=chunk_ms)  # libsndfile alone
        return _prefetched(_piped(location, format, chunk_ms), f"{NOT_AUDIO} (tried ffmpeg)")
    try:
        return FileSource(location, format=format, chunk_ms=chunk_ms)
    except NotDecodableError as exc:
        not_audio = exc
    # libsndfile does not read containers such as MP4 or M4A; ffmpeg reads almost anything.
    if not _has_ffmpeg():
        raise AudioSourceError(
            location, f"{NOT_AUDIO} (tried libsndfile; ffmpeg, which reads more formats, is "
            "not installed)",
        ) from not_audio
    # "file:" and an absolute path: otherwise ffmpeg reads a file named "pipe:0" or
    # "concat:a|b" as the protocol its name starts with (stdin, a concatenation).
    source = FfmpegSource(
        "file:" + os.path.abspath(location), format=format, chunk_ms=chunk_ms
    )
    source.name = location  # what the user named, in messages
    return _prefetched(source, f"{NOT_AUDIO} (tried libsndfile and ffmpeg)")


def _has_ffmpeg() -> bool:
    try:
        find_ffmpeg()
    except AudioDependencyError:
        return False
    return True


def _prefetched(source: FfmpegSource, not_audio: str) -> FfmpegSource:
    """``source`` once ffmpeg has read its start: it fails at once on what it cannot read, so
    that is said now, in one line (``not_audio``), with ffmpeg's own words in the log."""
    try:
        source.prefetch()
    except AudioSourceError as exc:
        source.close()
        logger.info("%s", exc)
        raise AudioSourceError(source.name, not_audio) from exc
    return source


def _read_once(location: str) -> bool:
    """Whether ``location`` is a pipe or a device: a decoder that fails on it has drained what
    it read, so a second decoder would wait for ever on a pipe whose writer has left."""
    try:
        mode = os.stat(location).st_mode
    except OSError:
        return False  # FileSource says what is wrong with it
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _piped(location: str, format: AudioFormat | str, chunk_ms: int) -> FfmpegSource:
    """ffmpeg reading a pipe or a device as its stdin, from a file opened here (so that
    ``/dev/fd/N`` of this process works too): it reads any container from a stream and never
    seeks, so one pass is enough."""
    try:
        # A named pipe waits here for its writer, as cat does; closed below once ffmpeg has it.
        handle = open(location, "rb")  # noqa: SIM115
    except OSError as exc:
        raise AudioSourceError(location, f"cannot open: {exc.strerror or exc}") from None
    with handle:  # ffmpeg has its own copy once started
        return FfmpegSource(location, format=format, chunk_ms=chunk_ms, stdin=handle)
