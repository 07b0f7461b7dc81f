"""``FileSource``: audio files read through soundfile (libsndfile), streamed block by block."""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from typing import IO, Any

# Imported here, not in __init__: a missing audio extra then fails the import of FileSource
# (with the extra to install, see scribe_sync.audio), not the first file opened.
import soundfile

from scribe_sync.messages import AudioFormat

from ._base import (
    DEFAULT_CHUNK_MS,
    AudioSource,
    AudioSourceError,
    NotDecodableError,
    check_binary_file,
    chunk_samples,
)
from ._convert import Resampler, encode_audio, to_mono
from ._quiet import quiet_native_stderr

__all__ = ["NOT_AUDIO", "FileSource"]

logger = logging.getLogger("scribe_sync.audio")


def _describe(file: str | os.PathLike[str] | IO[bytes]) -> str:
    if isinstance(file, (str, os.PathLike)):
        return os.fspath(file)
    return str(getattr(file, "name", "<file object>"))


def _open_error_reason(file: str | os.PathLike[str] | IO[bytes], exc: Exception) -> str:
    # libsndfile reports a missing file as the generic "System error."; check the path
    # ourselves so the message says what actually happened.
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        if not os.path.exists(path):
            # exists() is False for a link that leads nowhere, too: say which it is.
            if os.path.islink(path):
                try:
                    os.stat(path)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        return "a loop of symbolic links"
                return "a symbolic link to a file that does not exist"
            return "no such file"
        if os.path.isdir(path):
            return "is a directory, not an audio file"
        if not os.access(path, os.R_OK):
            return "permission denied"
    return ""  # the file is there and readable: libsndfile does not know what it holds


#: What a readable file libsndfile cannot open is called. libsndfile's own text misleads: for a
#: text file named .mp3 it says "File does not exist or is not a regular file (possibly a
#: pipe?)" (its MP3 probe's error), which is why it is only logged.
NOT_AUDIO = "not an audio file we can decode"

_EXACT_LENGTH = frozenset({"WAV", "WAVEX", "W64", "RF64", "AIFF", "CAF", "AU", "FLAC"})

# The most samples (frames times channels) read in one block: 4 MB of float32, a second of
# 48 kHz audio in 21 channels.
_MAX_BLOCK_VALUES = 1 << 20


def _native_path(file: str | os.PathLike[str] | IO[bytes]) -> Any:
    """A path as the bytes the OS knows it by: soundfile encodes a str path as strict UTF-8,
    which fails (UnicodeEncodeError, not an OSError) on a name holding a byte that is not
    UTF-8, such as ``bad\\xff.wav``, which Python carries as a surrogate escape."""
    if isinstance(file, (str, os.PathLike)) and sys.platform != "win32":
        return os.fsencode(file)
    return file


class FileSource(AudioSource):
    """Audio from a file (WAV, FLAC, OGG/Vorbis, MP3, AIFF, ... whatever libsndfile reads).

    The file is read one chunk's worth at a time, never loaded whole: any channel count is mixed
    down to mono, any sample rate resampled with a streaming soxr resampler, any sample type
    converted to 16-bit PCM or mu-law. ``live`` is False.

    Args:
        file: a path, or a binary file object soundfile can read (kept open by the caller).
        format: the target :class:`~scribe_sync.AudioFormat`.
        chunk_ms: the duration of each chunk, 20 to 1000 ms.

    Raises:
        AudioSourceError: the file is missing, unreadable or not a supported audio format;
            the message names the file and the reason ("not an audio file we can decode
            (tried libsndfile)" for a readable file that is not audio).
        ConfigError: ``format`` or ``chunk_ms`` is invalid, or ``file`` is neither a path
            nor a binary file object.

    Example::

        from scribe_sync.audio import FileSource, sample_path

        with FileSource(sample_path(), format="pcm_16000", chunk_ms=100) as source:
            seconds = sum(len(chunk) for chunk in source) / source.format.bytes_per_second
        print(f"{seconds:.1f} s")
    """

    live = False

    def __init__(
        self,
        file: str | os.PathLike[str] | IO[bytes],
        *,
        format: AudioFormat | str = AudioFormat.PCM_16000,
        chunk_ms: int = DEFAULT_CHUNK_MS,
    ) -> None:
        if not isinstance(file, (str, os.PathLike)):
            # soundfile would take an int as a file descriptor and None as nothing, and call a
            # text file's read() from a C callback that can only print the UnicodeDecodeError.
            check_binary_file(file, option="file")
        super().__init__(format=format, chunk_ms=chunk_ms, name=_describe(file))
        try:
            # libmpg123 (MP3) prints its complaints on fd 2: they go to the log (see _quiet).
            with quiet_native_stderr(self.name):
                self._file: Any = soundfile.SoundFile(_native_path(file))
        except (soundfile.LibsndfileError, OSError, RuntimeError, TypeError) as exc:
            self._closed = True
            reason = _open_error_reason(file, exc)
            if reason:
                raise AudioSourceError(self.name, reason) from exc
            detail = str(getattr(exc, "error_string", "") or exc).strip()
            logger.info("%s: libsndfile: %s", self.name, detail)
            raise NotDecodableError(self.name, f"{NOT_AUDIO} (tried libsndfile)") from exc
        if self._file.format == "OGG" and self._file.frames <= 0:
            # libsndfile takes an Ogg stream's length from its last page; a stream cut short
            # (a partial download) then reads as 0 frames, and soundfile reads no further:
            # the file would silently give no audio. ffmpeg decodes what is there.
            self._file.close()
            self._closed = True
            raise NotDecodableError(self.name, f"{NOT_AUDIO} (tried libsndfile, which finds "
                                    "no length in this Ogg stream: is it truncated?)")
        #: The file's own sample rate and channel count, before conversion.
        self.file_sample_rate: int = int(self._file.samplerate)
        self.file_channels: int = int(self._file.channels)
        #: Frames in the file (may be unknown, -1 or huge, for some streams and formats).
        self.file_frames: int = int(self._file.frames)
        # soundfile allocates a whole block up front, and a header can claim 10 MHz and 255
        # channels (on a pipe nothing checks it against the file size): a chunk of such a file
        # is read in several smaller blocks rather than as one 10 GB array.
        self._block = max(1, min(chunk_samples(self.file_sample_rate, self.chunk_ms),
                                 _MAX_BLOCK_VALUES // max(1, self.file_channels)))
        self._resampler = Resampler(self.file_sample_rate, self.format.sample_rate)
        self._flushed = False
        self._frames_read = 0
        # Formats whose frame count is exact (from the data size or a header total), so that
        # reading fewer means the file shrank; MP3's and Ogg's are estimates, and on a pipe
        # the header's claim is all there is (nothing checked it against a size).
        self._exact_length = (self._file.format in _EXACT_LENGTH and self.file_frames > 0
                              and self._file.seekable())
        # Guards self._file: close() from another thread waits for a block read to finish
        # instead of freeing libsndfile's handle under it.
        self._io_lock = threading.Lock()

    @property
    def duration(self) -> float | None:
        """The file's duration in seconds, when the header says."""
        if self.file_frames <= 0:
            return None
        return self.file_frames / self.file_sample_rate

    def _read(self) -> bytes:
        while True:
            if self._flushed:
                return b""
            try:
                with self._io_lock, quiet_native_stderr(self.name):
                    if self._file.closed:
                        return b""
                    frames = self._file.read(self._block, dtype="float32", always_2d=True)
            except Exception as exc:
                raise AudioSourceError(self.name, f"cannot decode audio: {exc}") from exc
            last = len(frames) < self._block
            self._frames_read += len(frames)
            if last and self._frames_read < self.file_frames and self._exact_length:
                raise AudioSourceError(self.name, (
                    f"the file ended after {self._frames_read / self.file_sample_rate:.1f} s of "
                    f"the {self.duration:.1f} s it had when opened: it shrank while it was read"))
            samples = self._resampler.process(to_mono(frames), last=last)
            self._flushed = last
            if len(samples):
                return encode_audio(samples, self.format)
            # A resampler may hold a whole small block back; keep reading until it yields.

    def _release(self) -> None:
        with self._io_lock:
            self._file.close()
