"""A blocking realtime session: threads, locks and waiting around :class:`SessionState`.

Every protocol rule lives in :mod:`scribe_sync._state`; this module moves frames and wakes
threads. Who does what:

- Reading is a role, not a thread (leader/follower): whoever waits for the next event reads
  the socket. ``for event in session`` reads on the caller's own thread, with no hand-off.
  The background thread ``scribe-reader-<id>`` reads only while nobody waits in :meth:`recv`
  (for a short while after the last call) or while callbacks are registered; it also sends
  the idle keepalive, checks for stalled commits and runs reconnects. On the main thread,
  where a ``KeyboardInterrupt`` can land at any bytecode, each read is a guarded step
  (:mod:`scribe_sync._signals`): wait for the socket where an interrupt loses nothing, then
  read, parse and queue one frame with SIGINT deferred until it is queued.
- Writing is a role too: a thread that queues frames writes them itself unless another thread
  is writing, which then writes them too. No lock that ``stats``, ``commit`` or ``finish``
  need is held during a socket write.
- ``scribe-dispatch-<id>`` exists once a callback is registered and runs callbacks in order.
- Waiting never uses ``Condition.wait``: its lock restore can be broken by a second
  ``KeyboardInterrupt`` on the main thread. A waiter blocks on a private lock of its own.

Any thread may call :meth:`Session.send_audio`, :meth:`Session.commit`,
:meth:`Session.finish` and :meth:`Session.close`; one thread at a time may receive.

This module holds the public methods; the state, waiting and the two roles are in
:mod:`scribe_sync._driver`, the two threads in :mod:`scribe_sync._background`, streaming a source
in :mod:`scribe_sync._stream`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import attrs

from . import _background
from ._driver import (
    CLOSE_REASON,
    IDLE_TICK,
    OUTBOX_LIMIT,
    Connector,  # noqa: F401  (importable from here, as before)
    Driver,
    SessionEnded,
    check_timeout,
    fresh,
)
from ._state import (  # the constants stay importable from here, as before
    COMMIT_PAD_SECONDS,  # noqa: F401
    CONTEXT_CHARS,  # noqa: F401
    KEEPALIVE_SECONDS,  # noqa: F401
    MAX_CHUNK_SECONDS,  # noqa: F401
    MIN_COMMIT_SECONDS,  # noqa: F401
    UNSOLICITED_COMMIT_MARGIN_SECONDS,  # noqa: F401
)
from ._stream import StreamHandle, start_stream
from ._transport import ABNORMAL_CLOSURE
from .errors import ConnectionClosedError, LocalProtocolError, ScribeError
from .messages import Event

__all__ = ["Session", "SessionEnded", "SessionStats", "StreamHandle", "Subscription"]

E = TypeVar("E", bound=Event)


@attrs.frozen
class SessionStats:
    """A snapshot of a session's counters. Audio counts are the caller's audio only; the
    padding before short commits and the keepalive silence are counted apart."""

    audio_bytes_sent: int
    audio_seconds_sent: float
    uncommitted_seconds: float
    commits_sent: int
    keepalives_sent: int
    events_received: int
    partials_dropped: int
    malformed_frames: int
    reconnects: int
    buffered_seconds: float
    padding_seconds_sent: float = 0.0
    keepalive_seconds_sent: float = 0.0
    #: Committed transcripts the server sent twice (same text, same word times), dropped.
    repeated_answers_dropped: int = 0



class Subscription:
    """Handle returned by :meth:`Session.on`; ``cancel()`` (or calling it) unsubscribes."""

    __slots__ = ("_callback", "_event_type", "_session")

    def __init__(self, session: Session, event_type: type[Event], callback: Callable[[Any], Any]):
        self._session = session
        self._event_type = event_type
        self._callback = callback

    def cancel(self) -> None:
        """Stop receiving events. Idempotent; events already being dispatched may still arrive."""
        with self._session._lock:
            if self in self._session._subscriptions:
                self._session._subscriptions.remove(self)

    __call__ = cancel

    def __repr__(self) -> str:
        return f"<Subscription {self._event_type.__name__} -> {self._callback!r}>"



class Session(Driver):
    """An open realtime transcription session. Create one with ``ScribeClient.connect``.

    Use it as a context manager: leaving the block normally calls :meth:`finish` (commit what is
    uncommitted, wait for the final transcripts, close); leaving it with an exception calls
    :meth:`close` at once.
    """

    def send_audio(self, data: bytes | bytearray | memoryview, *, previous_text: str | None = None
                   ) -> None:
        """Send raw audio in the session's ``audio_format``. Thread-safe.

        Large buffers are split into frames of at most 1 s; a trailing partial sample is kept
        and sent with the next call, so any slicing of a PCM stream is safe.

        Args:
            data: raw audio bytes (16-bit little-endian PCM, or mu-law), no container.
            previous_text: text context for the model; only allowed with the first chunk.

        Raises:
            LocalProtocolError: ``previous_text`` after the first chunk, or the session is closed.
            AudioBufferFullError: with reconnect on, the replay buffer is full; nothing was sent.
            ServerError, ConnectionClosedError: the session has ended with that error; the audio
                was not sent.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"audio must be bytes, not {type(data).__name__}")
        if previous_text is not None:
            _check_text("previous_text", previous_text)
        with self._lock:
            self._check_open("send audio")
            self._queue(self._state.audio(data, previous_text, time.monotonic()))
        self._flush()
        while True:  # a slow peer: wait for the writer; report an ending that came meanwhile
            with self._lock:
                if self._ended:
                    self._check_open("send audio")
                if self._closing:
                    raise LocalProtocolError("the session was closed while sending audio")
                # After a failed write the reader decides at once what the ending is (with
                # reconnect on, the audio is kept for the replay and this call succeeds).
                if self._outbox_bytes <= OUTBOX_LIMIT and (
                        self._send_failure is None or self._lost is not None):
                    return
                waiter = self._waiter()
                self._outbox_waiting += 1
            try:
                self._doze(waiter, IDLE_TICK)
            finally:
                with self._lock:
                    self._outbox_waiting -= 1
            self._flush()

    def commit(self) -> bool:
        """Commit the uncommitted audio: its ``committed_transcript`` will follow.

        The service refuses commits of less than 0.3 s (``commit_throttled``). This method
        never provokes that: with no uncommitted audio it sends nothing and returns ``False``;
        with less than 0.3 s it first pads the segment with silence to 0.35 s.

        Returns:
            ``True`` when a commit was sent.
        """
        with self._lock:
            self._check_open("commit")
            before = self._state.commits_sent
            self._queue(self._state.commit(time.monotonic()))
            sent = self._state.commits_sent > before
        self._flush()
        return sent

    def recv(self, timeout: float | None = None) -> Event | None:
        """The next event, in arrival order; ``None`` once the session has ended normally.

        Raises:
            TimeoutError: nothing arrived within ``timeout`` seconds.
            ValueError: ``timeout`` is negative or not finite.
            ServerError: the server ended the session with that error (after the matching
                ``ErrorEvent`` was returned).
            ConnectionClosedError: the connection failed.
            LocalProtocolError: another thread is already receiving.
        """
        return self._receive(timeout)

    def __iter__(self) -> Iterator[Event]:
        """Iterate over events until the session ends; see :meth:`recv` for what is raised."""
        while (event := self.recv()) is not None:
            yield event

    def on(self, event_type: type[E], callback: Callable[[E], Any]) -> Subscription:
        """Call ``callback(event)`` on the dispatcher thread for every event of ``event_type``.

        Pass :class:`~scribe_sync.messages.Event` to receive everything, including the final
        :class:`SessionEnded`. Callbacks run one at a time in arrival order; an exception is
        logged with its traceback and does not end the session.
        """
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError("event_type must be an Event class, e.g. CommittedTranscript")
        subscription = Subscription(self, event_type, callback)
        with self._lock:
            self._subscriptions.append(subscription)
            start = self._dispatcher is None
            if start:
                self._dispatcher = threading.Thread(
                    target=_background.dispatch, args=(self,),
                    name=f"scribe-dispatch-{self.session_id[:8]}", daemon=True)
                if self._ended:
                    self._dispatch_queue.append(
                        SessionEnded(self.close_code, self.close_reason, self._end_error))
            self._notify()
        if start:
            assert self._dispatcher is not None
            self._dispatcher.start()
        self._transport.wake()  # the background thread reads from now on
        return subscription

    def stream(self, source: Iterable[bytes], *, speed: float | str | None = "auto",
               commit_every: float | None = 20.0, finish: bool = True) -> StreamHandle:
        """Send ``source`` from a background thread (``scribe-stream-<id>``).

        Args:
            source: an :class:`~scribe_sync.audio.AudioSource` in the session's format, or any
                iterable of raw chunks in that format.
            speed: ``1.0`` sends at real time, another number is a speed factor, ``None`` sends
                as fast as possible. ``"auto"`` (the default) means real time with the VAD
                strategy, whose decisions follow the audio's timing, and as fast as possible
                otherwise. Live sources (``source.live``) are never paced.
            commit_every: with the manual strategy, commit after about this many seconds of
                audio, at the next quiet chunk (or at 1.5 times the interval), because the
                service auto-commits long segments on its own and many short ones hurt quality
                (PROTOCOL.md §6). ``None`` commits only at the end.
            finish: call :meth:`finish` at the end of the source (the default), so that
                iteration ends once the last transcript has arrived.

        The stream stops promptly when the session closes, and closes the source at the end. If
        the source fails, the session is closed with that error, which iterators then raise.

        Raises:
            ConfigError: the source's format is not the session's.
        """
        handle = start_stream(self, source, speed=speed, commit_every=commit_every,
                              finish=finish)
        self._streams.append(handle)
        return handle

    def _fail(self, error: ScribeError) -> None:
        """Close the session because of a local failure that iterators should see."""
        with self._lock:
            if self._local_error is None and not (self._closing or self._ended):
                self._local_error = error
        self.close()

    def finish(self, timeout: float | None = None) -> None:
        """Commit what is uncommitted, wait for every commit's transcripts, then close.

        Waits for the ``committed_transcript`` of every commit sent (and its timestamped twin
        when timestamps or language detection are on). If another thread calls :meth:`close`
        meanwhile, ``finish`` returns once the session has closed.

        Args:
            timeout: seconds to wait for the final transcripts; the client's ``finish_timeout``
                when ``None``.

        Raises:
            TimeoutError: the transcripts did not all arrive in time (the session is closed).
            ValueError: ``timeout`` is negative or not finite.
            ServerError, ConnectionClosedError: the session had ended with that error.
        """
        check_timeout("timeout", timeout)
        timeout = self._finish_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._lock:
            if not (self._closing or self._ended):
                self._queue(self._state.commit(time.monotonic()))
            self._state.finishing = True
            self._notify()
        self._flush()
        self._transport.wake()  # the reader re-checks: nothing pauses while finishing
        while True:
            with self._lock:
                state = self._state
                done = self._ended or state.answered
                remaining = deadline - time.monotonic()
                if done or remaining <= 0:
                    unanswered = state.pending_plain
                    answered = state.answered
                    # Once every commit is answered the transcript is complete: how the
                    # connection ends afterwards no longer concerns finish().
                    error = self._end_error if self._ended and not answered else None
                    # Another thread's close() ended the wait: closing discards what is
                    # unanswered, by request, so that is not finish()'s to report.
                    closed_by_caller = self._closing
                    break
                waiter = self._waiter()
            self._doze(waiter, remaining)
        self.close()
        if error is not None:
            raise fresh(error)
        if closed_by_caller:
            return
        if done and unanswered > 0:
            raise ConnectionClosedError(
                f"the server ended the session before answering {unanswered} commit(s); "
                "the transcript tail is missing",
                code=self.close_code,
                reason=self.close_reason,
            )
        if not done:
            raise TimeoutError(f"the final transcripts did not arrive within {timeout:g} s")

    def close(self) -> None:
        """Close the session now. Idempotent, bounded by the close timeout, safe from a callback.

        Uncommitted audio is not transcribed; use :meth:`finish` to keep it. Afterwards every
        thread the session started has ended (except the calling callback's own dispatcher,
        which ends as soon as the callback returns, and a reconnect attempt still connecting,
        which ends within its open timeout and discards its new connection).
        """
        deadline = time.monotonic() + self._close_timeout
        with self._lock:
            first = not self._closing
            self._closing = True
            send_close = first and not self._ended and self._lost is None
            self._outbox.clear()  # closing discards what is not yet written
            self._outbox_bytes = 0
            transport = self._transport
            self._notify()
        if send_close and self._write_role.acquire(timeout=self._close_timeout):
            try:
                transport.send_close(1000, CLOSE_REASON)
            except ScribeError:
                pass  # the socket is already gone; the reader will notice
            finally:
                self._write_role.release()
        transport.wake()
        current = threading.current_thread()
        for handle in self._streams:
            handle.stop()
            handle.join(max(0.0, deadline - time.monotonic()))
        self._wait_ended(deadline)
        with self._lock:
            ended = self._ended
            transport = self._transport
        if not ended:
            # The server did not answer the close handshake in time: cut the socket.
            transport.abort()
            self._wait_ended(time.monotonic() + 0.5)
            with self._lock:
                self._end_locked(ABNORMAL_CLOSURE, "", None)
        if current is not self._reader:
            self._reader.join(max(0.1, deadline - time.monotonic()))
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher is not current:
            dispatcher.join(max(0.1, deadline - time.monotonic()))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.close()

    @property
    def transcript(self) -> str:
        """The committed text so far: each commit once, in order, joined with spaces."""
        with self._lock:
            return self._state.transcript

    @property
    def closed(self) -> bool:
        """True once the session has ended."""
        with self._lock:
            return self._ended

    @property
    def stats(self) -> SessionStats:
        """Counters: audio sent, uncommitted audio, events received, ..."""
        with self._lock:
            s = self._state
            return SessionStats(
                audio_bytes_sent=s.audio_bytes,
                audio_seconds_sent=s.seconds(s.audio_bytes),
                uncommitted_seconds=s.seconds(s.uncommitted_bytes),
                commits_sent=s.commits_sent,
                keepalives_sent=s.keepalives_sent,
                events_received=s.events_received,
                partials_dropped=self._partials_dropped,
                malformed_frames=s.malformed_frames,
                reconnects=s.reconnects,
                buffered_seconds=s.seconds(s.retained_bytes),
                padding_seconds_sent=s.seconds(s.padding_bytes),
                keepalive_seconds_sent=s.seconds(s.keepalive_bytes),
                repeated_answers_dropped=s.repeats_dropped,
            )

    def __repr__(self) -> str:
        state = "ended" if self._ended else "closing" if self._closing else "open"
        return f"<Session {self.session_id} {state} {self._format.value}>"


def _check_text(option: str, value: object) -> None:
    """Text sent on the wire must be a str that UTF-8 can encode (no lone surrogates)."""
    from .errors import ConfigError

    if not isinstance(value, str):
        raise ConfigError(f"{option} must be a str, not {type(value).__name__}", option=option)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{option} is not valid Unicode text (it holds a lone surrogate)",
                          option=option) from None
