"""The session's own threads: ``scribe-reader-<id>`` (keepalive, stall checks, reconnects,
and reading while no receiver does) and ``scribe-dispatch-<id>`` (callbacks, in order).

Functions of a :class:`~scribe_sync._driver.Driver`, which starts them; they hold its lock
only briefly, as the driver's own methods do.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from . import _driver as driver
from ._driver import SessionEnded
from ._state import transport_failure
from ._transport import ABNORMAL_CLOSURE
from .errors import ConnectionClosedError, ScribeError
from .reconnect import Reconnected, Reconnecting, ReconnectPolicy

if TYPE_CHECKING:
    from ._driver import Driver

__all__ = ["dispatch", "run"]

logger = logging.getLogger("scribe_sync")


def run(d: Driver) -> None:
    """The background thread: one job per turn, chosen under the lock (reconnect, a stalled
    commit, a keepalive, pause, read, or wait for the next timer)."""
    try:
        while True:
            with d._lock:
                if d._ended:
                    return
                now = time.monotonic()
                state = d._state
                if d._lost is not None:
                    job = "reconnect"
                elif state.stalled(now) and not d._paused():
                    job = "stalled"
                elif not d._closing and state.keepalive_due(now,
                                                               d._keepalive_interval):
                    d._queue(state.keepalive(now))
                    job = "flush"
                elif d._paused():
                    job = "paused"
                elif d._subscriptions or d._closing or d._send_failure or (
                    not d._recv_waiting and now - d._released_at >= driver.LINGER
                    and not (d._receiver is not None and d._read_role.locked())
                ):
                    job = "read"
                else:
                    job = "wait"
                timeout = next_timer(d, now)
                if job in ("wait", "paused"):
                    waiter = d._waiter()
                # Consumers wake the background thread only while it is paused for them:
                # a wake-up per event taken would cost two context switches each.
                d._reader_paused = job == "paused"
                transport, generation = d._transport, d._generation
            if job == "reconnect":
                reconnect(d)
            elif job == "stalled":
                assert d._policy is not None
                d._connection_ended(generation, ABNORMAL_CLOSURE, "", transport_failure(
                    f"no answer to a commit within {d._policy.answer_timeout:g} s: "
                    "the connection is stalled"))
            elif job == "flush":
                d._flush()
            elif job == "read" and d._read_role.acquire(blocking=False):
                try:
                    read_while_wanted(d, timeout)
                finally:
                    d._read_role.release()
            elif job in ("wait", "paused"):
                if job == "paused":
                    logger.debug("%s: a consumer is behind; reading paused", d.session_id)
                d._doze(waiter, timeout)
                if job == "paused":
                    with d._lock:
                        d._reader_paused = False
                        if not d._paused():
                            d._state.restart_answer_clock(time.monotonic())
            else:  # someone else holds the read role
                with d._lock:
                    waiter = d._waiter()
                d._doze(waiter, min(timeout, driver.IDLE_TICK))
    finally:
        with d._lock:  # whatever happens, no waiter is left waiting for this thread
            if not d._ended:
                d._end_locked(ABNORMAL_CLOSURE, "", transport_failure("reader exited"))
            transport = d._transport
        transport.release()


def next_timer(d: Driver, now: float) -> float:
    """Seconds until the background thread has something to do; caller holds ``_lock``."""
    timeout = driver.IDLE_TICK if not d._subscriptions else 1.0
    interval = d._keepalive_interval
    if interval is not None:
        timeout = min(timeout, max(0.0, d._state.last_send + interval - now))
    if d._policy is not None and d._state.waiting_since is not None:
        due = d._state.waiting_since + d._policy.answer_timeout - now
        timeout = min(timeout, max(0.01, due))
    return timeout


def read_while_wanted(d: Driver, timeout: float) -> None:
    """Read until a receiver wants the role (no callbacks), a timer is due, or the end."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        d._read_step(max(0.0, remaining))
        with d._lock:
            if (d._ended or d._lost is not None or d._paused()
                    or (d._recv_waiting and not d._subscriptions)
                    or time.monotonic() >= deadline):
                d._notify()
                return


def reconnect(d: Driver) -> None:
    """Replace the lost connection and replay the retained audio (background thread)."""
    assert d._lost is not None and d._connector is not None
    error, code, reason = d._lost
    last: BaseException | None = error or ConnectionClosedError(
        f"the server closed the connection (code {code})", code=code, reason=reason)
    while True:
        with d._lock:
            delay = d._state.next_attempt(last, time.monotonic())
            attempt = d._state.streak
            if delay is None:
                d._end_locked(code, reason, d._state.gave_up(last, code))
                return
            d._emit(Reconnecting(attempt, delay,
                                    last if isinstance(last, ScribeError) else None))
        logger.info("%s: connection lost (%s); reconnect attempt %d in %.2f s",
                    d.session_id, last, attempt, delay)
        deadline = time.monotonic() + delay
        while True:
            with d._lock:
                if d._closing:
                    d._end_locked(code, reason, None)
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                waiter = d._waiter()
            d._doze(waiter, remaining)
        try:
            transport, started, early = d._connector()
        except (ScribeError, TimeoutError) as exc:
            last = exc
            if not ReconnectPolicy.retryable(exc, getattr(exc, "code", None)):
                with d._lock:  # retrying cannot help: the refusal itself is the answer
                    final = exc if isinstance(exc, ScribeError) else d._state.gave_up(
                        last, code)
                    d._end_locked(code, reason, final)
                return
            continue
        with d._lock:
            if d._closing_now():  # close() came while connecting: the new socket is unused
                d._end_locked(code, reason, None)
                old = transport
            else:
                old = d._transport
                chunks, replayed = d._state.resume(time.monotonic())
                d._transport = transport
                d._generation += 1
                d._send_failure = None
                d._lost = None
                d.session_id, d.config = started.session_id, started.config
                d._outbox.clear()
                d._outbox_bytes = 0
                d._queue(chunks)
                for event in early:
                    d._emit(event)
                seconds = d._state.seconds(replayed)
                d._emit(Reconnected(attempt, started.session_id, seconds))
        old.release()
        if old is transport:
            return
        logger.info("%s: reconnected, replaying %.2f s", d.session_id, seconds)
        d._flush()
        return


def dispatch(d: Driver) -> None:
    """The dispatcher thread: callbacks in arrival order, until SessionEnded."""
    while True:
        with d._lock:
            if not d._dispatch_queue:
                waiter = d._waiter()
                item = None
            else:
                item = d._dispatch_queue.popleft()
                targets = [s for s in d._subscriptions if isinstance(item, s._event_type)]
                if d._reader_paused:
                    d._notify()  # the paused reader may go on
        if item is None:
            d._doze(waiter, None)
            continue
        for subscription in targets:
            try:
                subscription._callback(item)
            except Exception:
                logger.exception("%s: callback %r failed on %s", d.session_id,
                                 subscription._callback, type(item).__name__)
        if isinstance(item, SessionEnded):
            return
