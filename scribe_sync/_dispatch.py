"""The callback dispatcher thread, ``scribe-dispatch-<id>``: callbacks in arrival order.

Started by the first ``Session.on``; it takes events from its own bounded queue (an
:class:`~scribe_sync._assembler.Assembler` the reader fills) until ``SessionEnded``. A callback
that raises is logged and does not stop the others, even with ``SystemExit``. A
:class:`~scribe_sync._assembler.Barrier` in the queue is marked reached (``finish()`` waits for
it), never shown to a callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ._assembler import Assembler, Barrier
from ._core import SessionCore
from .messages import Event, SessionEnded

__all__ = ["Handler", "dispatch"]

logger = logging.getLogger("scribe_sync")

#: (event type, callback) of one subscription.
Handler = tuple[type[Event], Callable[[Any], Any]]


def dispatch(core: SessionCore, queue: Assembler[Event | Barrier],
             handlers: Callable[[], Sequence[Handler]]) -> None:
    """Run callbacks until the session has ended; ``handlers()`` gives the current ones."""
    try:
        while True:
            item = queue.take(None)
            if item is None:
                return
            if isinstance(item, Barrier):
                item.reached = True
                core.changes.notify()
                continue
            for event_type, callback in handlers():
                if isinstance(item, event_type):
                    try:
                        callback(item)
                    except Exception:
                        logger.exception("callback %r failed on %s", callback,
                                         type(item).__name__)
                    except BaseException as exc:
                        # SystemExit (sys.exit() in a callback) would end this thread only,
                        # silently: later callbacks, SessionEnded and finish()'s wait with it.
                        logger.error("callback %r raised %s on %s: a callback cannot end the "
                                     "program (close the session instead); callbacks go on",
                                     callback, type(exc).__name__, type(item).__name__,
                                     exc_info=exc)
            if isinstance(item, SessionEnded):
                return
    finally:
        core.dispatch_done = True
        core.changes.notify()
