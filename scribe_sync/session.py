"""A blocking realtime session: threads, locks and waiting around :class:`SessionState`.

Every protocol rule lives in :mod:`scribe_sync._state`; this module moves frames and wakes
threads. Who does what:

- Reading is a role, not a thread (leader/follower): whoever waits for the next event reads
  the socket. ``for event in session`` reads on the caller's own thread, with no hand-off.
  The background thread ``scribe-reader-<id>`` reads only while nobody waits in :meth:`recv`
  (for a short while after the last call) or while callbacks are registered; it also sends
  the idle keepalive, checks for stalled commits and runs reconnects.
- Writing is a role too: a thread that queues frames writes them itself unless another thread
  is writing, which then writes them too. No lock that ``stats``, ``commit`` or ``finish``
  need is held during a socket write.
- ``scribe-dispatch-<id>`` exists once a callback is registered and runs callbacks in order.
- Waiting never uses ``Condition.wait``: its lock restore can be broken by a second
  ``KeyboardInterrupt`` on the main thread. A waiter blocks on a private lock of its own.

Any thread may call :meth:`Session.send_audio`, :meth:`Session.commit`,
:meth:`Session.finish` and :meth:`Session.close`; one thread at a time may receive.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Final, TypeVar

import attrs

from ._state import (  # the constants stay importable from here, as before
    COMMIT_PAD_SECONDS,  # noqa: F401
    CONTEXT_CHARS,  # noqa: F401
    KEEPALIVE_SECONDS,  # noqa: F401
    MAX_CHUNK_SECONDS,  # noqa: F401
    MIN_COMMIT_SECONDS,  # noqa: F401
    UNSOLICITED_COMMIT_MARGIN_SECONDS,  # noqa: F401
    Chunk,
    SessionState,
    transport_failure,
)
from ._stream import StreamHandle, start_stream
from ._transport import ABNORMAL_CLOSURE, Frame, Transport
from .errors import ConnectionClosedError, LocalProtocolError, RemoteProtocolError, ScribeError
from .messages import Event, PartialTranscript, ServerEvent, SessionConfig, SessionStarted
from .protocol import SessionOptions, decode, encode_audio_chunk
from .reconnect import Reconnected, Reconnecting, ReconnectPolicy

__all__ = ["Session", "SessionEnded", "SessionStats", "StreamHandle", "Subscription"]

logger = logging.getLogger("scribe_sync")

E = TypeVar("E", bound=Event)
Connector = Callable[[], "tuple[Transport, SessionStarted, tuple[ServerEvent, ...]]"]
_CLOSE_REASON: Final = "User ended session"
#: How long the read role stays with the last receiver before the background thread takes it:
#: a loop calling recv() again within this keeps reading on its own thread.
_LINGER: Final = 0.05
#: The background thread's longest sleep while it does not read (it checks the role then).
_IDLE_TICK: Final = 0.25
#: Encoded frames queued but not yet written, beyond which send_audio waits for the writer.
_OUTBOX_LIMIT: Final = 1 << 20


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


def _check_timeout(name: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)
                                  and value >= 0):
        raise ValueError(f"invalid {name}={value!r}: a finite number of seconds >= 0, or None")


def _full(queue: collections.deque[Event], limit: int) -> bool:
    """Over its bound with nothing droppable left (a partial would make room)."""
    return len(queue) >= limit and not any(isinstance(e, PartialTranscript) for e in queue)


def _fresh(error: ScribeError) -> ScribeError:
    """A new exception equal to the ending error, chained to its first cause: raising one
    instance from every call would grow its traceback and share it between threads."""
    cls = type(error)
    copy = cls.__new__(cls)
    copy.args = error.args
    copy.__dict__.update(error.__dict__)
    # The first cause: the ending's own cause (a transport failure under a server error, an
    # OSError under a lost connection), else the ending itself, which is never raised.
    copy.__cause__ = error.__cause__ if error.__cause__ is not None else error
    copy.__suppress_context__ = True
    return copy


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
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._format = options.audio_format
        self._close_timeout = close_timeout
        self._finish_timeout = finish_timeout
        self._keepalive_interval = keepalive_interval
        self._max_queue = max_queue
        self._policy = reconnect
        self._connector = connector
        self._open_timeout = open_timeout
        now = time.monotonic()

        # _lock guards everything below: the state, the queues, the outbox and the flags. It is
        # only ever held briefly: never during socket I/O, a wait, or user code.
        self._lock = threading.Lock()
        self._waiters: set[threading.Lock] = set()  # one private lock per sleeping thread
        self._state = SessionState(options.audio_format,
                                   twin_expected=options.expects_timestamped_twin,
                                   policy=reconnect, now=now)
        self._state.events_received = len(early_events)
        self._transport = transport
        self._generation = 0  # bumped per connection; frames and endings carry theirs
        self._outbox: collections.deque[tuple[int, bytes]] = collections.deque()
        self._outbox_bytes = 0
        self._outbox_waiting = 0  # senders waiting for the outbox to drain below its limit
        self._reader_paused = False  # the background thread waits for a consumer to catch up
        self._events: collections.deque[Event] = collections.deque(early_events)
        self._dispatch_queue: collections.deque[Event] = collections.deque()
        self._subscriptions: list[Subscription] = []
        self._dispatcher: threading.Thread | None = None
        self._receiver: int | None = None  # the thread in recv()
        self._recv_waiting = False  # ... and waits for the read role
        self._iterating = False  # recv() was called: the iterator queue is in use
        self._released_at = now  # when a receiver last gave the read role back
        self._send_failure: ScribeError | None = None  # a write failed; the reader decides
        self._lost: tuple[ScribeError | None, int | None, str] | None = None  # to reconnect
        self._closing = False
        self._ended = False
        self._end_error: ScribeError | None = None
        self._local_error: ScribeError | None = None
        self._partials_dropped = 0
        self._streams: list[StreamHandle] = []
        self._read_role = threading.Lock()  # held by whichever thread reads the transport
        self._write_role = threading.Lock()  # held by whichever thread writes the transport

        self._reader = threading.Thread(target=self._background,
                                        name=f"scribe-reader-{self.session_id[:8]}", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------------------------------------
    # Waiting (KeyboardInterrupt-safe: see the module docstring)

    def _notify(self) -> None:
        """Wake every sleeping thread; caller holds ``_lock``."""
        for waiter in self._waiters:
            waiter.release()
        self._waiters.clear()

    def _waiter(self) -> threading.Lock:
        """A lock that the next :meth:`_notify` releases; caller holds ``_lock``."""
        waiter = threading.Lock()
        waiter.acquire()
        self._waiters.add(waiter)
        return waiter

    @staticmethod
    def _doze(waiter: threading.Lock, timeout: float | None) -> None:
        """Sleep until notified or ``timeout``; caller does not hold ``_lock``."""
        if timeout is None:
            waiter.acquire()
        elif timeout > 0:
            waiter.acquire(timeout=min(timeout, threading.TIMEOUT_MAX))

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
                if self._outbox_bytes <= _OUTBOX_LIMIT and (
                        self._send_failure is None or self._lost is not None):
                    return
                waiter = self._waiter()
                self._outbox_waiting += 1
            try:
                self._doze(waiter, _IDLE_TICK)
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

    def _check_open(self, what: str) -> None:
        """Raise if nothing may be sent; caller holds ``_lock``."""
        if self._ended and self._end_error is not None:
            raise _fresh(self._end_error)
        if self._closing or self._ended:
            raise LocalProtocolError(f"cannot {what}: the session is closed")

    def _queue(self, chunks: list[Chunk]) -> None:
        """Encode chunks for the current connection, in order; caller holds ``_lock``."""
        rate = self._format.sample_rate
        for chunk in chunks:
            payload = encode_audio_chunk(chunk.audio, chunk.commit, rate, chunk.previous_text)
            self._outbox.append((self._generation, payload))
            self._outbox_bytes += len(payload)
        if chunks and logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s > %d chunk(s)%s", self.session_id, len(chunks),
                         " commit" if chunks[-1].commit else "")

    def _flush(self) -> None:
        """Write the outbox, unless another thread is writing (it then writes ours too)."""
        while self._outbox:
            if not self._write_role.acquire(blocking=False):
                return
            try:
                while True:
                    with self._lock:
                        if not self._outbox:
                            break
                        generation, payload = self._outbox.popleft()
                        self._outbox_bytes -= len(payload)
                        transport = self._transport
                        usable = generation == self._generation and self._send_failure is None
                        if self._outbox_waiting and self._outbox_bytes <= _OUTBOX_LIMIT:
                            self._notify()  # a sender waits for room
                    if not usable:
                        continue
                    try:
                        transport.send_text(payload)
                    except ConnectionClosedError as exc:
                        self._send_failed(generation, exc)
            finally:
                self._write_role.release()

    def _send_failed(self, generation: int, error: ConnectionClosedError) -> None:
        """A write failed (reset, or timed out against a peer that stopped reading). The
        reader drains what already arrived (an error message may explain the failure), then
        ends the connection with it."""
        with self._lock:
            if generation != self._generation or self._send_failure is not None:
                return
            self._send_failure = error
            transport = self._transport
            self._notify()
        logger.debug("%s: %s", self.session_id, error)
        transport.wake()

    # ------------------------------------------------------------------------------------------
    # Receiving

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
        _check_timeout("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        me = threading.get_ident()
        # Python raises KeyboardInterrupt only on the main thread, at any bytecode: inside a
        # socket read it would lose a frame half read (seen as a missing timestamped twin after
        # Ctrl+C). So the main thread never takes the read role; it waits for the background
        # reader, which signals never reach. Other threads read for themselves.
        can_lead = threading.current_thread() is not threading.main_thread()
        with self._lock:
            # By thread: a KeyboardInterrupt between here and the finally below must not
            # leave the session refusing its own main thread for ever.
            if self._receiver not in (None, me):
                raise LocalProtocolError("another thread is already receiving from this session")
            self._receiver = me
            self._iterating = True
            self._notify()
        woke = False
        try:
            while True:
                with self._lock:
                    if self._events:
                        event = self._events.popleft()
                        if self._reader_paused:
                            self._notify()  # the paused reader may go on
                        return event
                    if self._ended:
                        if self._end_error is not None:
                            raise _fresh(self._end_error)
                        return None
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"no event within {timeout:g} s")
                    lead = can_lead and not self._subscriptions and self._lost is None
                if lead and self._read_role.acquire(blocking=False):
                    try:
                        self._read_step(remaining)
                    finally:
                        self._read_role.release()
                        with self._lock:
                            self._released_at = time.monotonic()
                            if self._subscriptions:
                                self._notify()
                    continue
                with self._lock:
                    if self._events or self._ended:
                        continue
                    self._recv_waiting = can_lead  # only a thread that may lead asks for the role
                    waiter = self._waiter()
                    transport = self._transport
                if lead and not woke:
                    woke = True
                    transport.wake()  # ask the background reader to hand the role over
                self._doze(waiter, remaining)
        finally:
            with self._lock:
                self._receiver = None
                self._recv_waiting = False

    def __iter__(self) -> Iterator[Event]:
        """Iterate over events until the session ends; see :meth:`recv` for what is raised."""
        while (event := self.recv()) is not None:
            yield event

    def _read_step(self, timeout: float | None) -> None:
        """Read one frame and apply it (caller holds the read role)."""
        with self._lock:
            transport, generation = self._transport, self._generation
            failure = self._send_failure
            if self._ended or self._lost is not None:
                return
        try:
            # After a failed write, take only what has already arrived.
            frame = transport.recv(0.0 if failure is not None else timeout)
        except ConnectionClosedError as exc:
            self._connection_ended(generation, exc.code or ABNORMAL_CLOSURE, "", exc)
            return
        except Exception as exc:  # a bug: end the session rather than hang it
            logger.exception("%s: reader failed", self.session_id)
            self._connection_ended(generation, ABNORMAL_CLOSURE, "",
                                   transport_failure(f"reader failed: {exc!r}"))
            return
        if frame is None:
            if failure is not None:
                self._connection_ended(generation, ABNORMAL_CLOSURE, "", failure)
            return
        if frame.kind == "close":
            self._connection_ended(generation, frame.code, frame.reason, None)
            return
        self._on_frame(frame, generation)

    def _on_frame(self, frame: Frame, generation: int) -> None:
        try:
            event = decode(frame.data)
        except RemoteProtocolError as exc:
            # A malformed frame is the server's bug; one bad frame must not end the session.
            with self._lock:
                self._state.malformed_frames += 1
            logger.warning("%s: ignoring malformed frame from server: %s", self.session_id, exc)
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s < %r", self.session_id, event)
        with self._lock:
            if generation == self._generation:
                self._deliver(self._state.receive(event, time.monotonic()))

    def _deliver(self, event: Event) -> None:
        """Queue an event for each consumer; caller holds ``_lock``.

        Each consumer has its own bounded queue. Over the bound the oldest partial goes (a
        newer one supersedes it); committed transcripts are never dropped from a queue in use,
        and reading pauses instead (:meth:`_paused`). While callbacks are registered and no
        iterator has been used yet, the iterator queue only keeps the latest ``max_queue``
        events for an iterator that may come later, and never holds the reader back.
        """
        if self._iterating or not self._subscriptions:
            self._bounded_append(self._events, event)
        else:
            if self._max_queue is not None and len(self._events) >= self._max_queue:
                self._events.popleft()
            self._events.append(event)
        if self._dispatcher is not None:
            self._bounded_append(self._dispatch_queue, event)
        self._notify()

    def _bounded_append(self, queue: collections.deque[Event], event: Event) -> None:
        if self._max_queue is not None and len(queue) >= self._max_queue:
            for index, queued in enumerate(queue):
                if isinstance(queued, PartialTranscript):
                    del queue[index]
                    self._partials_dropped += 1
                    break
        queue.append(event)

    def _paused(self) -> bool:
        """A consumer's queue holds only undroppable events over its bound: stop reading
        until it makes room (the server's frames wait in TCP buffers). Caller holds _lock."""
        limit = self._max_queue
        if limit is None or self._state.finishing or self._closing:
            return False
        return _full(self._dispatch_queue, limit) or (
            (self._iterating or not self._subscriptions) and _full(self._events, limit)
        )

    def _connection_ended(self, generation: int, code: int | None, reason: str,
                          failure: ScribeError | None) -> None:
        """The current connection is over: reconnect, or end the session (first one wins)."""
        with self._lock:
            if generation != self._generation or self._ended or self._lost is not None:
                return
            state = self._state
            error = state.ending_error(code, reason, failure, closing=self._closing,
                                       local=self._local_error)
            transport = self._transport
            if state.wants_reconnect(error, code, closing=self._closing):
                state.disconnected(time.monotonic())
                self._lost = (error, code, reason)
                self._notify()
            else:
                self._end_locked(code, reason, error)
        transport.abort()

    def _end_locked(self, code: int | None, reason: str, error: ScribeError | None) -> None:
        """Record how the session ended (once); caller holds ``_lock``."""
        if self._ended:
            return
        self.close_code, self.close_reason = code, reason
        self._end_error = error
        self._ended = True
        if self._dispatcher is not None:
            self._dispatch_queue.append(SessionEnded(code, reason, error))
        self._notify()
        logger.debug("%s: ended code=%s error=%r", self.session_id, code, error)

    # ------------------------------------------------------------------------------------------
    # The background thread: keepalive, stall checks, reconnects, and reading when no one else

    def _background(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._ended:
                        return
                    now = time.monotonic()
                    state = self._state
                    if self._lost is not None:
                        job = "reconnect"
                    elif state.stalled(now) and not self._paused():
                        job = "stalled"
                    elif not self._closing and state.keepalive_due(now,
                                                                   self._keepalive_interval):
                        self._queue(state.keepalive(now))
                        job = "flush"
                    elif self._paused():
                        job = "paused"
                    elif self._subscriptions or self._closing or self._send_failure or (
                        not self._recv_waiting and now - self._released_at >= _LINGER
                        and not (self._receiver is not None and self._read_role.locked())
                    ):
                        job = "read"
                    else:
                        job = "wait"
                    timeout = self._next_timer(now)
                    if job in ("wait", "paused"):
                        waiter = self._waiter()
                    # Consumers wake the background thread only while it is paused for them:
                    # a wake-up per event taken would cost two context switches each.
                    self._reader_paused = job == "paused"
                    transport, generation = self._transport, self._generation
                if job == "reconnect":
                    self._reconnect()
                elif job == "stalled":
                    assert self._policy is not None
                    self._connection_ended(generation, ABNORMAL_CLOSURE, "", transport_failure(
                        f"no answer to a commit within {self._policy.answer_timeout:g} s: "
                        "the connection is stalled"))
                elif job == "flush":
                    self._flush()
                elif job == "read" and self._read_role.acquire(blocking=False):
                    try:
                        self._read_while_wanted(timeout)
                    finally:
                        self._read_role.release()
                elif job in ("wait", "paused"):
                    if job == "paused":
                        logger.debug("%s: a consumer is behind; reading paused", self.session_id)
                    self._doze(waiter, timeout)
                    if job == "paused":
                        with self._lock:
                            self._reader_paused = False
                            if not self._paused():
                                self._state.restart_answer_clock(time.monotonic())
                else:  # someone else holds the read role
                    with self._lock:
                        waiter = self._waiter()
                    self._doze(waiter, min(timeout, _IDLE_TICK))
        finally:
            with self._lock:  # whatever happens, no waiter is left waiting for this thread
                if not self._ended:
                    self._end_locked(ABNORMAL_CLOSURE, "", transport_failure("reader exited"))
                transport = self._transport
            transport.release()

    def _next_timer(self, now: float) -> float:
        """Seconds until the background thread has something to do; caller holds ``_lock``."""
        timeout = _IDLE_TICK if not self._subscriptions else 1.0
        interval = self._keepalive_interval
        if interval is not None:
            timeout = min(timeout, max(0.0, self._state.last_send + interval - now))
        if self._policy is not None and self._state.waiting_since is not None:
            due = self._state.waiting_since + self._policy.answer_timeout - now
            timeout = min(timeout, max(0.01, due))
        return timeout

    def _read_while_wanted(self, timeout: float) -> None:
        """Read until a receiver wants the role (no callbacks), a timer is due, or the end."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            self._read_step(max(0.0, remaining))
            with self._lock:
                if (self._ended or self._lost is not None or self._paused()
                        or (self._recv_waiting and not self._subscriptions)
                        or time.monotonic() >= deadline):
                    self._notify()
                    return

    def _reconnect(self) -> None:
        """Replace the lost connection and replay the retained audio (background thread)."""
        assert self._lost is not None and self._connector is not None
        error, code, reason = self._lost
        last: BaseException | None = error or ConnectionClosedError(
            f"the server closed the connection (code {code})", code=code, reason=reason)
        while True:
            with self._lock:
                delay = self._state.next_attempt(last, time.monotonic())
                attempt = self._state.streak
                if delay is None:
                    self._end_locked(code, reason, self._state.gave_up(last, code))
                    return
                self._emit(Reconnecting(attempt, delay,
                                        last if isinstance(last, ScribeError) else None))
            logger.info("%s: connection lost (%s); reconnect attempt %d in %.2f s",
                        self.session_id, last, attempt, delay)
            deadline = time.monotonic() + delay
            while True:
                with self._lock:
                    if self._closing:
                        self._end_locked(code, reason, None)
                        return
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    waiter = self._waiter()
                self._doze(waiter, remaining)
            try:
                transport, started, early = self._connector()
            except (ScribeError, TimeoutError) as exc:
                last = exc
                if not ReconnectPolicy.retryable(exc, getattr(exc, "code", None)):
                    with self._lock:  # retrying cannot help: the refusal itself is the answer
                        final = exc if isinstance(exc, ScribeError) else self._state.gave_up(
                            last, code)
                        self._end_locked(code, reason, final)
                    return
                continue
            with self._lock:
                if self._closing_now():  # close() came while connecting: the new socket is unused
                    self._end_locked(code, reason, None)
                    old = transport
                else:
                    old = self._transport
                    chunks, replayed = self._state.resume(time.monotonic())
                    self._transport = transport
                    self._generation += 1
                    self._send_failure = None
                    self._lost = None
                    self.session_id, self.config = started.session_id, started.config
                    self._outbox.clear()
                    self._outbox_bytes = 0
                    self._queue(chunks)
                    for event in early:
                        self._emit(event)
                    seconds = self._state.seconds(replayed)
                    self._emit(Reconnected(attempt, started.session_id, seconds))
            old.release()
            if old is transport:
                return
            logger.info("%s: reconnected, replaying %.2f s", self.session_id, seconds)
            self._flush()
            return

    def _closing_now(self) -> bool:
        return self._closing  # (a method: another thread may have set it since the last check)

    def _emit(self, event: Event) -> None:
        """Deliver a client-side event; caller holds ``_lock``."""
        self._deliver(event)

    # ------------------------------------------------------------------------------------------
    # Callbacks

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
                    target=self._dispatch_loop, name=f"scribe-dispatch-{self.session_id[:8]}",
                    daemon=True)
                if self._ended:
                    self._dispatch_queue.append(
                        SessionEnded(self.close_code, self.close_reason, self._end_error))
            self._notify()
        if start:
            assert self._dispatcher is not None
            self._dispatcher.start()
        self._transport.wake()  # the background thread reads from now on
        return subscription

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                if not self._dispatch_queue:
                    waiter = self._waiter()
                    item = None
                else:
                    item = self._dispatch_queue.popleft()
                    targets = [s for s in self._subscriptions if isinstance(item, s._event_type)]
                    if self._reader_paused:
                        self._notify()  # the paused reader may go on
            if item is None:
                self._doze(waiter, None)
                continue
            for subscription in targets:
                try:
                    subscription._callback(item)
                except Exception:
                    logger.exception("%s: callback %r failed on %s", self.session_id,
                                     subscription._callback, type(item).__name__)
            if isinstance(item, SessionEnded):
                return

    # ------------------------------------------------------------------------------------------
    # Streaming a source

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
            ValueError: ``timeout`` is negative or not finite.
            ServerError, ConnectionClosedError: the session had ended with that error.
        """
        _check_timeout("timeout", timeout)
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
            raise _fresh(error)
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
                transport.send_close(1000, _CLOSE_REASON)
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

    def _wait_ended(self, deadline: float) -> None:
        while True:
            with self._lock:
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    return
                waiter = self._waiter()
            self._doze(waiter, remaining)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.close()

    # ------------------------------------------------------------------------------------------
    # State

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
