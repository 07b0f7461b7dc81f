"""A blocking realtime session: the public methods over the session's threads.

Who does what (docs/architecture.md draws it):

- ``scribe-reader-<id>`` (:mod:`scribe_sync._reader`) is the only thread that reads the
  socket. It applies each frame to the rules object (:mod:`scribe_sync._state`), feeds the
  transcript, and queues the events; it also sends the idle keepalive, drops stalled
  connections, reconnects and enforces the close deadline. It never runs user code.
- :meth:`Session.recv` and the iterator take events from a bounded queue
  (:mod:`scribe_sync._assembler`); a ``KeyboardInterrupt`` there interrupts only that wait.
- ``scribe-dispatch-<id>`` (:mod:`scribe_sync._dispatch`) exists once a callback is
  registered and runs callbacks in order.
- Any thread may send: chunks are accounted for under the state lock, then encoded and written
  under one send mutex (:mod:`scribe_sync._core`).

Any thread may call :meth:`Session.send_audio`, :meth:`Session.commit`,
:meth:`Session.finish` and :meth:`Session.close`; one thread at a time may receive.
``stats``, ``transcript``, ``segments`` and ``closed`` never wait on a lock, so a signal
handler may read them, and ``close()`` from a signal handler is bounded by its deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

from ._assembler import Assembler, Barrier
from ._core import SessionCore, check_audio, check_text, check_timeout, fresh
from ._dispatch import Handler, dispatch
from ._reader import Connector, Reader
from ._shutdown import await_answers, close_session, finish_session, start_reader
from ._state import SessionState
from ._stats import SessionStats, snapshot
from ._stream import StreamHandle, start_stream
from ._transport import Transport
from .errors import LocalProtocolError, ScribeError
from .messages import Event, ServerEvent, SessionConfig, SessionEnded, SessionStarted
from .protocol import SessionOptions
from .reconnect import ReconnectPolicy
from .transcript import Transcript

__all__ = ["Session", "SessionEnded", "SessionStats", "StreamHandle", "Subscription"]

E = TypeVar("E", bound=Event)


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
        register: Callable[[Session], object] | None = None,
    ) -> None:
        if reconnect is not None and connector is None:
            raise ValueError("reconnect needs a connector")
        self.session_id: str = started.session_id
        self.config: SessionConfig = started.config
        self.options: SessionOptions = options
        self._format = options.audio_format
        self._close_timeout = close_timeout
        self._finish_timeout = finish_timeout
        now = time.monotonic()
        state = SessionState(options.audio_format, twin_expected=options.expects_timestamped_twin,
                             policy=reconnect, now=now)
        state.events_received = len(early_events)
        self._core = core = SessionCore(state, transport, options.audio_format, max_queue)
        core.label = self.session_id
        for event in early_events:
            core.record(event)
            core.deliver(event)
        self._handlers: dict[Subscription, Handler] = {}
        self._callbacks: tuple[Handler, ...] = ()  # _handlers' values, read once per event
        self._subscribe_lock = threading.Lock()  # guards _handlers and _dispatcher
        self._dispatcher: threading.Thread | None = None
        self._recv_claim: dict[str, int] = {}  # "receiver": the thread id in recv()
        self._iterating = False
        self._streams: list[StreamHandle] = []
        reader = Reader(core, keepalive_interval=keepalive_interval, policy=reconnect,
                        connector=connector, on_new_session=self._new_session)
        self._reader = threading.Thread(target=reader.run,
                                        name=f"scribe-reader-{self.session_id[:8]}", daemon=True)
        if register is not None:  # before its thread starts: see ScribeClient.connect
            register(self)
        start_reader(self._reader, core, self.close)

    def _new_session(self, started: SessionStarted) -> None:
        self.session_id, self.config = started.session_id, started.config
        self._core.label = started.session_id

    # -- sending ------------------------------------------------------------------------------

    def send_audio(self, data: bytes | bytearray | memoryview, *, previous_text: str | None = None
                   ) -> None:
        """Send raw audio in the session's ``audio_format``. Thread-safe.

        Large buffers are split into frames of at most 1 s; a trailing partial sample is kept
        and sent with the next call, so any slicing of a PCM stream is safe.

        Args:
            data: raw audio bytes (16-bit little-endian PCM, or mu-law), no container.
            previous_text: text context for the model; only allowed with the first chunk.

        Raises:
            TypeError: ``data`` is not bytes, or is a memoryview of float or 32-bit samples.
            LocalProtocolError: ``previous_text`` after the first chunk, or the session is closed.
            AudioBufferFullError: with reconnect on, the replay buffer is full; nothing was sent.
            ServerError, ConnectionClosedError: the session has ended with that error; the audio
                was not sent.
        """
        check_audio(data)
        if previous_text is not None:
            check_text("previous_text", previous_text)
        self._core.send(lambda state, now: state.audio(data, previous_text, now),
                        time.monotonic())

    def commit(self) -> bool:
        """Commit the uncommitted audio: its ``committed_transcript`` will follow.

        The service refuses commits of less than 0.3 s (``commit_throttled``). This method
        never provokes that: with no uncommitted audio it sends nothing and returns ``False``;
        with less than 0.3 s it first pads the segment with silence to 0.35 s.

        Returns:
            ``True`` when a commit was sent.
        """
        sent: list[bool] = []

        def make(state: SessionState, now: float) -> list[Any]:
            before = state.commits_sent
            chunks = state.commit(now)
            sent.append(state.commits_sent > before)
            return chunks

        self._core.send(make, time.monotonic(), "commit")
        return bool(sent and sent[0])

    # -- receiving ----------------------------------------------------------------------------

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
        check_timeout("timeout", timeout)
        me = threading.get_ident()
        # The claim is a thread id set atomically (dict.setdefault), not a lock: an interrupt
        # anywhere between the claim and its release leaves it with this thread, which may
        # receive again; another thread is refused only while the claiming one lives.
        claim = self._recv_claim
        owner = claim.setdefault("receiver", me)
        if owner != me:
            if any(thread.ident == owner for thread in threading.enumerate()):
                raise LocalProtocolError("another thread is already receiving from this session")
            claim["receiver"] = me  # its thread has ended without releasing it
        try:
            if not self._iterating:
                self._iterating = True
                self._core.events.keep_latest = False
            event = self._core.events.take(timeout)
            if event is not None:
                return event
            ending = self._core.ending
            if ending is not None and ending.error is not None:
                raise fresh(ending.error)
            return None
        finally:
            if claim.get("receiver") == me:
                claim.pop("receiver", None)

    def __iter__(self) -> Session:
        """Iterate over events until the session ends; see :meth:`recv` for what is raised."""
        return self

    def __next__(self) -> Event:
        # Not a generator: a loop left with ``break`` would close it by throwing an exception
        # into it, on the path between the answer and the caller.
        event = self.recv()
        if event is None:
            raise StopIteration
        return event

    def on(self, event_type: type[E], callback: Callable[[E], Any]) -> Subscription:
        """Call ``callback(event)`` on the dispatcher thread for every event of ``event_type``.

        Pass :class:`~scribe_sync.messages.Event` to receive everything, including the final
        :class:`SessionEnded`. Callbacks run one at a time in arrival order; an exception is
        logged with its traceback and does not end the session.
        """
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError("event_type must be an Event class, e.g. CommittedTranscript")
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        subscription = Subscription(self, event_type, callback)
        core = self._core
        with self._subscribe_lock:
            self._handlers[subscription] = (event_type, callback)
            self._callbacks = tuple(self._handlers.values())
            thread = None
            if self._dispatcher is None:
                queue: Assembler[Event | Barrier] = Assembler(core.max_queue)
                thread = threading.Thread(
                    target=dispatch, args=(core, queue, lambda: self._callbacks),
                    name=f"scribe-dispatch-{self.session_id[:8]}", daemon=True)
                self._dispatcher = thread
                if not self._iterating:
                    # No iterator yet: the iterator queue keeps only the latest events for one
                    # that may come later, and never holds the reader back.
                    core.events.keep_latest = True
                core.dispatch = queue
                ending = core.ending
                if ending is not None:  # ended before: the callbacks still hear how
                    queue.put(SessionEnded(ending.code, ending.reason, ending.error))
                    queue.close()
        if thread is not None:
            thread.start()
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._subscribe_lock:
            self._handlers.pop(subscription, None)
            self._callbacks = tuple(self._handlers.values())

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
                (docs/protocol.md §6). ``None`` commits only at the end.
            finish: call :meth:`finish` at the end of the source (the default), so that
                iteration ends once the last transcript has arrived.

        The stream stops promptly when the session closes, and closes the source at the end. If
        the source fails (a file damaged midway, a device unplugged), the audio already sent is
        committed and its transcripts awaited (up to the finish timeout); then the session is
        closed with the source's error, which iterators raise after those transcripts.

        Raises:
            ConfigError: the source's format is not the session's.
        """
        # Registered before its thread starts: an interrupt in start() must not leave a
        # thread close() does not know of.
        return start_stream(self, source, speed=speed, commit_every=commit_every,
                            finish=finish, fail=self._fail, register=self._streams.append)

    def _fail(self, error: ScribeError, *, keep_sent: bool = False) -> None:
        """Close the session because of a local failure that iterators should see; with
        ``keep_sent``, first commit the audio sent and await its transcripts, so that they are
        delivered before the error."""
        core = self._core
        if keep_sent and not (core.closing or core.ending is not None):
            await_answers(core, time.monotonic() + self._finish_timeout, self._dispatcher)
        if core.local_error is None and not (core.closing or core.ending is not None):
            core.local_error = error
        self.close()

    # -- ending -------------------------------------------------------------------------------

    def finish(self, timeout: float | None = None) -> None:
        """Commit what is uncommitted, wait for every commit's transcripts, then close.

        Waits for the ``committed_transcript`` of every commit sent (and its timestamped twin
        when timestamps or language detection are on), then for the callbacks, if any, to
        have run for every event received (not when called from a callback). If another
        thread calls :meth:`close` meanwhile, ``finish`` returns once the session has closed.

        Args:
            timeout: seconds to wait for the final transcripts; the client's ``finish_timeout``
                when ``None``.

        Raises:
            TimeoutError: the transcripts did not all arrive, or the callbacks did not run
                for them, in time (the session is closed).
            ValueError: ``timeout`` is negative or not finite.
            IncompleteTranscriptError: the server ended the session before answering every
                commit (the session is closed).
            ServerError, ConnectionClosedError: the session had ended with that error.
        """
        check_timeout("timeout", timeout)
        timeout = self._finish_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        finish_session(self._core, deadline, timeout, self._dispatcher, self.close)

    def close(self) -> None:
        """Close the session now. Idempotent, bounded by the close timeout, safe from a callback
        or a signal handler.

        Uncommitted audio is not transcribed; use :meth:`finish` to keep it. The close timeout
        runs from the first call: a call interrupted (Ctrl+C) and retried keeps that deadline,
        and once it has passed the reader cuts the socket and ends by itself. Afterwards every
        thread the session started has ended, except a dispatcher still in a callback (the
        caller's own, or a slow one at the deadline: the events it was not handed are then
        dropped, with a warning), which ends as soon as that callback returns.
        """
        close_session(self._core, self._close_timeout, self._reader, self._streams,
                      self._dispatcher)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.close()

    # -- reading the state (never waits: safe from a signal handler) ---------------------------

    @property
    def close_code(self) -> int | None:
        """The close code the session ended with (``None`` while open)."""
        ending = self._core.ending
        return None if ending is None else ending.code

    @property
    def close_reason(self) -> str:
        """The close reason the session ended with (``""`` while open)."""
        ending = self._core.ending
        return "" if ending is None else ending.reason

    @property
    def transcript(self) -> str:
        """The committed text so far: each commit once, in order, joined with spaces."""
        return self._core.transcript.copy().text

    @property
    def segments(self) -> Transcript:
        """A copy of the committed segments so far (every answer the session accepted, with
        word times on one clock across reconnects): write files from this."""
        return self._core.transcript.copy()

    @property
    def closed(self) -> bool:
        """True once the session has ended."""
        return self._core.ending is not None

    @property
    def stats(self) -> SessionStats:
        """Counters: audio sent, uncommitted audio, events received, ..."""
        return snapshot(self._core)

    def __repr__(self) -> str:
        core = self._core
        state = "ended" if core.ending else "closing" if core.closing else "open"
        return f"<Session {self.session_id} {state} {self._format.value}>"
