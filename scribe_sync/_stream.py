"""Streaming a source into a session from a background thread (``Session.stream``).

The sender paces the source, commits at quiet chunks with the manual strategy, finishes at the
end, and closes the source. It only calls the session's public methods.
"""

from __future__ import annotations

import array
import logging
import math
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from .errors import ConfigError, ConnectionClosedError, ScribeError
from .messages import AudioFormat, CommitStrategy
from .protocol import SessionOptions


class _Target(Protocol):
    """What the sender needs of a session: its public methods only."""

    @property
    def session_id(self) -> str: ...
    @property
    def options(self) -> SessionOptions: ...
    @property
    def closed(self) -> bool: ...
    def send_audio(self, data: bytes) -> None: ...
    def commit(self) -> bool: ...
    def finish(self) -> None: ...


class _Fail(Protocol):
    """Closes the session with a local failure that its iterators then raise; with
    ``keep_sent``, after committing the audio sent and awaiting its transcripts."""

    def __call__(self, error: ScribeError, *, keep_sent: bool = False) -> None: ...


__all__ = ["StreamHandle", "start_stream"]

logger = logging.getLogger("scribe_sync")


class StreamHandle:
    """The background sender started by :meth:`Session.stream`.

    Attributes:
        error: the exception that stopped the stream early, if any (the session was closed
            with it, so iterators raise it too).
    """

    def __init__(self, thread: threading.Thread, stop: threading.Event) -> None:
        self._thread = thread
        self._stop = stop
        self._stopping = False
        self.error: BaseException | None = None

    @property
    def running(self) -> bool:
        """True while the sender thread is alive."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop sending soon (the session stays open; call finish() or close() on it)."""
        # Once: Event.set takes a lock, which a close() from a signal handler interrupting
        # this very call would wait on for ever.
        if not self._stopping:
            self._stopping = True
            self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the sender to end; returns ``True`` if it has (or never started)."""
        if self._thread.ident is None:  # its start was interrupted before it ran
            return True
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()


def start_stream(session: _Target, source: Iterable[bytes], *, speed: float | str | None,
                 commit_every: float | None, finish: bool, fail: _Fail,
                 register: Callable[[StreamHandle], object] = lambda handle: None
                 ) -> StreamHandle:
    """Validate the arguments and start the sender thread (see ``Session.stream``);
    ``register(handle)`` is called before it starts.

    ``fail(error)`` closes the session with a local failure that its iterators then raise;
    ``fail(error, keep_sent=True)`` first commits the audio sent and awaits its transcripts.
    """
    from .audio import paced

    fmt = session.options.audio_format
    source_format = getattr(source, "format", None)
    if source_format is not None and source_format != fmt:
        raise ConfigError(
            f"source format {source_format} does not match the session's audio_format "
            f"{fmt.value}; open the source with format={fmt.value!r}",
            option="audio_format",
        )
    if speed == "auto":
        speed = 1.0 if session.options.commit_strategy is CommitStrategy.VAD else None
    elif isinstance(speed, str):
        raise ConfigError(f"invalid speed={speed!r}: a number, None or 'auto'", option="speed")
    if commit_every is not None and not (
            isinstance(commit_every, (int, float)) and not isinstance(commit_every, bool)
            and math.isfinite(commit_every) and commit_every >= 1.0):
        raise ConfigError(f"invalid commit_every={commit_every!r}: a finite number of seconds, "
                          "at least 1, or None", option="commit_every")
    stop = threading.Event()
    chunks = paced(source, speed, format=fmt, sleep=stop.wait)
    manual = session.options.commit_strategy is CommitStrategy.MANUAL
    holder: list[StreamHandle] = []
    thread = threading.Thread(
        target=lambda: _run(session, holder[0], source, chunks, stop,
                            commit_every if manual else None, finish, fail),
        name=f"scribe-stream-{session.session_id[:8]}",
        daemon=True,
    )
    handle = StreamHandle(thread, stop)
    holder.append(handle)
    register(handle)
    thread.start()
    return handle


def _run(session: _Target, handle: StreamHandle, source: Iterable[bytes],
         chunks: Iterator[bytes], stop: threading.Event, commit_every: float | None,
         finish: bool, fail: _Fail) -> None:
    fmt = session.options.audio_format
    rate = fmt.bytes_per_second
    since_commit = 0
    # True while waiting for the source: an error then is the source's, and what was already
    # sent is still worth its transcript (a file damaged midway, a microphone unplugged).
    reading = False
    try:
        while True:
            reading = True
            chunk = next(chunks, None)
            reading = False
            if chunk is None:
                break
            if stop.is_set():
                return
            session.send_audio(chunk)
            since_commit += len(chunk)
            if commit_every is not None and since_commit >= commit_every * rate and (
                since_commit >= 1.5 * commit_every * rate or is_quiet(chunk, fmt)
            ):
                session.commit()
                since_commit = 0
        if finish and not stop.is_set():
            session.finish()
    except ConnectionClosedError:
        # The session has ended with this (or a server error that explains it); iterators
        # report it, so the sender just stops.
        pass
    except ScribeError as exc:
        # After a close (by the user, a callback or the server) sending fails by design;
        # the session's own ending is what iterators report. Otherwise, end it with this.
        if not session.closed and not stop.is_set():
            handle.error = exc
            fail(exc, keep_sent=reading)
    except TimeoutError as exc:  # finish() gave up waiting; the session is closed, and ended
        # with IncompleteTranscriptError when answers were missing (iterators raise that)
        handle.error = exc
        logger.warning("%s: %s", session.session_id, exc)
    except Exception as exc:
        handle.error = exc
        # One line: the error itself reaches the caller (chained below), so a traceback in
        # the log would only repeat it.
        logger.error("%s: streaming failed: %r", session.session_id, exc)
        error = ConnectionClosedError(f"streaming failed: {exc!r}")
        error.__cause__ = exc  # as `raise error from exc` would: the source's own traceback
        fail(error, keep_sent=reading)
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()


def is_quiet(chunk: bytes, fmt: AudioFormat) -> bool:
    """Whether a PCM chunk is near silence (a better place to cut a segment)."""
    if fmt.is_ulaw or len(chunk) < 2:
        return False
    samples = array.array("h", chunk[: len(chunk) - len(chunk) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return max(map(abs, samples)) < 1000  # about -30 dBFS
