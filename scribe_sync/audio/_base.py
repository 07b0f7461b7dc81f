"""The ``AudioSource`` base class, the audio exceptions and chunk-size validation."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Final, TypeVar

from scribe_sync.errors import AudioSourceError, ConfigError  # defined there, re-exported here
from scribe_sync.messages import AudioFormat

__all__ = [
    "DEFAULT_CHUNK_MS",
    "EXTRA_OF",
    "MAX_CHUNK_MS",
    "MIN_CHUNK_MS",
    "AudioDependencyError",
    "AudioSource",
    "AudioSourceError",
    "NotDecodableError",
    "check_binary_file",
    "check_format",
    "check_live",
    "chunk_samples",
    "missing_extra",
]

DEFAULT_CHUNK_MS = 100
# docs/protocol.md §3: the docs recommend 0.1-1 s per chunk; LiveKit sends 50 ms frames and the
# service accepts them, so the floor is 20 ms (one typical audio-device period).
MIN_CHUNK_MS = 20
MAX_CHUNK_MS = 1000


class AudioDependencyError(AudioSourceError):
    """A library or program an audio source needs (numpy, soundfile, soxr, PyAudio, ffmpeg) is
    not installed. For a Python library, the message names the extra that installs it.

    On a base install (no ``audio`` extra), ``from scribe_sync.audio import FileSource`` raises
    it with ``extra == "audio"`` and the text ``pip install 'scribe-sync[audio]'``.

    Attributes:
        extra: the ``scribe-sync`` extra that installs what is missing (``"audio"``, ``"mic"``),
            or ``None`` when no extra does (ffmpeg is a program).
    """

    def __init__(self, source: str, reason: str, *, extra: str | None = None) -> None:
        super().__init__(source, reason)
        self.extra = extra


class NotDecodableError(AudioSourceError):
    """A readable file that a decoder does not recognise as audio (private: callers see an
    :class:`AudioSourceError`; :func:`~scribe_sync.audio.open_source` then tries ffmpeg)."""


#: The extra that installs each optional top-level module the audio package uses.
EXTRA_OF: Final = {"numpy": "audio", "soundfile": "audio", "soxr": "audio", "pyaudio": "mic"}


def missing_extra(exc: ImportError, needed_for: str, *, extra: str | None = None,
                  ) -> AudioDependencyError | None:
    """The one-line error for an optional module that failed to import, naming its extra (or
    ``extra``, when the caller knows better: the microphone's numpy comes with ``mic``); None
    when ``exc`` is about something else (a real bug must not hide behind an install hint)."""
    root = (exc.name or "").partition(".")[0]
    if root not in EXTRA_OF:
        return None
    extra = extra or EXTRA_OF[root]
    return AudioDependencyError(
        needed_for, f"{root} is not installed; run: pip install 'scribe-sync[{extra}]'",
        extra=extra,
    )


def check_format(fmt: AudioFormat | str, *, option: str = "audio_format") -> AudioFormat:
    """``fmt`` as an :class:`AudioFormat`; a ConfigError naming ``option`` and the formats."""
    try:
        return AudioFormat(fmt)
    except ValueError:
        allowed = ", ".join(f.value for f in AudioFormat)
        raise ConfigError(
            f"unknown audio format {fmt!r}; expected one of {allowed}", option=option
        ) from None


def check_live(live: object, *, allow_none: bool) -> None:
    """A ConfigError unless ``live`` is True or False (or None, where that means "guess"):
    the string "no" is truthy and would silently turn pacing off."""
    if not (isinstance(live, bool) or (allow_none and live is None)):
        allowed = "True, False or None" if allow_none else "True or False"
        raise ConfigError(f"live must be {allowed}, got {live!r}", option="live")


def check_binary_file(fileobj: object, *, option: str) -> None:
    """A ConfigError naming ``option`` unless ``fileobj`` is a readable binary file object (a
    text-mode file would hand str to code that expects bytes, deep inside a read)."""
    if isinstance(fileobj, io.TextIOBase) or not callable(getattr(fileobj, "read", None)):
        raise ConfigError(
            f"{option} must be a binary file object (opened with 'rb', or sys.stdin.buffer), "
            f"got {type(fileobj).__name__}", option=option,
        )


def _check_chunk_ms(chunk_ms: int) -> int:
    if isinstance(chunk_ms, bool) or not isinstance(chunk_ms, int):
        raise ConfigError(
            f"chunk_ms must be an integer number of milliseconds, got {chunk_ms!r}",
            option="chunk_ms",
        )
    if not MIN_CHUNK_MS <= chunk_ms <= MAX_CHUNK_MS:
        raise ConfigError(
            f"chunk_ms must be between {MIN_CHUNK_MS} and {MAX_CHUNK_MS}, got {chunk_ms}",
            option="chunk_ms",
        )
    return chunk_ms


_S = TypeVar("_S", bound="AudioSource")


def chunk_samples(sample_rate: int, chunk_ms: int) -> int:
    """Samples in one chunk of ``chunk_ms`` at ``sample_rate``, rounded to the nearest sample.

    Exact for every format at multiples of 20 ms; 22.05 kHz at other durations rounds (for
    example 33 ms is 728 samples, 33.016 ms).
    """
    return max(1, round(sample_rate * chunk_ms / 1000))


class AudioSource:
    """Base of every audio source: an iterator of ``bytes`` chunks in :attr:`format`.

    Every chunk holds exactly :attr:`chunk_bytes` bytes of audio (:attr:`chunk_ms` of signal),
    except the last one of a finite source, which may be shorter but is never empty. Sources are
    context managers; :meth:`close` is idempotent and releases the file, device or subprocess.
    A source that reaches its end closes itself.

    Subclasses implement :meth:`_read`, which returns the next audio in the target format (any
    whole number of samples) or ``b""`` at the end, and :meth:`_release`.

    Attributes:
        format: the :class:`~scribe_sync.AudioFormat` of every chunk.
        chunk_ms: the duration of a full chunk, in milliseconds.
        live: True when the audio is produced in real time (a microphone, a live stream).
            Live sources are never paced (:func:`scribe_sync.audio.paced`).
        name: what is being read, for error messages.
    """

    live: bool = False

    def __init__(
        self,
        *,
        format: AudioFormat | str = AudioFormat.PCM_16000,
        chunk_ms: int = DEFAULT_CHUNK_MS,
        name: str = "<audio>",
    ) -> None:
        self.format = check_format(format)
        self.chunk_ms = _check_chunk_ms(chunk_ms)
        self.name = name
        self.chunk_bytes = (
            chunk_samples(self.format.sample_rate, chunk_ms) * self.format.bytes_per_sample
        )
        self._pending = bytearray()
        self._eof = False
        self._closed = False
        # Guards _closed so that close() from two threads releases the resources only once.
        self._close_lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (explicitly, on error or at the end of the audio)."""
        return self._closed

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        self._fill()
        if not self._pending:
            self.close()
            raise StopIteration
        chunk = bytes(self._pending[: self.chunk_bytes])
        del self._pending[: self.chunk_bytes]
        return chunk

    def prefetch(self) -> None:
        """Read the first chunk now (it is kept for iteration), so that a source that cannot be
        read at all, such as a URL that answers 404, fails here, before a session is opened
        for it, rather than at the first chunk.

        Raises:
            AudioSourceError: the source cannot be read (it is then closed).
        """
        if not self._closed:
            self._fill()

    def _fill(self) -> None:
        """Read until a whole chunk is pending (or the end). Also lets a source be checked at
        open time: a decoder that fails on its first block fails here."""
        try:
            while not self._eof and len(self._pending) < self.chunk_bytes:
                data = self._read()
                if not data:
                    self._eof = True
                else:
                    self._pending += data
        except BaseException:
            # Release the device or subprocess on any failure, Ctrl+C included, then let
            # the exception propagate unchanged.
            self.close()
            raise

    def _read(self) -> bytes:
        """The next audio in the target format, ``b""`` at the end. Subclasses override."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free the underlying file, device or process. Called once. Subclasses override."""

    def close(self) -> None:
        """Release the underlying resource. Idempotent; safe from another thread."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._release()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<{type(self).__name__} {self.name!r} {self.format.value} "
            f"{self.chunk_ms} ms live={self.live} {state}>"
        )
