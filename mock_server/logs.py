"""The mock's loggers, and rate limiting for the ones a hostile client can flood.

A client (or a descriptor limit) can make the same error happen thousands of times a second:
``accept()`` failing with EMFILE, aborted handshakes, half-closed sockets. Each logs the first
few times in a window, then once more at the end of the window with the number suppressed, so
the log stays readable and writing it never becomes the mock's bottleneck.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "ERROR_LOGGER",
    "NoDetailFilter",
    "RateLimitFilter",
    "SubprotocolFilter",
    "rate_limited_exception_handler",
]

#: aiohttp's per-connection errors (bad requests, handler errors) go here, rate limited.
ERROR_LOGGER: Final = logging.getLogger("mock_server.errors")


class RateLimitFilter(logging.Filter):
    """Let through at most ``burst`` records of one kind per ``window`` seconds.

    A record's kind is its logger and message template. When a window with suppressed records
    ends, the next record of that kind says how many were suppressed.
    """

    def __init__(self, burst: int = 5, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()  # guards _seen (loggers may be called from any thread)
        # kind -> [window start, records in the window, records suppressed]
        self._seen: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # The kind: the template, and for "%s"-style records the first argument too.
        first = record.args[0] if isinstance(record.args, tuple) and record.args else ""
        kind = (record.name, f"{record.msg}|{first}")
        now = self._clock()
        with self._lock:
            entry = self._seen.get(kind)
            if entry is None or now - entry[0] >= self.window:
                dropped = 0 if entry is None else int(entry[2])
                self._seen[kind] = [now, 1, 0]
                if len(self._seen) > 1000:  # many kinds: forget the old ones
                    self._seen = {kind: self._seen[kind]}
                if dropped:
                    record.msg = f"{record.msg} ({dropped} similar messages suppressed)"
                return True
            entry[1] += 1
            if entry[1] <= self.burst:
                return True
            entry[2] += 1
            return False


class NoDetailFilter(logging.Filter):
    """Keeps a request error's kind and drops its text and traceback: aiohttp's quote the
    request line and headers, which carry ``?token=`` and the ``xi-api-key``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {type(record.exc_info[1]).__name__}"
            record.args = ()
            record.exc_info = record.exc_text = None
        return True


class SubprotocolFilter(logging.Filter):
    """aiohttp warns when a client's WebSocket subprotocols match none of the server's, quoting
    them; a browser client may pass its key or token as one. The warning stays, the values go."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "Client protocols" in str(record.msg):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "%s: the client's WebSocket subprotocols match none of the mock's " \
                         "(values not shown: they may carry a credential)"
            record.args = (remote,)
        return True


ERROR_LOGGER.addFilter(NoDetailFilter())
ERROR_LOGGER.addFilter(RateLimitFilter())
# aiohttp's own logger for WebSocket handshakes (aiohttp.log.ws_logger).
logging.getLogger("aiohttp.websocket").addFilter(SubprotocolFilter())

_LOOP_LOGGER: Final = logging.getLogger("mock_server.loop")
_LOOP_LOGGER.addFilter(RateLimitFilter())


def rate_limited_exception_handler(loop: asyncio.AbstractEventLoop,
                                   context: dict[str, Any]) -> None:
    """An event loop exception handler that logs through a rate-limited logger (asyncio logs
    every failed ``accept()``, e.g. once the descriptor limit is reached)."""
    exception = context.get("exception")
    message = str(context.get("message", "unhandled exception in the event loop"))
    if not isinstance(exception, BaseException):
        _LOOP_LOGGER.error("%s", message)
        return
    # One line (EMFILE at accept() repeats every second while the limit holds, and its retry
    # fails once more when the server closes); the traceback only at DEBUG.
    _LOOP_LOGGER.error("%s: %s: %s", message, type(exception).__name__, exception)
    if _LOOP_LOGGER.isEnabledFor(logging.DEBUG):
        _LOOP_LOGGER.debug(
            "%s", message, exc_info=(type(exception), exception, exception.__traceback__)
        )
