"""Ending a session: ``finish()``'s wait for every answer (and, with callbacks, for the
callbacks to have run for them), and ``close()`` with one deadline from its first call, after
which every thread of the session has ended.

A function of the shared core (no thread of its own); :meth:`Session.close` calls it, possibly
from a callback or a signal handler, so it never waits on a lock that interrupted code on the
same thread may hold.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence

import attrs

from ._assembler import Barrier
from ._core import CLOSE_REASON, Ending, SessionCore, fresh
from ._endings import ABNORMAL_CLOSURE
from ._replay import Chunk
from ._state import SessionState
from ._stream import StreamHandle
from .errors import IncompleteTranscriptError, LocalProtocolError, ScribeError
from .messages import SessionEnded

__all__ = ["Outcome", "await_answers", "close_session"]

logger = logging.getLogger("scribe_sync")


@attrs.frozen
class Outcome:
    """What ``finish()`` waited for: how it ended and what was still unanswered."""

    ending: Ending | None
    answered: bool
    unanswered: int
    unanswered_seconds: float
    closed_by_caller: bool
    callbacks_behind: bool = False  # answered, but the callbacks had not run for it all

    def blame(self, core: SessionCore, timeout: float) -> None:
        """Before ``finish()`` closes the session: if its wait timed out with commits
        unanswered, the session ends with :class:`IncompleteTranscriptError`, so that iterators
        and callbacks learn it too (they saw a clean close, and a ``stream()`` a warning)."""
        if (self.ending is None and not self.answered and not self.closed_by_caller
                and core.local_error is None):
            core.local_error = IncompleteTranscriptError(
                f"the final transcripts did not arrive within {timeout:g} s: {self.unanswered} "
                f"commit(s) ({self.unanswered_seconds:.1f} s of audio) unanswered; the "
                "transcript tail is missing", unanswered_seconds=self.unanswered_seconds)

    def check(self, timeout: float) -> None:
        """Raise what ``finish()`` reports (after the session is closed)."""
        ending = self.ending
        # Once every commit is answered the transcript is complete: how the connection ends
        # afterwards no longer concerns finish().
        if ending is not None and not self.answered and ending.error is not None:
            raise fresh(ending.error)
        # Another thread's close() ended the wait: closing discards what is unanswered, by
        # request, so that is not finish()'s to report.
        if self.closed_by_caller:
            return
        if self.answered:
            if self.callbacks_behind:
                raise TimeoutError(f"the callbacks had not run for every final transcript "
                                   f"within {timeout:g} s (see close() for what was left)")
            return
        if ending is not None:
            raise IncompleteTranscriptError(
                f"the server ended the session before answering {self.unanswered} commit(s) "
                f"({self.unanswered_seconds:.1f} s of audio); the transcript tail is missing",
                unanswered_seconds=self.unanswered_seconds, code=ending.code,
                reason=ending.reason)
        raise TimeoutError(f"the final transcripts did not arrive within {timeout:g} s")


def await_answers(core: SessionCore, deadline: float,
                  dispatcher: threading.Thread | None = None) -> Outcome:
    """Commit what is uncommitted, mark the session finishing (nothing pauses the reader any
    more), and wait until every commit is answered, the session ends or closes, or
    ``deadline``; then, with callbacks (and not on their own thread, which cannot wait for
    itself), until they have run for every event read so far."""

    def make(state: SessionState, now: float) -> list[Chunk]:
        chunks = state.commit(now)
        state.finishing = True
        return chunks

    with contextlib.suppress(ScribeError):  # closed or ended: the wait below says how
        core.send(make, time.monotonic(), "finish")
    with core.lock:
        core.state.finishing = True
    core.events.unpause()
    if core.dispatch is not None:
        core.dispatch.unpause()
    core.transport.wake()
    state = core.state
    core.changes.wait_until(
        lambda: core.ending is not None or state.answered or core.closing, deadline)
    ending, answered = core.ending, state.answered
    behind = False
    if answered and dispatcher is not None and dispatcher is not threading.current_thread():
        behind = not _await_callbacks(core, deadline)
    return Outcome(ending, answered, state.pending_plain, state.unanswered_seconds,
                   core.closing, behind)


def _await_callbacks(core: SessionCore, deadline: float) -> bool:
    """Wait until the callbacks have run for every event of the frames read so far (a
    :class:`Barrier` the reader queues behind them), or the dispatcher has returned (the session
    ended: ``SessionEnded`` came last); ``False`` at ``deadline`` or once closing."""
    barrier = Barrier()
    core.barriers.append(barrier)
    core.transport.wake()  # the reader may be waiting for a frame,
    core.changes.notify()  # or backing off before a reconnect
    core.changes.wait_until(
        lambda: barrier.reached or core.dispatch_done or core.closing, deadline)
    return barrier.reached or core.dispatch_done


def finish_session(core: SessionCore, deadline: float, timeout: float,
                   dispatcher: threading.Thread | None, close: Callable[[], None]) -> None:
    """The body of :meth:`Session.finish` (see there): wait, close, then say how it went."""
    try:
        if core.send_owner == threading.get_ident():
            raise LocalProtocolError("finish() cannot run inside a send on the same thread (a "
                                     "signal handler that interrupted send_audio): the session "
                                     "is closed instead")
        outcome = await_answers(core, deadline, dispatcher)
    except BaseException:
        # Ctrl+C in the wait for the last transcripts (when users press it), or in a with
        # block's implicit finish(): the session must not stay open behind the exception.
        close()
        raise
    outcome.blame(core, timeout)
    close()
    outcome.check(timeout)


def start_reader(reader: threading.Thread, core: SessionCore, close: Callable[[], None]) -> None:
    """Start the reader thread of a session being made. Interrupted in ``start()`` (which waits
    for the thread), no caller will ever hold the session to close it, so its thread and socket
    must not outlive the exception."""
    try:
        reader.start()
    except BaseException:
        if reader.ident is None:  # it never ran: nothing else releases the socket
            core.end(None, "", None)
            core.transport.release()
        else:
            close()
        raise


def close_session(core: SessionCore, close_timeout: float, reader: threading.Thread,
                  streams: Sequence[StreamHandle], dispatcher: threading.Thread | None) -> None:
    """The body of :meth:`Session.close` (see there)."""
    if core.close_deadline is None:
        core.close_deadline = time.monotonic() + close_timeout
    deadline = core.close_deadline
    first = not core.closing
    core.closing = True
    core.cancel_connect.set()
    core.events.unpause()
    if core.dispatch is not None:
        core.dispatch.unpause()
    core.changes.notify()
    me = threading.get_ident()
    if first and core.ending is None:
        # A signal handler may interrupt a sender on this very thread: never wait for a
        # send mutex we hold ourselves; cut the socket instead of a close handshake.
        if core.send_owner != me and core.send_mutex.acquire(
                timeout=max(0.0, deadline - time.monotonic())):
            try:
                core.transport.send_close(1000, CLOSE_REASON)
            except ScribeError:
                pass  # the socket is already gone; the reader will notice
            finally:
                core.send_mutex.release()
        else:
            core.transport.abort()
    core.transport.wake()
    current = threading.current_thread()
    for handle in streams:
        handle.stop()
        handle.join(max(0.0, deadline - time.monotonic()))
    if current is not reader and reader.ident is not None:  # (its start may have failed)
        if not core.wait_reader(deadline):
            # The server did not answer the close handshake in time: cut the socket.
            core.transport.abort()
            core.wait_reader(time.monotonic() + 0.5)
        if core.reader_done:
            reader.join(0.5)  # it only returns now
    if core.ending is None:
        core.end(ABNORMAL_CLOSURE, "", None)
    if dispatcher is not None and dispatcher is not current:
        dispatcher.join(max(0.1, deadline - time.monotonic()))
        queue = core.dispatch
        if dispatcher.is_alive() and queue is not None:
            # Past the deadline, callbacks still running: what they have not been handed is
            # dropped (said, not silent), so that the dispatcher ends once the current callback
            # returns; SessionEnded still comes last.
            dropped = queue.discard(lambda item: isinstance(item, SessionEnded))
            if dropped:
                logger.warning("close: %d event(s) not handed to the callbacks within the "
                               "close timeout were dropped", dropped)
