"""Small named test doubles for threading tests: a scripted transport the test drives."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

from scribe_sync._transport import Frame
from scribe_sync.errors import ConnectionClosedError
from scribe_sync.messages import SessionConfig, SessionStarted
from scribe_sync.protocol import SessionOptions, encode

__all__ = ["ScriptedTransport", "make_session", "session_threads", "wait_for"]


class ScriptedTransport:
    """A transport whose incoming frames the test pushes and whose sent frames it inspects.

    ``echo_close``: answer our close frame with a close 1000, as a well-behaved server does.
    """

    def __init__(self, *, echo_close: bool = True) -> None:
        self.echo_close = echo_close
        self.sent: list[dict[str, Any]] = []
        self.close_sent: tuple[int, str] | None = None
        self.aborted = threading.Event()
        self.frame_sent = threading.Condition()
        # SimpleQueue: its put() is reentrant, so close() from a signal handler that interrupted
        # another put() (a wake-up, an abort) cannot deadlock on the double itself.
        self._inbox: queue.SimpleQueue[Frame | BaseException | None] = queue.SimpleQueue()
        self.send_gate: threading.Event | None = None  # when set to an Event, sends wait on it

    # -- test side
    def push(self, message: Any) -> None:
        """Deliver a server message (a message object, a dict, or raw text/bytes)."""
        if isinstance(message, (str, bytes)):
            data = message.encode() if isinstance(message, str) else message
        elif isinstance(message, dict):
            data = json.dumps(message).encode()
        else:
            data = encode(message).encode()
        self._inbox.put(Frame("text", data))

    def push_close(self, code: int = 1000, reason: str = "") -> None:
        self._inbox.put(Frame("close", code=code, reason=reason))

    def fail(self, exc: BaseException | None = None) -> None:
        self._inbox.put(exc or ConnectionClosedError("connection lost: reset", code=1006))

    def wait_sent(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """Block until a sent frame matches ``predicate``; return it."""
        with self.frame_sent:
            found: list[dict[str, Any]] = []

            def match() -> bool:
                found[:] = [f for f in self.sent if predicate(f)]
                return bool(found)

            if not self.frame_sent.wait_for(match, timeout):
                raise AssertionError("expected frame was not sent")
            return found[0]

    # -- Transport protocol
    def send_text(self, text: str | bytes) -> None:
        if self.send_gate is not None:
            self.send_gate.wait()
        if self.aborted.is_set():
            raise ConnectionClosedError("send failed: aborted", code=1006)
        with self.frame_sent:
            self.sent.append(json.loads(text))
            self.frame_sent.notify_all()

    def recv(self, timeout: float | None) -> Frame | None:
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item  # None: a wake-up

    def wake(self) -> None:
        self._inbox.put(None)

    def release(self) -> None:
        self.abort()

    def send_close(self, code: int, reason: str) -> None:
        self.close_sent = (code, reason)
        if self.echo_close:
            self._inbox.put(Frame("close", code=code, reason=reason))

    def abort(self) -> None:
        if not self.aborted.is_set():
            self.aborted.set()
            self._inbox.put(ConnectionClosedError("aborted", code=1006))


def make_session(
    transport: ScriptedTransport | None = None, **kwargs: Any
) -> tuple[Any, ScriptedTransport]:
    """A Session over a scripted transport; ``kwargs`` are SessionOptions or Session settings."""
    from scribe_sync.session import Session

    transport = transport or ScriptedTransport()
    session_keys = {"close_timeout", "finish_timeout", "keepalive_interval", "max_queue"}
    settings = {k: kwargs.pop(k) for k in list(kwargs) if k in session_keys}
    settings.setdefault("keepalive_interval", None)
    settings.setdefault("close_timeout", 2.0)
    settings.setdefault("finish_timeout", 5.0)
    options = SessionOptions(**kwargs)
    started = SessionStarted("0123456789abcdef0123456789abcdef", SessionConfig())
    return Session(transport, started, options, **settings), transport


def wait_for(session: Any, predicate: Any, timeout: float = 5.0) -> bool:
    """Wait until ``predicate()`` holds; woken by every event the session delivers and by its
    ending (the session's change notifications), so this is a handshake, not a poll."""
    import time

    changes = session._core.changes  # the one test seam: the session's wake-up list
    deadline = time.monotonic() + timeout
    while True:
        bell = changes.register()
        if predicate():
            changes.cancel(bell)
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            changes.cancel(bell)
            return False
        changes.sleep(bell, min(remaining, 0.05))


def session_threads(session: Any, role: str) -> list[threading.Thread]:
    """The session's live threads of ``role`` ("reader", "dispatch", "stream"), by name."""
    prefix = f"scribe-{role}-{session.session_id[:8]}"
    return [t for t in threading.enumerate() if t.name == prefix and t.is_alive()]
