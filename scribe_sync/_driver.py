"""The machinery under :class:`~scribe_sync.session.Session`: state, waiting, the write role
and the read role. The background thread and the callback dispatcher live in
:mod:`scribe_sync._background`; the public methods and their documentation in
:mod:`scribe_sync.session`, whose docstring says which thread does what.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import attrs

from . import _background
from ._signals import DeferredInterrupt, can_defer
from ._state import Chunk, SessionState, transport_failure
from ._transport import ABNORMAL_CLOSURE, Frame, Transport
from .errors import ConnectionClosedError, LocalProtocolError, RemoteProtocolError, ScribeError
from .messages import Event, PartialTranscript, ServerEvent, SessionConfig, SessionStarted
from .protocol import SessionOptions, decode, encode_audio_chunk
from .reconnect import ReconnectPolicy

if TYPE_CHECKING:
    from ._stream import StreamHandle
    from .session import Subscription

__all__ = ["Driver", "SessionEnded", "check_timeout", "fresh"]

logger = logging.getLogger("scribe_sync")

Connector = Callable[[], "tuple[Transport, SessionStarted, tuple[ServerEvent, ...]]"]
CLOSE_REASON: Final = "User ended session"
#: How long the read role stays with the last receiver before the background thread takes it:
#: a loop calling recv() again within this keeps reading on its own thread.
LINGER: Final = 0.05
#: The background thread's longest sleep while it does not read (it checks the role then).
IDLE_TICK: Final = 0.25
#: Encoded frames queued but not yet written, beyond which send_audio waits for the writer.
OUTBOX_LIMIT: Final = 1 << 20


@attrs.frozen
class SessionEnded(Event):
    """Client-side event given to callbacks (not iterators) when the session has ended.

    ``error`` is what an iterator raises at the end (``None`` for a normal ending).
    """

    code: int | None
    reason: str
    error: ScribeError | None = None



def check_timeout(name: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)
                                  and value >= 0):
        raise ValueError(f"invalid {name}={value!r}: a finite number of seconds >= 0, or None")


def _full(queue: collections.deque[Event], limit: int) -> bool:
    """Over its bound with nothing droppable left (a partial would make room)."""
    return len(queue) >= limit and not any(isinstance(e, PartialTranscript) for e in queue)


def fresh(error: ScribeError) -> ScribeError:
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



class Driver:
    """Threads, locks and waiting around :class:`SessionState` (see the module docstring).

    Every attribute below is guarded by ``_lock``, which is only ever held briefly: never during
    socket I/O, a wait, or user code.
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
        # The main thread waits for readiness without the read role (see _lead_guarded); until
        # then the background thread leaves the socket to it. A time, not a flag: should an
        # interrupt skip the reset, the claim lapses by itself.
        self._main_wait_until = 0.0
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

        self._reader = threading.Thread(target=_background.run, args=(self,),
                                        name=f"scribe-reader-{self.session_id[:8]}", daemon=True)
        self._reader.start()

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

    def _check_open(self, what: str) -> None:
        """Raise if nothing may be sent; caller holds ``_lock``."""
        if self._ended and self._end_error is not None:
            raise fresh(self._end_error)
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
                        if self._outbox_waiting and self._outbox_bytes <= OUTBOX_LIMIT:
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

    def _receive(self, timeout: float | None) -> Event | None:
        """The body of :meth:`Session.recv`."""
        check_timeout("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        me = threading.get_ident()
        # Python raises KeyboardInterrupt only on the main thread, at any bytecode: inside a
        # socket read it would lose a frame half read. So the main thread reads in guarded
        # steps (_lead_guarded); when SIGINT has a handler we cannot defer (installed from C),
        # it leaves reading to the background thread. Other threads read for themselves.
        guarded = threading.current_thread() is threading.main_thread()
        can_lead = can_defer()
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
                            raise fresh(self._end_error)
                        return None
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"no event within {timeout:g} s")
                    lead = can_lead and not self._subscriptions and self._lost is None
                if lead and guarded:
                    if self._lead_guarded(remaining):
                        continue
                elif lead and self._read_role.acquire(blocking=False):
                    try:
                        self._read_step(remaining)
                    finally:
                        self._release_read_role()
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

    def _lead_guarded(self, remaining: float | None) -> bool:
        """One main-thread read: take the role, read and apply what has arrived, give the role
        back, all with SIGINT deferred; if nothing had arrived, wait for the socket without the
        role, where an interrupt loses nothing. ``False``: another thread holds the role."""
        with DeferredInterrupt():
            if not self._read_role.acquire(blocking=False):
                return False
            try:
                progressed = self._read_step(0.0)
            finally:
                self._release_read_role()
        if progressed:
            return True
        with self._lock:
            if self._events or self._ended or self._lost is not None or self._subscriptions:
                return True
            wait = IDLE_TICK if remaining is None else min(remaining, IDLE_TICK)
            self._main_wait_until = time.monotonic() + wait + LINGER
            transport = self._transport
        try:
            transport.wait(wait)
        finally:
            with self._lock:
                self._main_wait_until = 0.0
        return True

    def _release_read_role(self) -> None:
        """A receiver gives the read role back; the background thread may take it after
        ``LINGER`` (at once while callbacks are registered)."""
        self._read_role.release()
        with self._lock:
            self._released_at = time.monotonic()
            if self._subscriptions:
                self._notify()

    def _read_step(self, timeout: float | None) -> bool:
        """Read one frame and apply it (caller holds the read role). ``False``: nothing had
        arrived within ``timeout`` (or a wake-up came)."""
        with self._lock:
            transport, generation = self._transport, self._generation
            failure = self._send_failure
            if self._ended or self._lost is not None:
                return True
        try:
            # After a failed write, take only what has already arrived.
            frame = transport.recv(0.0 if failure is not None else timeout)
        except ConnectionClosedError as exc:
            self._connection_ended(generation, exc.code or ABNORMAL_CLOSURE, "", exc)
            return True
        except Exception as exc:  # a bug: end the session rather than hang it
            logger.exception("%s: reader failed", self.session_id)
            self._connection_ended(generation, ABNORMAL_CLOSURE, "",
                                   transport_failure(f"reader failed: {exc!r}"))
            return True
        if frame is None:
            if failure is not None:
                self._connection_ended(generation, ABNORMAL_CLOSURE, "", failure)
                return True
            return False
        if frame.kind == "close":
            self._connection_ended(generation, frame.code, frame.reason, None)
            return True
        self._on_frame(frame, generation)
        return True

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
                for delivered in self._state.receive(event, time.monotonic()):
                    self._deliver(delivered)

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
        if self._main_wait_until and threading.current_thread() is not threading.main_thread():
            self._transport.wake()  # the main thread waits on the socket, not on a waiter

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

    def _closing_now(self) -> bool:
        return self._closing  # (a method: another thread may have set it since the last check)

    def _emit(self, event: Event) -> None:
        """Deliver a client-side event; caller holds ``_lock``."""
        self._deliver(event)

    def _wait_ended(self, deadline: float) -> None:
        while True:
            with self._lock:
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    return
                waiter = self._waiter()
            self._doze(waiter, remaining)
