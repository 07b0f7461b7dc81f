"""Where received events wait for a consumer: a bounded queue with high and low water marks
(after websockets' ``sync/messages.py`` Assembler), a lock-free wake-up list, and the mark that
tells ``finish()`` the callbacks have caught up.

Waiting never uses ``threading.Condition``: a ``KeyboardInterrupt`` landing in its lock restore
leaves the lock broken. A waiter blocks on a private lock of its own instead, which an
interrupt can only abandon; nothing is lost, because an event leaves the queue only once it is
handed to the caller.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Final, Generic, TypeVar

from .messages import PartialTranscript

__all__ = ["Assembler", "Barrier", "Gate", "Waiters"]

T = TypeVar("T")

#: A paused reader goes on once the queue is down to this fraction of its bound.
LOW_WATER: Final = 0.5


class Waiters:
    """Threads waiting for "something changed". Lock-free, so that code a signal handler may
    run (``close()``) never waits on a lock the interrupted code holds.

    A waiter registers before it checks its condition, then sleeps: a change made after the
    check wakes it, a change made before it is seen by the check.
    """

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set: set[threading.Lock] = set()

    def register(self) -> threading.Lock:
        """A held lock that the next :meth:`notify` releases."""
        bell = threading.Lock()
        bell.acquire()
        self._set.add(bell)
        return bell

    def sleep(self, bell: threading.Lock, timeout: float | None) -> None:
        """Sleep on ``bell`` until notified or ``timeout``; always unregisters."""
        try:
            if timeout is None:
                bell.acquire()
            elif timeout > 0:
                bell.acquire(timeout=min(timeout, threading.TIMEOUT_MAX))
        finally:
            self._set.discard(bell)

    def cancel(self, bell: threading.Lock) -> None:
        """Unregister ``bell`` without sleeping."""
        self._set.discard(bell)

    def wait_until(self, done: Callable[[], bool], deadline: float | None) -> bool:
        """Sleep until ``done()`` is true or the monotonic ``deadline`` passes (``None``: no
        deadline); returns whether ``done()`` was. ``done`` is asked again after each
        :meth:`notify`, by the waiting thread."""
        while True:
            bell = self.register()
            if done():
                self.cancel(bell)
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self.cancel(bell)
                return False
            self.sleep(bell, remaining)

    def notify(self) -> None:
        """Wake every registered waiter."""
        if not self._set:
            return
        for bell in list(self._set):
            self._set.discard(bell)
            # Not contextlib.suppress: this is on the path of every event.
            try:  # noqa: SIM105
                bell.release()
            except RuntimeError:  # released by a concurrent notify
                pass


class Gate:
    """A lock-free ``threading.Event``: its ``set`` takes a lock, which a signal handler that
    interrupted another ``set`` on the same thread (a ``close()`` inside a ``close()``) would
    wait on for ever. Setting is a plain write and a :meth:`Waiters.notify`."""

    __slots__ = ("_on", "_waiters")

    def __init__(self) -> None:
        self._on = False
        self._waiters = Waiters()

    def set(self) -> None:
        self._on = True
        self._waiters.notify()

    def clear(self) -> None:
        self._on = False

    def is_set(self) -> bool:
        return self._on

    def wait(self, timeout: float) -> bool:
        """Sleep until set or ``timeout`` seconds; whether it is set."""
        return self._waiters.wait_until(self.is_set, time.monotonic() + timeout)


class Barrier:
    """A mark the reader puts in the dispatcher's queue behind the events of every frame it has
    read so far; the dispatcher sets :attr:`reached` when it takes it, once the callbacks have
    run for all of them. ``finish()`` waits for it: an answer the reader has counted is not yet
    an answer a callback has seen."""

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = False


class Assembler(Generic[T]):
    """Events from the reader thread to one consumer (the iterator, or the dispatcher).

    Over ``limit`` events the oldest queued partial transcript is dropped (a newer one
    supersedes it) and counted in :attr:`dropped`; committed transcripts are never dropped.
    When nothing droppable is left the reader pauses (:meth:`full`) until the consumer has
    taken the queue down to its low water mark (:attr:`room` is then set). In ``keep_latest``
    mode (an iterator nobody has used yet, while callbacks consume) the oldest event of any kind
    goes instead, and the reader never pauses for it.

    ``_mutex`` guards the queue and the counters; it is held only for a few bytecodes, never
    while waiting. The reader takes it with :meth:`put`, the consumer with :meth:`take`.
    """

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._low = None if limit is None else int(limit * LOW_WATER)
        self._mutex = threading.Lock()  # guards _queue, _partials and _paused
        self._queue: collections.deque[T] = collections.deque()
        self._partials = 0  # partial transcripts in _queue
        self._closed = False
        self._paused = False  # the reader waits for room
        self._waiters = Waiters()
        #: Set when a paused reader may go on; the reader clears it before it waits.
        self.room = Gate()
        #: Partial transcripts dropped by the overflow rule (read without a lock: an int).
        self.dropped = 0
        self.keep_latest = False

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, event: T, give_up: Callable[[], bool] = bool) -> bool:
        """Queue ``event`` (reader thread), applying the overflow rule first. ``False``: the
        mutex stayed busy and ``give_up()`` said to stop waiting for it (the session is
        closing while a consumer interrupted by a signal holds the mutex)."""
        while not self._mutex.acquire(timeout=0.05):
            if give_up():
                return False
        try:
            queue = self._queue
            limit = self._limit
            if limit is not None and len(queue) >= limit:
                if self.keep_latest:
                    old = queue.popleft()
                    self._partials -= isinstance(old, PartialTranscript)
                elif self._partials:
                    for index, queued in enumerate(queue):
                        if isinstance(queued, PartialTranscript):
                            del queue[index]
                            self._partials -= 1
                            self.dropped += 1
                            break
            queue.append(event)
            self._partials += isinstance(event, PartialTranscript)
        finally:
            self._mutex.release()
        self._waiters.notify()
        return True

    def at_limit(self) -> bool:
        """At or over the bound (lock-free, so a cheap first check before :meth:`full`)."""
        return self._limit is not None and len(self._queue) >= self._limit

    def full(self) -> bool:
        """Over the bound with nothing droppable: the reader should pause (and wait on
        :attr:`room`). Marks the queue paused, so that the consumer sets :attr:`room`."""
        with self._mutex:
            limit = self._limit
            if (limit is None or self.keep_latest or self._closed
                    or len(self._queue) < limit or self._partials):
                return False
            self._paused = True
            self.room.clear()
            return True

    def take(self, timeout: float | None) -> T | None:
        """The oldest event; ``None`` once closed and empty. Raises ``TimeoutError`` when
        nothing came within ``timeout`` (``None``: wait for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bell: threading.Lock | None = None
        while True:
            with self._mutex:
                if self._queue:
                    event: T | None = self._queue.popleft()
                    self._partials -= isinstance(event, PartialTranscript)
                    wake = self._paused and self._low is not None and len(self._queue) <= self._low
                    if wake:
                        self._paused = False
                    closed = False
                else:
                    event, wake, closed = None, False, self._closed
            if event is not None or closed:
                if bell is not None:
                    self._waiters.cancel(bell)
                if wake:
                    self.room.set()
                return event
            if bell is None:
                # Register, then look again before sleeping: a put between the two is seen by
                # the second look, a later one rings the bell. A woken consumer takes its event
                # with no bell of its own: that is the path between a frame and the caller.
                bell = self._waiters.register()
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._waiters.cancel(bell)
                raise TimeoutError(f"no event within {timeout:g} s")
            self._waiters.sleep(bell, remaining)
            bell = None

    def discard(self, keep: Callable[[T], bool]) -> int:
        """Drop every queued item but those ``keep`` accepts; returns how many were dropped."""
        with self._mutex:
            kept = [item for item in self._queue if keep(item)]
            dropped = len(self._queue) - len(kept)
            self._queue.clear()
            self._queue.extend(kept)
            self._partials = sum(isinstance(item, PartialTranscript) for item in kept)
        return dropped

    def close(self) -> None:
        """No more events will come: a waiting consumer gets the rest, then ``None``.
        Lock-free (plain attribute writes), so that it never waits on the consumer."""
        self._closed = True
        self._paused = False
        self.room.set()
        self._waiters.notify()

    def unpause(self) -> None:
        """Stop holding the reader back (finishing or closing: every answer must be read).
        Lock-free: ``close()`` calls it, from a signal handler too, and the consumer that
        handler interrupted may hold ``_mutex``."""
        self._paused = False
        self.room.set()
