"""A blocking realtime session: a reader thread, an event queue, a callback dispatcher.

Threads (all named, all joined by :meth:`Session.close`):

- ``scribe-reader-<id>`` owns every receive. It decodes frames, updates the commit bookkeeping,
  queues events for iterators and for the dispatcher, and sends the idle keepalive. It never
  runs user code.
- ``scribe-dispatch-<id>`` exists once a callback is registered. It runs callbacks one at a
  time, in arrival order, so a slow callback delays other callbacks but never the reader.

Any thread may call :meth:`Session.send_audio`, :meth:`Session.commit`,
:meth:`Session.finish` and :meth:`Session.close`; one thread at a time may receive.
"""

from __future__ import annotations

import array
import collections
import contextlib
import functools
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Final, TypeVar

import attrs

from ._transport import ABNORMAL_CLOSURE, Frame, Transport
from .errors import (
    ConfigError,
    ConnectionClosedError,
    LocalProtocolError,
    RemoteProtocolError,
    ScribeError,
    server_error_class,
)
from .messages import (
    CommitStrategy,
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    DiarizedTranscript,
    ErrorEvent,
    Event,
    InputAudioChunk,
    PartialTranscript,
    ServerEvent,
    SessionConfig,
    SessionStarted,
    Word,
)
from .protocol import SessionOptions, decode, encode
from .reconnect import AudioBufferFullError, Reconnected, Reconnecting, ReconnectPolicy

__all__ = ["Session", "SessionEnded", "SessionStats", "StreamHandle", "Subscription"]

logger = logging.getLogger("scribe_sync")

E = TypeVar("E", bound=Event)

#: The service refuses a commit with less than 0.3 s of uncommitted audio (PROTOCOL.md §6);
#: integrators pad to 0.35 s to stay clear of rounding on the server.
MIN_COMMIT_SECONDS: Final = 0.3
COMMIT_PAD_SECONDS: Final = 0.35
#: Docs recommend 0.1-1 s per chunk; larger sends are split so no frame risks
#: chunk_size_exceeded, whose limit is unpublished (PROTOCOL.md Q16).
MAX_CHUNK_SECONDS: Final = 1.0
#: Keepalive audio: 20 ms of silence, as integrators who captured the live service do
#: (PROTOCOL.md §6 "Idle"). Pings do not count as activity there.
KEEPALIVE_SECONDS: Final = 0.02
#: After the final commit is answered, these errors mean "nothing more to do", not failure
#: (the server may answer a trailing commit or idle socket with them; PROTOCOL.md §6).
_LATE_FINALIZATION_ERRORS: Final = frozenset(
    {"commit_throttled", "input_error", "insufficient_audio_activity"}
)
_NORMAL_CLOSE_CODES: Final = frozenset({1000, 1005})
#: After an unsolicited commit (VAD or auto-commit), audio this recent is kept for replay: the
#: service commits once silence follows speech, so the last second before the commit arrives is
#: after the committed speech (PROTOCOL.md §6 measures 0.7-0.9 s from speech end to commit).
UNSOLICITED_COMMIT_MARGIN_SECONDS: Final = 1.0
#: previous_text sent with replayed audio: the end of the committed text (docs: best under 50).
CONTEXT_CHARS: Final = 50

Connector = Callable[[], "tuple[Transport, SessionStarted, tuple[ServerEvent, ...]]"]
_CLOSE_REASON: Final = "User ended session"


@functools.cache
def _silence(ulaw: bool, size: int) -> bytes:
    """One second of silence, shared by every session of that format (32 KB at 16 kHz)."""
    return (b"\xff" if ulaw else b"\x00") * size  # mu-law 0xFF encodes 0


@attrs.frozen
class SessionEnded(Event):
    """Client-side event given to callbacks (not iterators) when the session has ended.

    ``error`` is what an iterator raises at the end (``None`` for a normal ending).
    """

    code: int | None
    reason: str
    error: ScribeError | None = None


@attrs.frozen
class SessionStats:
    """A snapshot of a session's counters."""

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


class Subscription:
    """Handle returned by :meth:`Session.on`; ``cancel()`` (or calling it) unsubscribes."""

    __slots__ = ("_callback", "_event_type", "_session")

    def __init__(self, session: Session, event_type: type[Event], callback: Callable[[Any], Any]):
        self._session = session
        self._event_type = event_type
        self._callback = callback

    def cancel(self) -> None:
        """Stop receiving events. Idempotent; events already being dispatched may still arrive."""
        self._session._unsubscribe(self)

    __call__ = cancel

    def __repr__(self) -> str:
        return f"<Subscription {self._event_type.__name__} -> {self._callback!r}>"


class StreamHandle:
    """The background sender started by :meth:`Session.stream`.

    Attributes:
        error: the exception that stopped the stream early, if any (the session was closed
            with it, so iterators raise it too).
    """

    def __init__(self, thread: threading.Thread, stop: threading.Event) -> None:
        self._thread = thread
        self._stop = stop
        self.error: BaseException | None = None

    @property
    def running(self) -> bool:
        """True while the sender thread is alive."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop sending soon (the session stays open; call finish() or close() on it)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the sender to end; returns ``True`` if it has."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()


class Session:
    """An open realtime transcription session. Create one with ``ScribeClient.connect``.

    Use it as a context manager: leaving the block normally calls :meth:`finish` (commit what is
    uncommitted, wait for the final transcripts, close); leaving it with an exception calls
    :meth:`close` at once.
    """

    def __init__(
        self,
        transport: Transport,
        started: SessionStarted,
        options: SessionOptions,
        *,
        early_events: tuple[ServerEvent, ...] = (),
        close_timeout: float = 5.0,
        finish_timeout: float = 30.0,
        keepalive_interval: float | None = 5.0,
        max_queue: int | None = 4096,
        reconnect: ReconnectPolicy | None = None,
        connector: Connector | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        if reconnect is not None and connector is None:
            raise ValueError("reconnect needs a connector")
        self.session_id: str = started.session_id
        self.config: SessionConfig = started.config
        self.options: SessionOptions = options
        self._transport = transport
        self._format = options.audio_format
        self._close_timeout = close_timeout
        self._finish_timeout = finish_timeout
        self._keepalive_interval = keepalive_interval
        self._max_queue = max_queue
        self._twin_expected = options.expects_timestamped_twin
        self._silence = _silence(self._format.is_ulaw, self._format.bytes_per_second)
        bps = self._format.bytes_per_sample
        self._max_chunk_bytes = int(MAX_CHUNK_SECONDS * self._format.bytes_per_second) // bps * bps

        # _send_lock guards the transport's send side and the send counters below. It is held
        # during socket writes, so nothing that must stay responsive waits on it unboundedly.
        self._send_lock = threading.Lock()
        self._carry = b""  # a trailing partial sample, sent with the next call
        self._chunks_sent = 0
        self._bytes_sent = 0
        self._uncommitted_bytes = 0
        self._commits_sent = 0
        self._keepalives_sent = 0
        self._last_send = time.monotonic()

        # Reconnect state. _retained (guarded by _cond; appended with _send_lock held too) is
        # the audio no committed transcript has covered yet, in order, with None marking where
        # each unanswered commit was sent. _covered_bytes is the session-clock position of its
        # first byte; _offset_bytes the position where the current connection's clock starts.
        self._policy = reconnect
        self._connector = connector
        self._open_timeout = open_timeout
        self._rng = random.Random(None if reconnect is None else reconnect.seed)
        self._retained: collections.deque[bytes | None] = collections.deque()
        self._retained_bytes = 0
        limit = 0.0 if reconnect is None else reconnect.buffer_seconds
        self._retain_limit = int(limit * self._format.bytes_per_second)
        self._covered_bytes = 0
        self._offset_bytes = 0
        self._reconnecting = False
        self._reconnects = 0
        # Failed attempts since the last healthy connection, and when that streak began. A new
        # connection counts as healthy once it delivers a message after session_started: a
        # server that accepts and then drops at once must not reset the count (PEERS.md (d)).
        self._streak = 0
        self._streak_since = 0.0
        self._waiting_since: float | None = None  # when the oldest unanswered commit was sent
        self._first_previous_text: str | None = None

        # _cond (over _state_lock) guards the event queues, the commit bookkeeping, the
        # transcript and the ending. Never held while calling user code or doing socket I/O.
        self._state_lock = threading.Lock()
        self._cond = threading.Condition(self._state_lock)
        self._events: collections.deque[Event] = collections.deque(early_events)
        self._receiving = False
        self._pending_plain = 0  # commits whose committed_transcript has not arrived
        self._pending_twin = 0  # ... whose committed_transcript_with_timestamps has not arrived
        self._segments: list[str] = []
        self._events_received = len(early_events)
        self._partials_dropped = 0
        self._malformed = 0
        self._last_error: ErrorEvent | None = None
        self._finishing = False
        self._closing = False  # close() started: a close frame was or is being sent
        self._ended = False  # the reader has exited; the ending below is final
        self._end_error: ScribeError | None = None
        self._local_error: ScribeError | None = None  # why we closed, when it was a failure
        self._streams: list[StreamHandle] = []
        self.close_code: int | None = None
        self.close_reason: str = ""

        # _callbacks_lock guards the subscription list and the dispatcher's creation; the
        # dispatch queue itself is guarded by _cond, like the iterator queue.
        self._callbacks_lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._dispatch_queue: collections.deque[Event] = collections.deque()
        self._dispatcher: threading.Thread | None = None
        self._dispatching = False  # guarded by _cond: events are queued for the dispatcher

        short = self.session_id[:8]
        self._reader = threading.Thread(
            target=self._read_loop, name=f"scribe-reader-{short}", daemon=True
        )
        self._reader.start()

    # ------------------------------------------------------------------------------------------
    # Sending

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
            ServerError, ConnectionClosedError: the session has ended with that error; the audio
                was not sent.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"audio must be bytes, not {type(data).__name__}")
        if previous_text is not None:
            _check_text("previous_text", previous_text)
        with self._send_lock:
            self._check_open("send audio")
            if previous_text is not None and self._chunks_sent:
                raise LocalProtocolError(
                    "previous_text is only allowed with the first audio chunk of a session "
                    "(the service discards a later chunk that carries it)"
                )
            buffer = self._carry + bytes(data) if self._carry else bytes(data)
            usable = len(buffer) - len(buffer) % self._format.bytes_per_sample
            if self._policy is not None:
                with self._cond:
                    if self._retained_bytes + usable > self._retain_limit:
                        held = self._retained_bytes / self._format.bytes_per_second
                        raise AudioBufferFullError(
                            f"reconnect buffer full: {held:.1f} s "
                            "of audio not yet covered by a committed transcript (commit more "
                            "often, or raise ReconnectPolicy.buffer_seconds); nothing was sent"
                        )
            if previous_text is not None:
                self._first_previous_text = previous_text
            self._carry = buffer[usable:]
            if usable == 0 and previous_text is None:
                return
            for start in range(0, max(usable, 1), self._max_chunk_bytes):
                piece = buffer[start : min(start + self._max_chunk_bytes, usable)]
                self._send_chunk(piece, previous_text=previous_text)
                previous_text = None

    def _send_chunk(self, audio: bytes, *, previous_text: str | None = None,
                    commit: bool = False) -> None:
        """Send one frame. Caller holds ``_send_lock``."""
        assert self._send_lock.locked()
        frame = encode(
            InputAudioChunk(audio, commit, self._format.sample_rate, previous_text)
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s > input_audio_chunk audio=%d bytes commit=%s%s", self.session_id,
                         len(audio), commit, " previous_text" if previous_text else "")
        if self._policy is None:
            self._transport.send_text(frame)
        else:
            with self._cond:
                if audio:
                    self._retained.append(audio)
                    self._retained_bytes += len(audio)
                if commit:
                    self._retained.append(None)
                reconnecting = self._reconnecting
            if not reconnecting:
                try:
                    self._transport.send_text(frame)
                except ConnectionClosedError:
                    # Kept in _retained: the reader sees the loss, reconnects and replays it.
                    logger.debug("%s: send failed; audio kept for replay", self.session_id)
        self._chunks_sent += 1
        self._bytes_sent += len(audio)
        self._uncommitted_bytes += len(audio)
        self._last_send = time.monotonic()

    def commit(self) -> bool:
        """Commit the uncommitted audio: its ``committed_transcript`` will follow.

        The service refuses commits of less than 0.3 s (``commit_throttled``). This method
        never provokes that: with no uncommitted audio it sends nothing and returns ``False``;
        with less than 0.3 s it first pads the segment with silence to 0.35 s.

        Returns:
            ``True`` when a commit was sent.
        """
        with self._send_lock:
            self._check_open("commit")
            return self._commit_locked()

    def _commit_locked(self) -> bool:
        assert self._send_lock.locked()
        self._carry = b""  # half a sample cannot be sent; it is below any audible duration
        if self._uncommitted_bytes == 0:
            return False
        need = int(COMMIT_PAD_SECONDS * self._format.bytes_per_second)
        if self._uncommitted_bytes < MIN_COMMIT_SECONDS * self._format.bytes_per_second:
            pad = need - self._uncommitted_bytes
            self._send_chunk(self._silence[: pad - pad % self._format.bytes_per_sample])
        with self._cond:
            # Counted before sending: the answer may arrive before send returns.
            if self._pending_plain == 0:
                self._waiting_since = time.monotonic()
            self._pending_plain += 1
            self._pending_twin += self._twin_expected
        self._send_chunk(b"", commit=True)
        self._commits_sent += 1
        self._uncommitted_bytes = 0
        return True

    def _check_open(self, what: str) -> None:
        with self._cond:
            if self._ended and self._end_error is not None:
                raise self._end_error
            if self._closing or self._ended:
                raise LocalProtocolError(f"cannot {what}: the session is closed")

    def _keepalive(self) -> None:
        """Send a little silence if nothing was sent for a while (reader thread)."""
        interval = self._keepalive_interval
        if interval is None or time.monotonic() - self._last_send < interval:
            return
        # Never wait for the lock: if someone holds it, audio is flowing anyway.
        if not self._send_lock.acquire(blocking=False):
            return
        try:
            if self._closing or self._ended:
                return
            n = int(KEEPALIVE_SECONDS * self._format.bytes_per_second)
            self._send_chunk(self._silence[: n - n % self._format.bytes_per_sample])
            self._keepalives_sent += 1
        except ScribeError:
            pass  # the reader will see the failure on its next receive
        finally:
            self._send_lock.release()

    # ------------------------------------------------------------------------------------------
    # Receiving

    def recv(self, timeout: float | None = None) -> Event | None:
        """The next event, in arrival order; ``None`` once the session has ended normally.

        Raises:
            TimeoutError: nothing arrived within ``timeout`` seconds.
            ServerError: the server ended the session with that error (after the matching
                ``ErrorEvent`` was returned).
            ConnectionClosedError: the connection failed.
            LocalProtocolError: another thread is already receiving.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._receiving:
                raise LocalProtocolError("another thread is already receiving from this session")
            self._receiving = True
            try:
                while not self._events and not self._ended:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"no event within {timeout:g} s")
                    self._cond.wait(remaining)
                if self._events:
                    event = self._events.popleft()
                    self._cond.notify_all()  # the reader may be waiting for room
                    return event
                if self._end_error is not None:
                    raise self._end_error
                return None
            finally:
                self._receiving = False

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
        with self._callbacks_lock:
            self._subscriptions.append(subscription)
            if self._dispatcher is None:
                with self._cond:
                    self._dispatching = True
                    if self._ended:
                        self._dispatch_queue.append(self._ended_event())
                self._dispatcher = threading.Thread(
                    target=self._dispatch_loop,
                    name=f"scribe-dispatch-{self.session_id[:8]}",
                    daemon=True,
                )
                self._dispatcher.start()
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._callbacks_lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def _read_loop(self) -> None:
        while True:
            code, reason, error = self._pump()
            if self._policy is not None:
                with self._cond:
                    ending = error if error is not None else self._ending_error(code, reason)
                    wanted = not self._closing and not (
                        self._finishing and self._pending_plain == 0 and self._pending_twin == 0
                    )
                if wanted and ReconnectPolicy.retryable(ending, code):
                    if self._reconnect(ending, code, reason):
                        continue
                    return
            self._end(code, reason, error)
            return

    def _pump(self) -> tuple[int | None, str, ScribeError | None]:
        """Receive on the current connection until it ends; how it ended."""
        tick = 0.5 if self._keepalive_interval is None else min(0.5, self._keepalive_interval / 2)
        error: ScribeError | None = None
        code: int | None = None
        reason = ""
        try:
            while True:
                frame = self._transport.recv(tick)
                if frame is None:
                    self._keepalive()
                    self._check_stalled()
                    continue
                if frame.kind == "close":
                    code, reason = frame.code, frame.reason
                    break
                self._on_frame(frame)
                if self._keepalive_interval is not None:
                    self._keepalive()
        except ConnectionClosedError as exc:
            code = exc.code or ABNORMAL_CLOSURE
            error = exc
        except Exception as exc:  # pragma: no cover - a bug; end the session, don't hang it
            logger.exception("%s: reader failed", self.session_id)
            error = ConnectionClosedError(f"reader failed: {exc!r}", code=ABNORMAL_CLOSURE)
        finally:
            self._transport.abort()
        return code, reason, error

    def _check_stalled(self) -> None:
        """With reconnect on, a commit left unanswered too long means a stalled connection."""
        policy = self._policy
        since = self._waiting_since
        if policy is None or since is None or self._closing:
            return
        if time.monotonic() - since > policy.answer_timeout:
            raise ConnectionClosedError(
                f"no answer to a commit within {policy.answer_timeout:g} s: the connection is "
                "stalled",
                code=ABNORMAL_CLOSURE,
            )

    def _emit(self, event: Event) -> None:
        """Deliver a client-side event to iterators and callbacks (reader thread)."""
        with self._cond:
            self._enqueue(event)
            if self._dispatching:
                self._queue_for_dispatch(event)

    def _reconnect(self, error: ScribeError | None, code: int | None, reason: str) -> bool:
        """Replace the lost connection and replay the retained audio (reader thread).

        Returns ``True`` with a new connection in place, or ``False`` after ending the session
        (closed meanwhile, or the policy gave up: the last error is then the session's error).
        """
        policy = self._policy
        connector = self._connector
        assert policy is not None and connector is not None
        last: BaseException = error or ConnectionClosedError(
            f"the server closed the connection (code {code})", code=code, reason=reason
        )
        with self._cond:
            self._reconnecting = True
            if self._streak == 0:
                self._streak_since = time.monotonic()
            attempt = self._streak
        while True:
            attempt += 1
            with self._cond:
                self._streak = attempt
            if (attempt > policy.max_attempts
                    or time.monotonic() - self._streak_since > policy.budget):
                break
            delay = policy.delay(attempt, last, self._rng)
            logger.info("%s: connection lost (%s); reconnect attempt %d in %.2f s",
                        self.session_id, last, attempt, delay)
            self._emit(Reconnecting(attempt, delay, last if isinstance(last, ScribeError)
                                    else None))
            with self._cond:
                closed = self._cond.wait_for(lambda: self._closing, timeout=delay)
            if closed:
                self._end(code, reason, None)
                return False
            try:
                transport, started, early = connector()
            except (ScribeError, TimeoutError) as exc:
                last = exc
                if not ReconnectPolicy.retryable(exc, getattr(exc, "code", None)):
                    break
                continue
            try:
                replayed = self._resume(transport, started)
            except ConnectionClosedError as exc:
                transport.abort()
                last = exc
                continue
            if replayed is None:  # close() came while connecting: the new socket is not used
                transport.abort()
                self._end(code, reason, None)
                return False
            self._reconnects += 1
            for event in early:
                self._emit(event)
            self._emit(Reconnected(attempt, started.session_id,
                                   replayed / self._format.bytes_per_second))
            logger.info("%s: reconnected as %s, replayed %.2f s", self.session_id,
                        started.session_id, replayed / self._format.bytes_per_second)
            return True
        if isinstance(last, ScribeError):
            final = last
        else:  # a TimeoutError while connecting: keep it as the cause
            final = ConnectionClosedError(f"reconnect failed: {last}", code=code)
            final.__cause__ = last
        final.reconnect_attempts = attempt - 1
        final.undelivered_audio_seconds = self._retained_bytes / self._format.bytes_per_second
        self._end(code, reason, final)
        return False

    def _resume(self, transport: Transport, started: SessionStarted) -> int | None:
        """Make ``transport`` current and replay the retained audio; returns bytes replayed,
        or ``None`` if the session is closing (close() sends its close frame under the send
        lock, so checking under it leaves no window for a close to miss the new socket)."""
        with self._send_lock:
            with self._cond:
                if self._closing:
                    return None
                items = list(self._retained)
                marks = items.count(None)
                self._pending_plain = marks
                self._pending_twin = marks * self._twin_expected
                self._waiting_since = time.monotonic() if marks else None
                self._offset_bytes = self._covered_bytes
                self._last_error = None
                context = self._context_locked()
            self._transport = transport
            self.session_id = started.session_id
            self.config = started.config
            replayed = 0
            uncommitted = 0
            for item in items:
                if item is None:
                    frame = encode(InputAudioChunk(b"", True, self._format.sample_rate))
                    transport.send_text(frame)
                    uncommitted = 0
                    continue
                for start in range(0, len(item), self._max_chunk_bytes):
                    piece = item[start : start + self._max_chunk_bytes]
                    transport.send_text(encode(
                        InputAudioChunk(piece, False, self._format.sample_rate, context)
                    ))
                    context = None
                replayed += len(item)
                uncommitted += len(item)
            if context is not None:  # nothing to replay: give the context with no audio
                transport.send_text(encode(
                    InputAudioChunk(b"", False, self._format.sample_rate, context)
                ))
            self._uncommitted_bytes = uncommitted
            self._last_send = time.monotonic()
            with self._cond:
                self._reconnecting = False
        return replayed

    def _context_locked(self) -> str | None:
        """previous_text for the first replayed chunk; caller holds ``_cond``."""
        if not self._segments:
            # Still in the first segment: the caller's own context, if it gave one.
            return self._first_previous_text if self._covered_bytes == 0 else None
        text = " ".join(self._segments)[-CONTEXT_CHARS:]
        if " " in text and len(text) == CONTEXT_CHARS:
            text = text.split(" ", 1)[1]  # start at a word boundary
        return text or None

    def _on_frame(self, frame: Frame) -> None:
        try:
            event = decode(frame.data)
        except RemoteProtocolError as exc:
            # A malformed frame is the server's bug; one bad frame must not end the session.
            with self._cond:
                self._malformed += 1
            logger.warning("%s: ignoring malformed frame from server: %s", self.session_id, exc)
            return
        if self._offset_bytes:
            event = self._shift_words(event)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s < %r", self.session_id, event)
        with self._cond:
            self._streak = 0  # this connection works
            self._events_received += 1
            self._account(event)
            self._enqueue(event)
            if self._dispatching:
                self._queue_for_dispatch(event)

    def _account(self, event: ServerEvent) -> None:
        """Commit bookkeeping; caller holds ``_cond``."""
        if isinstance(event, ErrorEvent):
            self._last_error = event
            if event.error_type == "commit_throttled":
                # A throttled commit is answered: no transcript will follow for it. Its audio
                # stays uncommitted on the server, so only the mark is forgotten.
                self._pending_plain = max(0, self._pending_plain - 1)
                self._pending_twin = max(0, self._pending_twin - self._twin_expected)
                self._waiting_since = time.monotonic() if self._pending_plain else None
                if None in self._retained:
                    self._retained.remove(None)
            return
        self._last_error = None
        if isinstance(event, CommittedTranscript):
            if event.text:
                self._segments.append(event.text.strip())
            if self._pending_plain:
                self._pending_plain -= 1
                self._waiting_since = time.monotonic() if self._pending_plain else None
                self._release_retained(through_commit=True)
            else:
                self._release_retained(through_commit=False)
                # An unsolicited commit (VAD or auto-commit): the server's buffer restarted at
                # some point before now. Counting from here underestimates what is uncommitted,
                # which only makes commit() pad a little more than needed.
                self._uncommitted_bytes = 0
        elif isinstance(event, CommittedTranscriptWithTimestamps) and self._pending_twin:
            self._pending_twin -= 1
        self._cond.notify_all()

    def _release_retained(self, *, through_commit: bool) -> None:
        """Forget audio a committed transcript now covers; caller holds ``_cond``.

        The answer to one of our commits covers everything up to its mark. An unsolicited
        commit covers an unknown prefix: everything older than the last
        ``UNSOLICITED_COMMIT_MARGIN_SECONDS`` before the first unanswered mark is released.
        """
        retained = self._retained
        if not retained:
            return
        if through_commit:
            while retained:
                item = retained.popleft()
                if item is None:
                    return
                self._retained_bytes -= len(item)
                self._covered_bytes += len(item)
            return
        keep = int(UNSOLICITED_COMMIT_MARGIN_SECONDS * self._format.bytes_per_second)
        prefix = 0
        for item in retained:
            if item is None:
                break
            prefix += len(item)
        release = prefix - keep
        bps = self._format.bytes_per_sample
        while release > 0 and retained and retained[0] is not None:
            head = retained[0]
            assert head is not None
            if len(head) <= release:
                retained.popleft()
                cut = len(head)
            else:
                cut = release - release % bps
                retained[0] = head[cut:]
            self._retained_bytes -= cut
            self._covered_bytes += cut
            release -= cut
            if cut == 0:
                break

    def _shift_words(self, event: ServerEvent) -> ServerEvent:
        """Put a reconnected connection's word times on the session's one clock."""
        offset = self._offset_bytes / self._format.bytes_per_second
        timed = (CommittedTranscriptWithTimestamps, DiarizedTranscript)
        if isinstance(event, timed) and event.words:
            return attrs.evolve(event, words=tuple(_shift(w, offset) for w in event.words))
        return event

    def _enqueue(self, event: Event) -> None:
        """Queue for iterators; caller holds ``_cond``. Never drops a committed transcript."""
        limit = self._max_queue
        while limit is not None and len(self._events) >= limit and not self._closing:
            # A partial is superseded by the next one: drop the oldest to make room.
            for index, queued in enumerate(self._events):
                if isinstance(queued, PartialTranscript):
                    del self._events[index]
                    self._partials_dropped += 1
                    break
            else:
                # Only non-droppable events: hold the reader (the server's frames wait in TCP
                # buffers) until a consumer makes room or the session closes.
                logger.warning("%s: event queue full (%d); waiting for the consumer",
                               self.session_id, limit)
                self._cond.wait(1.0)
                continue
            break
        self._events.append(event)
        self._cond.notify_all()

    def _queue_for_dispatch(self, event: Event) -> None:
        """Queue for callbacks; caller holds ``_cond``. Never blocks the reader: when the queue
        is over its bound, the oldest partial goes (a newer one supersedes it)."""
        queue = self._dispatch_queue
        if self._max_queue is not None and len(queue) >= self._max_queue:
            for index, queued in enumerate(queue):
                if isinstance(queued, PartialTranscript):
                    del queue[index]
                    self._partials_dropped += 1
                    break
        queue.append(event)
        self._cond.notify_all()

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                while not self._dispatch_queue:
                    self._cond.wait()
                item = self._dispatch_queue.popleft()
            with self._callbacks_lock:
                targets = [s for s in self._subscriptions if isinstance(item, s._event_type)]
            for subscription in targets:
                try:
                    subscription._callback(item)
                except Exception:
                    logger.exception("%s: callback %r failed on %s", self.session_id,
                                     subscription._callback, type(item).__name__)
            if isinstance(item, SessionEnded):
                return

    def _end(self, code: int | None, reason: str, error: ScribeError | None) -> None:
        """Record how the session ended (reader thread, once)."""
        with self._cond:
            if error is None:
                error = self._ending_error(code, reason)
            elif self._closing:
                error = None  # we closed it; a broken socket on the way is not the user's error
            if self._closing and self._local_error is not None:
                error = self._local_error
            self.close_code, self.close_reason = code, reason
            self._end_error = error
            self._ended = True
            if self._dispatching:
                self._dispatch_queue.append(self._ended_event())
            self._cond.notify_all()
        logger.debug("%s: ended code=%s error=%r", self.session_id, code, error)

    def _ended_event(self) -> SessionEnded:
        return SessionEnded(self.close_code, self.close_reason, self._end_error)

    def _ending_error(self, code: int | None, reason: str) -> ScribeError | None:
        """What a close frame means for the caller; caller holds ``_cond``."""
        last = self._last_error
        if self._closing:
            return None  # we ended it: whatever came before, the ending is ours and normal
        if last is not None:
            answered = self._pending_plain == 0 and self._pending_twin == 0
            if self._finishing and answered and last.error_type in _LATE_FINALIZATION_ERRORS:
                return None
            cls = server_error_class(last.error_type)
            return cls(last.message, error_type=last.error_type, close_code=code,
                       close_reason=reason or None)
        if code in _NORMAL_CLOSE_CODES:
            return None
        return ConnectionClosedError(
            f"the server closed the connection with code {code}"
            + (f" ({reason})" if reason else ""),
            code=code,
            reason=reason,
        )

    # ------------------------------------------------------------------------------------------
    # Streaming a source

    def stream(
        self,
        source: Iterable[bytes],
        *,
        speed: float | str | None = "auto",
        commit_every: float | None = 20.0,
        finish: bool = True,
    ) -> StreamHandle:
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
        from .audio import paced

        fmt = getattr(source, "format", None)
        if fmt is not None and fmt != self._format:
            raise ConfigError(
                f"source format {fmt} does not match the session's audio_format "
                f"{self._format.value}; open the source with format={self._format.value!r}",
                option="audio_format",
            )
        if speed == "auto":
            speed = 1.0 if self.options.commit_strategy is CommitStrategy.VAD else None
        elif isinstance(speed, str):
            raise ConfigError(f"invalid speed={speed!r}: a number, None or 'auto'", option="speed")
        if commit_every is not None and not commit_every >= 1.0:
            raise ConfigError(f"invalid commit_every={commit_every!r}: at least 1 second or None",
                              option="commit_every")
        stop = threading.Event()
        chunks = paced(source, speed, format=self._format, sleep=stop.wait)
        manual = self.options.commit_strategy is CommitStrategy.MANUAL
        thread = threading.Thread(
            target=self._stream_loop,
            args=(source, chunks, stop, commit_every if manual else None, finish),
            name=f"scribe-stream-{self.session_id[:8]}",
            daemon=True,
        )
        handle = StreamHandle(thread, stop)
        self._streams.append(handle)
        thread.start()
        return handle

    def _stream_loop(self, source: Iterable[bytes], chunks: Iterator[bytes],
                     stop: threading.Event, commit_every: float | None, finish: bool) -> None:
        handle = next(h for h in self._streams if h._thread is threading.current_thread())
        rate = self._format.bytes_per_second
        since_commit = 0
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                self.send_audio(chunk)
                since_commit += len(chunk)
                if commit_every is not None and since_commit >= commit_every * rate and (
                    since_commit >= 1.5 * commit_every * rate or self._is_quiet(chunk)
                ):
                    self.commit()
                    since_commit = 0
            if finish and not stop.is_set():
                self.finish()
        except ConnectionClosedError:
            # The connection failed under a send: the reader sees the same ending, together with
            # any error message the server sent first, and reports it (or reconnects).
            pass
        except ScribeError as exc:
            # After a close (by the user, a callback or the server) sending fails by design;
            # the session's own ending is what iterators report. Otherwise, end it with this.
            if not (self._closing or self._ended):
                handle.error = exc
                self._fail(exc)
        except TimeoutError as exc:  # finish() gave up waiting; the session is closed
            handle.error = exc
            logger.warning("%s: %s", self.session_id, exc)
        except Exception as exc:
            handle.error = exc
            logger.exception("%s: streaming failed", self.session_id)
            self._fail(ConnectionClosedError(f"streaming failed: {exc!r}"))
        finally:
            close = getattr(source, "close", None)
            if callable(close):
                close()

    def _is_quiet(self, chunk: bytes) -> bool:
        """Whether a PCM chunk is near silence (a better place to cut a segment)."""
        if self._format.is_ulaw or len(chunk) < 2:
            return False
        samples = array.array("h", chunk[: len(chunk) - len(chunk) % 2])
        if sys.byteorder == "big":
            samples.byteswap()
        return max(map(abs, samples)) < 1000  # about -30 dBFS

    def _fail(self, error: ScribeError) -> None:
        """Close the session because of a local failure that iterators should see."""
        with self._cond:
            if self._local_error is None:
                self._local_error = error
        self.close()

    # ------------------------------------------------------------------------------------------
    # Ending

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
            ServerError, ConnectionClosedError: the session had ended with that error.
        """
        timeout = self._finish_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._send_lock:
            with self._cond:
                startable = not (self._closing or self._ended)
                self._finishing = True
            if startable:
                with contextlib.suppress(ScribeError):  # the reader reports the ending below
                    self._commit_locked()
        with self._cond:
            done = self._cond.wait_for(
                lambda: self._ended or (self._pending_plain <= 0 and self._pending_twin <= 0),
                timeout=max(0.0, deadline - time.monotonic()),
            )
            unanswered = self._pending_plain
            answered = unanswered <= 0 and self._pending_twin <= 0
            # Once every commit is answered the transcript is complete: how the connection
            # ends afterwards (an error, a drop) no longer concerns finish().
            error = self._end_error if self._ended and not answered else None
            # Another thread's close() ended the wait: closing discards what is unanswered, by
            # request, so that is not the server's failure (and not finish()'s to report).
            closed_by_caller = self._closing
        self.close()
        if error is not None:
            raise error
        if closed_by_caller:
            return
        if done and unanswered:
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
        which ends as soon as the callback returns).
        """
        deadline = time.monotonic() + self._close_timeout
        with self._cond:
            first = not self._closing
            self._closing = True
            already_ended = self._ended
            self._cond.notify_all()
        if first and not already_ended and self._send_lock.acquire(timeout=self._close_timeout):
            try:
                self._transport.send_close(1000, _CLOSE_REASON)
            except ScribeError:
                pass  # the socket is already gone; the reader will notice
            finally:
                self._send_lock.release()
        current = threading.current_thread()
        for handle in self._streams:
            handle.stop()
            handle.join(max(0.0, deadline - time.monotonic()))
        if current is not self._reader:
            self._reader.join(max(0.0, deadline - time.monotonic()))
            if self._reader.is_alive():
                # The server did not answer the close handshake in time: cut the socket. A
                # reconnect attempt in progress ends within its open timeout.
                self._transport.abort()
                self._reader.join(self._close_timeout + (
                    self._open_timeout if self._policy is not None else 0.0
                ))
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher is not current:
            dispatcher.join(max(0.1, deadline - time.monotonic()))

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.close()

    # ------------------------------------------------------------------------------------------
    # State

    @property
    def transcript(self) -> str:
        """The committed text so far: each commit once, in order, joined with spaces."""
        with self._cond:
            return " ".join(s for s in self._segments if s)

    @property
    def closed(self) -> bool:
        """True once the session has ended (its reader has exited)."""
        with self._cond:
            return self._ended

    @property
    def stats(self) -> SessionStats:
        """Counters: audio sent, uncommitted audio, events received, ..."""
        rate = self._format.bytes_per_second
        with self._send_lock, self._cond:
            return SessionStats(
                audio_bytes_sent=self._bytes_sent,
                audio_seconds_sent=self._bytes_sent / rate,
                uncommitted_seconds=self._uncommitted_bytes / rate,
                commits_sent=self._commits_sent,
                keepalives_sent=self._keepalives_sent,
                events_received=self._events_received,
                partials_dropped=self._partials_dropped,
                malformed_frames=self._malformed,
                reconnects=self._reconnects,
                buffered_seconds=self._retained_bytes / rate,
            )

    def __repr__(self) -> str:
        state = "ended" if self._ended else "closing" if self._closing else "open"
        return f"<Session {self.session_id} {state} {self._format.value}>"



def _shift(word: Word, offset: float) -> Word:
    def moved(t: float | None) -> float | None:
        return None if t is None else round(t + offset, 6)

    characters = word.characters
    if characters is not None:
        characters = tuple(attrs.evolve(c, start=moved(c.start), end=moved(c.end))
                           for c in characters)
    return attrs.evolve(word, start=moved(word.start), end=moved(word.end), characters=characters)


def _check_text(option: str, value: object) -> None:
    """Text sent on the wire must be a str that UTF-8 can encode (no lone surrogates)."""
    if not isinstance(value, str):
        raise ConfigError(f"{option} must be a str, not {type(value).__name__}", option=option)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{option} is not valid Unicode text (it holds a lone surrogate)",
                          option=option) from None
