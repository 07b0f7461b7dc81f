"""What a session's threads share: the rules object under its lock, the current connection
under the send mutex, the event queues and how the session ended. No thread of its own.

Locks (each held briefly, never during a wait or user code):

- ``lock`` (reentrant) guards ``state`` (:class:`~scribe_sync._state.SessionState`),
  ``transport`` and ``generation``. Reentrant because a signal handler runs on the thread it
  interrupts: reading under it from a handler must not deadlock. The reader takes it with a
  timeout and gives up once the session is closing.
- ``send_mutex`` orders every write on the socket: a sender holds it from the accounting of
  its chunks (under ``lock``) to their last byte, so the wire order is the accounting order.
  Encoding runs under it but outside ``lock``.
- Each :class:`~scribe_sync._assembler.Assembler` has its own mutex.

Everything a signal handler may read (``ending``, ``closing``, the counters) is a plain
attribute replaced whole, never waited for; the transcript is copied in one C-level step
(:meth:`~scribe_sync.transcript.Transcript.copy`).
"""

from __future__ import annotations

import collections
import logging
import math
import threading
from collections.abc import Callable
from typing import Final

import attrs

from ._assembler import Assembler, Barrier, Gate, Waiters
from ._seam import Transport
from ._state import Chunk, SessionState
from .errors import ConfigError, ConnectionClosedError, LocalProtocolError, ScribeError
from .messages import AudioFormat, Event, SessionEnded
from .protocol import encode_audio_chunk
from .transcript import Transcript

__all__ = ["CLOSE_REASON", "Ending", "SessionCore", "check_audio", "check_text",
           "check_timeout", "fresh"]

logger = logging.getLogger("scribe_sync")

CLOSE_REASON: Final = "User ended session"


@attrs.frozen
class Ending:
    """How the session ended: set once, by the first thread to decide."""

    code: int | None
    reason: str
    error: ScribeError | None


def check_timeout(name: str, value: float | None) -> None:
    if value is None:
        return
    try:  # bool is an int, but True is no number of seconds; an int past a float overflows
        good = (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and value >= 0)
    except OverflowError:
        good = False
    if not good:
        shown = f"{value!r}"[:40]
        raise ValueError(f"invalid {name}={shown}: a finite number of seconds >= 0, or None")


def check_audio(data: object) -> None:
    """``send_audio``'s argument: bytes, or a contiguous view of bytes or 16-bit samples."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"audio must be bytes, not {type(data).__name__}")
    if isinstance(data, memoryview):
        wrong_order = data.itemsize == 2 and data.format[:1] in (">", "!")  # big-endian
        if data.itemsize > 2 or data.format[-1:] in "efd" or wrong_order:
            raise TypeError(f"audio must be 16-bit little-endian PCM or mu-law, not "
                            f"{data.format!r} samples (sent as is, they would be noise): "
                            "convert them first")
        if not data.c_contiguous:
            raise TypeError("audio must be one contiguous buffer, not a strided memoryview "
                            "(copy it first, e.g. with bytes(view))")


def check_text(option: str, value: object) -> None:
    """Text sent on the wire must be a str that UTF-8 can encode (no lone surrogates)."""
    if not isinstance(value, str):
        raise ConfigError(f"{option} must be a str, not {type(value).__name__}", option=option)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{option} is not valid Unicode text (it holds a lone surrogate)",
                          option=option) from None


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


class SessionCore:
    """The shared part of a session (see the module docstring for who guards what)."""

    def __init__(self, state: SessionState, transport: Transport, audio_format: AudioFormat,
                 max_queue: int | None) -> None:
        self.state = state
        self.lock = threading.RLock()
        self.transport = transport
        self.generation = 0  # bumped per connection; a failed write names its connection
        self.send_mutex = threading.Lock()
        self.send_owner: int | None = None  # the thread holding send_mutex
        self.sample_rate = audio_format.sample_rate
        self.label = ""  # the session id, for log lines
        self.events: Assembler[Event] = Assembler(max_queue)
        self.dispatch: Assembler[Event | Barrier] | None = None  # created by the first on()
        # Marks finish() asks the reader to queue behind every frame read so far (a deque:
        # appended and taken without a lock); dispatch_done: the dispatcher has returned.
        self.barriers: collections.deque[Barrier] = collections.deque()
        self.dispatch_done = False
        self.max_queue = max_queue
        self.changes = Waiters()  # woken by every delivered event and by the ending
        # Written by one thread each; read anywhere without a lock.
        self.closing = False
        self.close_deadline: float | None = None
        self.cancel_connect = Gate()  # set by close(): a reconnect stops opening
        self.local_error: ScribeError | None = None
        self.send_failure: tuple[int, ConnectionClosedError] | None = None
        self.ending: Ending | None = None
        self.reader_done = False  # the reader thread has released the socket and returns
        self._end_lock = threading.Lock()  # guards the one write of ending
        self.transcript = Transcript()  # fed by the reader thread only; others read copies

    # -- sending (any thread) --------------------------------------------------------------

    def check_open(self, what: str) -> None:
        ending = self.ending
        if ending is not None and ending.error is not None:
            raise fresh(ending.error)
        if self.closing or ending is not None:
            raise LocalProtocolError(f"cannot {what}: the session is closed")

    def send(self, make: Callable[[SessionState, float], list[Chunk]], now: float,
             what: str = "send audio") -> None:
        """Account for chunks under ``lock`` (``make(state, now)``), then encode and write
        them under ``send_mutex`` alone."""
        with self.send_mutex:
            self.send_owner = threading.get_ident()
            try:
                with self.lock:
                    self.check_open(what)
                    chunks = make(self.state, now)
                    transport, generation = self.transport, self.generation
                failed = bool(chunks) and not self._write(chunks, transport, generation)
            finally:
                self.send_owner = None
        if failed:
            self._await_decision(generation, what)

    def _await_decision(self, generation: int, what: str) -> None:
        """After a failed write, wait for the reader to say what it means: an ending is
        raised; a reconnect keeps the audio for the replay, so the call succeeds."""
        self.changes.wait_until(
            lambda: (self.ending is not None or self.generation != generation
                     or not self.state.connected or self.closing), None)
        # Ended, or closed while the write was blocked: the audio was not delivered, and the
        # caller hears it (a close() racing a blocked send returned success before).
        if self.ending is not None or self.closing:
            self.check_open(what)

    def send_unchecked(self, chunks: list[Chunk]) -> None:
        """Write chunks already accounted for (keepalives, replays); caller holds
        ``send_mutex``."""
        with self.lock:
            transport, generation = self.transport, self.generation
        self._write(chunks, transport, generation)

    def _write(self, chunks: list[Chunk], transport: Transport, generation: int) -> bool:
        """Encode and write; ``False`` when the write failed (the reader is told)."""
        rate = self.sample_rate
        payloads = [encode_audio_chunk(c.audio, c.commit, rate, c.previous_text) for c in chunks]
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s > %d chunk(s)%s", self.label, len(chunks),
                         " commit" if chunks[-1].commit else "")
        failure = self.send_failure
        if failure is not None and failure[0] == generation:
            return False  # this connection already failed; the reader decides what it means
        try:
            for payload in payloads:
                transport.send_text(payload)
        except ConnectionClosedError as exc:
            # A reset, or a write timed out against a peer that stopped reading: the reader
            # drains what already arrived (an error message may explain it), then ends the
            # connection with it.
            if self.send_failure is None or self.send_failure[0] != generation:
                self.send_failure = (generation, exc)
            logger.debug("send failed: %s", exc)
            transport.wake()
            for queue in (self.events, self.dispatch):  # a reader paused on a full queue
                if queue is not None:
                    queue.unpause()
            return False
        return True

    # -- delivering (reader thread) ----------------------------------------------------------

    def deliver(self, event: Event) -> None:
        """Queue an event for the iterator and, once callbacks exist, the dispatcher."""
        give_up = self.is_closing
        self.events.put(event, give_up)
        dispatch = self.dispatch
        if dispatch is not None:
            dispatch.put(event, give_up)
        self.changes.notify()

    def record(self, event: Event) -> None:
        """Feed the session's transcript (reader thread). Readers copy it when they ask
        (copying here, after every answer, cost O(segments) per answer on the reader's path)."""
        self.transcript.add(event)

    def wait_reader(self, deadline: float) -> bool:
        """Wait until the reader thread is done or ``deadline``; ``True`` if it is done.
        (Not ``Thread.join``: an interrupted join can mark a live thread stopped.)"""
        return self.changes.wait_until(lambda: self.reader_done, deadline)

    def is_closing(self) -> bool:
        return self.closing

    def end(self, code: int | None, reason: str, error: ScribeError | None) -> bool:
        """Record how the session ended (the first call wins) and wake every consumer."""
        # Not waited for: a signal handler's close() may have interrupted this very call on
        # its thread. A call that finds another in progress leaves the ending to it.
        if not self._end_lock.acquire(blocking=False):
            return False
        try:
            if self.ending is not None:
                return False
            self.ending = Ending(code, reason, error)
        finally:
            self._end_lock.release()
        dispatch = self.dispatch
        if dispatch is not None:
            dispatch.put(SessionEnded(code, reason, error))
            dispatch.close()
        self.events.close()
        self.changes.notify()
        logger.debug("ended code=%s error=%r", code, error)
        return True
