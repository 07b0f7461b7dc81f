"""The reader thread, ``scribe-reader-<id>``: the only thread that reads the socket.

It runs the receive side of :class:`~scribe_sync._state.SessionState`, the idle keepalive, the
check for stalled commits, reconnects and the close deadline, all on one timeout: the next
timer due. It never runs user code. One turn:

1. the session ended: stop; the connection was lost: reconnect (or end the session);
   ``finish()`` asked to know when the callbacks have caught up: queue its mark for the
   dispatcher, behind every frame read so far;
2. closing past its deadline: cut the socket; a commit stalled: drop the connection;
   a keepalive due: send it;
3. a consumer's queue is full of undroppable events: wait for room (not while finishing or
   closing, when every answer must be read);
4. otherwise read one frame (waiting at most until the next timer), decode it, apply it to the
   state under its lock, feed the transcript, and hand the events to the queues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from ._core import SessionCore
from ._state import transport_failure
from ._transport import ABNORMAL_CLOSURE, Cancel, Frame, Transport
from .errors import ConnectionClosedError, RemoteProtocolError, ScribeError
from .messages import Reconnected, Reconnecting, ServerEvent, SessionStarted
from .protocol import decode
from .reconnect import ReconnectPolicy

__all__ = ["Connector", "Reader"]

logger = logging.getLogger("scribe_sync")

#: Opens a new connection; the event, once set, cancels an opening in progress (closing).
Connector = Callable[[Cancel],
                     "tuple[Transport, SessionStarted, tuple[ServerEvent, ...]]"]
#: The longest single wait: the reader re-checks its timers at least this often.
_MAX_WAIT: Final = 1.0


class Reader:
    """The body of the reader thread (see the module docstring)."""

    def __init__(self, core: SessionCore, *, keepalive_interval: float | None,
                 policy: ReconnectPolicy | None, connector: Connector | None,
                 on_new_session: Callable[[SessionStarted], None]) -> None:
        self._core = core
        self._keepalive = keepalive_interval
        self._policy = policy
        self._connector = connector
        self._on_new_session = on_new_session
        self._lost: tuple[ScribeError | None, int | None, str] | None = None
        # When the next timer is due (monotonic). Computed after every frame, under the lock
        # the frame already takes, so that a turn before it goes straight back to reading: the
        # consumer woken by that frame then finds the GIL free instead of waiting for it.
        self._due = 0.0

    def run(self) -> None:
        core = self._core
        try:
            while core.ending is None:
                if self._lost is not None:
                    self._reconnect()
                    continue
                if core.barriers:
                    self._pass_barriers()
                self._turn()
        except Exception as exc:  # a bug: end the session rather than hang it
            logger.exception("reader failed")
            core.end(ABNORMAL_CLOSURE, "", transport_failure(f"reader failed: {exc!r}"))
        finally:
            core.end(ABNORMAL_CLOSURE, "", transport_failure("reader exited"))
            core.transport.release()
            core.reader_done = True
            core.changes.notify()

    def _pass_barriers(self) -> None:
        """Queue finish()'s marks for the dispatcher, behind every event of the frames read so
        far (this thread is between frames here: each of them is wholly delivered)."""
        core = self._core
        while core.barriers:
            barrier = core.barriers.popleft()
            dispatch = core.dispatch
            if dispatch is not None:
                dispatch.put(barrier, core.is_closing)

    def _turn(self) -> None:
        core = self._core
        now = time.monotonic()
        if now < self._due and not core.closing:
            # Nothing is due. The transport and generation change only on this thread.
            hold = not core.state.finishing and not self._write_failed()
            if hold and self._paused(self._due - now):
                return
            self._read(core.transport, core.generation, self._due - now)
            return
        if core.closing and core.close_deadline is not None and now >= core.close_deadline:
            core.transport.abort()  # the close handshake stalled: cut the socket
            self._ended(core.generation, ABNORMAL_CLOSURE, "", None)
            return
        if not self._lock(core):
            self._ended(core.generation, ABNORMAL_CLOSURE, "", None)
            return
        try:
            state = core.state
            stalled = state.stalled(now)
            keepalive = not core.closing and state.keepalive_due(now, self._keepalive)
            hold = not (state.finishing or core.closing or self._write_failed())
            transport, generation = core.transport, core.generation
            timeout = self._next_timer(now)
            self._due = now + timeout
        finally:
            core.lock.release()
        if stalled:
            assert self._policy is not None
            self._ended(generation, ABNORMAL_CLOSURE, "", transport_failure(
                f"no answer to a commit within {self._policy.answer_timeout:g} s: "
                "the connection is stalled"))
            return
        if keepalive:
            with core.send_mutex:
                with core.lock:
                    chunks = core.state.keepalive(now)
                core.send_unchecked(chunks)
        if hold and self._paused(timeout):
            return
        self._read(transport, generation, timeout)

    @staticmethod
    def _lock(core: SessionCore) -> bool:
        """Take the state lock; ``False`` when closing while it stays busy (held by a thread
        a signal handler interrupted: that handler may be waiting for this thread to end)."""
        while not core.lock.acquire(timeout=0.05):
            if core.closing:
                return False
        return True

    def _next_timer(self, now: float) -> float:
        """Seconds until something is due; caller holds the state lock."""
        core, state = self._core, self._core.state
        timeout = _MAX_WAIT
        if self._keepalive is not None:
            timeout = min(timeout, max(0.0, state.last_send + self._keepalive - now))
        if self._policy is not None and state.waiting_since is not None:
            due = state.waiting_since + self._policy.answer_timeout - now
            timeout = min(timeout, max(0.01, due))
        if core.closing and core.close_deadline is not None:
            timeout = min(timeout, max(0.0, core.close_deadline - now))
        return timeout

    def _write_failed(self) -> bool:
        """A write on this connection failed: its sender waits for this thread's verdict, which
        takes reading, so no full queue may pause it (the sender may be the consumer)."""
        failure = self._core.send_failure
        return failure is not None and failure[0] == self._core.generation

    def _paused(self, timeout: float) -> bool:
        """A consumer's queue is full of undroppable events: wait for room instead of reading
        (the server's frames wait in TCP buffers). ``True`` when it waited."""
        core = self._core
        for queue in (core.events, core.dispatch):
            if queue is not None and queue.at_limit() and queue.full():
                # Asked again now that full() has cleared room: a failed write, finish() or
                # close() that set room just before would otherwise sleep out the timeout.
                if self._write_failed() or core.state.finishing or core.closing:
                    return False
                logger.debug("a consumer is behind; reading paused")
                queue.room.wait(timeout)
                if not queue.full():
                    with core.lock:  # the answer may have waited unread meanwhile
                        core.state.restart_answer_clock(time.monotonic())
                return True
        return False

    def _read(self, transport: Transport, generation: int, timeout: float) -> None:
        core = self._core
        failure = core.send_failure
        failed = failure is not None and failure[0] == generation
        try:
            # After a failed write, take only what has already arrived.
            frame = transport.recv(0.0 if failed else timeout)
        except ConnectionClosedError as exc:
            self._ended(generation, exc.code or ABNORMAL_CLOSURE, "", exc)
            return
        if frame is None:
            if failed:
                assert failure is not None
                self._ended(generation, ABNORMAL_CLOSURE, "", failure[1])
            return
        if frame.kind == "close":
            self._ended(generation, frame.code, frame.reason, None)
            return
        self._on_frame(frame)

    def _on_frame(self, frame: Frame) -> None:
        core = self._core
        try:
            event = decode(frame.data)
        except RemoteProtocolError as exc:
            # A malformed frame is the server's bug; one bad frame must not end the session.
            if self._lock(core):
                core.state.malformed_frames += 1
                core.lock.release()
            logger.warning("ignoring malformed frame from server: %s", exc)
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s < %r", core.label, event)
        if not (core.lock.acquire(False) or self._lock(core)):
            return
        try:
            now = time.monotonic()
            delivered = core.state.receive(event, now)
            self._due = now + self._next_timer(now)
        finally:
            core.lock.release()
        for item in delivered:
            core.record(item)
            core.deliver(item)

    def _ended(self, generation: int, code: int | None, reason: str,
               failure: ScribeError | None) -> None:
        """The current connection is over: reconnect, or end the session."""
        core = self._core
        if not self._lock(core):
            core.transport.abort()
            core.end(code, reason, core.local_error)
            return
        try:
            if generation != core.generation or core.ending is not None:
                return
            state = core.state
            error = state.ending_error(code, reason, failure, closing=core.closing,
                                       local=core.local_error)
            transport = core.transport
            reconnect = state.wants_reconnect(error, code, closing=core.closing)
            if reconnect:
                state.disconnected(time.monotonic())
                self._lost = (error, code, reason)
                core.changes.notify()  # a sender waiting on a failed write may go on
            else:
                error = state.final_error(error, code, reason, closing=core.closing)
        finally:
            core.lock.release()
        transport.abort()
        if not reconnect:
            core.end(code, reason, error)

    def _reconnect(self) -> None:
        """Replace the lost connection and replay the retained audio."""
        core = self._core
        assert self._lost is not None and self._connector is not None
        error, code, reason = self._lost
        last: BaseException | None = error or ConnectionClosedError(
            f"the server closed the connection (code {code})", code=code, reason=reason)
        while True:
            with core.lock:
                delay = core.state.next_attempt(last, time.monotonic())
                attempt = core.state.outage.attempts
                if delay is None:
                    final: ScribeError = core.state.gave_up(last, code)
            if delay is None:
                core.end(code, reason, final)
                return
            core.deliver(Reconnecting(attempt, delay,
                                      last if isinstance(last, ScribeError) else None))
            logger.info("connection lost (%s); reconnect attempt %d in %.2f s",
                        last, attempt, delay)
            if self._sleep(delay):
                core.end(code, reason, None)  # close() came: nothing more to wait for
                return
            try:
                transport, started, early = self._connector(core.cancel_connect)
            except (ScribeError, TimeoutError) as exc:
                last = exc
                if not ReconnectPolicy.retryable(exc, getattr(exc, "code", None)):
                    with core.lock:  # retrying cannot help: the refusal itself is the answer
                        final = exc if isinstance(exc, ScribeError) else core.state.gave_up(
                            last, code)
                    core.end(code, reason, final)
                    return
                continue
            if core.closing:  # close() came while connecting: the new socket is unused
                transport.release()
                core.end(code, reason, None)
                return
            self._resume(transport, started, early, attempt)
            return

    def _sleep(self, delay: float) -> bool:
        """Wait ``delay`` seconds before an attempt; ``True`` if the session began closing."""
        core = self._core

        def closing() -> bool:
            if core.barriers:  # finish() need not wait for the new connection
                self._pass_barriers()
            return core.closing

        return core.changes.wait_until(closing, time.monotonic() + delay)

    def _resume(self, transport: Transport, started: SessionStarted,
                early: tuple[ServerEvent, ...], attempt: int) -> None:
        """Swap the new connection in and replay, holding the send mutex so that no sender
        writes between the replay and its own audio."""
        core = self._core
        with core.send_mutex:
            with core.lock:
                old = core.transport
                chunks, replayed = core.state.resume(time.monotonic())
                core.transport = transport
                core.generation += 1
                core.send_failure = None
                seconds = core.state.seconds(replayed)
            self._lost = None
            self._on_new_session(started)
            old.release()
            for event in early:
                core.deliver(event)
            core.deliver(Reconnected(attempt, started.session_id, seconds))
            logger.info("reconnected, replaying %.2f s", seconds)
            core.send_unchecked(chunks)
