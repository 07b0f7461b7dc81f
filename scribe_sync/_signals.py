"""Deferring SIGINT on the main thread across a step that an interrupt would leave half done.

Python runs signal handlers on the main thread only, between any two bytecodes, so a
``KeyboardInterrupt`` can land after ``sock.recv`` returned bytes and before they reach the
frame buffer, or between a parsed frame and the event queue: the frame is lost (seen as a
missing timestamped twin after Ctrl+C). The session's main-thread reader therefore waits for
readiness where an interrupt loses nothing, and reads, parses and queues one frame inside
:class:`DeferredInterrupt`, which hands a SIGINT that came meanwhile to the handler that was
installed as soon as the step is done. The step never waits for the network (it reads only what
has arrived; over TLS a partial record can hold it for the I/O timeout).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

__all__ = ["DeferredInterrupt", "can_defer"]


def can_defer() -> bool:
    """Whether the calling thread may read the socket itself: any thread but the main one,
    and the main one when SIGINT's handler was installed from Python (or is the default or
    ignored), so that :class:`DeferredInterrupt` can hold it back."""
    if threading.current_thread() is not threading.main_thread():
        return True
    return signal.getsignal(signal.SIGINT) is not None


class DeferredInterrupt:
    """A context manager: on the main thread, a SIGINT that arrives inside the block is passed
    to the previously installed handler when the block ends (so ``KeyboardInterrupt`` is raised
    from the ``with`` statement, after the block). Elsewhere it does nothing."""

    __slots__ = ("_pending", "_previous")

    def __init__(self) -> None:
        self._previous: signal._HANDLER = None
        self._pending: list[FrameType | None] = []

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._pending.append(frame)

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            handler = signal.getsignal(signal.SIGINT)
            if callable(handler):
                self._previous = handler
                signal.signal(signal.SIGINT, self._record)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        previous = self._previous
        if previous is None:
            return
        self._previous = None
        signal.signal(signal.SIGINT, previous)
        pending, self._pending = self._pending, []
        if callable(previous):
            for frame in pending:  # default_int_handler raises KeyboardInterrupt at the first
                previous(signal.SIGINT, frame)
