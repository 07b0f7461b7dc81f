"""Reconnect policy: which endings are retried, how long to wait, and the events it produces.

Which endings are retried (the table; anything not listed ends the session):

==========================================  =====================================================
ending                                       retried?
==========================================  =====================================================
transport loss (no close frame, 1006)        yes
close 1001, 1011, 1012, 1013                 yes (going away, server error, restart, try later)
close 1000/1005 without an error             yes while the session is open: the service closes
                                             idle sockets that way (docs/protocol.md §6); not after
                                             ``finish()`` has its answers or after ``close()``
``session_time_limit_exceeded``              yes
``resource_exhausted``, ``queue_overflow``   yes
``insufficient_audio_activity``              yes (an idle close with a reason)
``transcriber_error``, ``error``             yes (transient failures on the server)
``rate_limited``                             yes, with ``rate_limited_factor`` times the delay
``auth_error``, ``invalid_request``,         never: retrying cannot fix a credential, an option,
``quota_exceeded``, ``unaccepted_terms``     a quota or the terms of service
``chunk_size_exceeded``, ``input_error``,    never: the same input would fail the same way
``commit_throttled``
other close codes (1002, 1003, 1007-1010)    never: a protocol disagreement
connect failures while reconnecting          retried as above; ``TimeoutError`` and connection
                                             refusals are retried
a commit unanswered for ``answer_timeout``   yes: the connection is stalled; it is dropped
==========================================  =====================================================
"""

from __future__ import annotations

import random
from typing import Final

import attrs

from .errors import (
    AudioBufferFullError,
    ConfigError,
    ConnectionClosedError,
    ReconnectFailedError,
    ServerError,
)
from .messages import Reconnected, Reconnecting  # re-exported: their old home

__all__ = [
    "RETRYABLE_CLOSE_CODES",
    "RETRYABLE_ERROR_TYPES",
    "AudioBufferFullError",
    "ReconnectPolicy",
    "Reconnected",
    "Reconnecting",
]

RETRYABLE_ERROR_TYPES: Final = frozenset({
    "session_time_limit_exceeded",
    "resource_exhausted",
    "queue_overflow",
    "insufficient_audio_activity",
    "transcriber_error",
    "error",
    "rate_limited",
})
RETRYABLE_CLOSE_CODES: Final = frozenset({1001, 1006, 1011, 1012, 1013})


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """How a session reconnects. ``connect(reconnect=True)`` uses these defaults.

    Delays grow exponentially from ``initial_delay`` by ``multiplier`` up to ``max_delay``, each
    spread by +/- ``jitter`` (a fraction), times ``rate_limited_factor`` after ``rate_limited``.
    The policy gives up after ``max_attempts`` consecutive failed attempts or once ``budget``
    seconds have passed since the connection was lost. An attempt has failed unless its
    connection works: it answers a commit, or, with no commit waiting for its answer, it lasts
    5 s past its start and its last error. A server that accepts each connection and
    drops it after an error or a partial transcript therefore exhausts the policy, as one that
    refuses does.

    Every number is checked when the policy is made (:class:`~scribe_sync.ConfigError` names
    the first one wrong): ``max_attempts`` from 1 to 300, ``multiplier`` above 0 and at most 10,
    ``rate_limited_factor`` above 0 and at most 100, the seconds above 0 and at most 86400, and
    ``jitter`` from 0 to below 1.

    Attributes:
        buffer_seconds: the bound on audio kept for replay (see :class:`AudioBufferFullError`).
        answer_timeout: a commit unanswered for this long means the connection is stalled
            (open, but the server stopped answering): it is dropped and replaced like a lost one.
        seed: seed for the jitter, for reproducible tests; ``None`` for a random one.
    """

    max_attempts: int = attrs.field(default=5)
    initial_delay: float = attrs.field(default=0.5)
    max_delay: float = attrs.field(default=10.0)
    multiplier: float = attrs.field(default=2.0)
    jitter: float = 0.2
    budget: float = attrs.field(default=60.0)
    rate_limited_factor: float = attrs.field(default=4.0)
    buffer_seconds: float = attrs.field(default=300.0)
    answer_timeout: float = attrs.field(default=15.0)
    seed: int | None = None

    def __attrs_post_init__(self) -> None:
        # Loaded with the first policy, not with the package (start-up stays light).
        from ._options import RECONNECT_RANGES, check_settings

        check_settings(self, RECONNECT_RANGES)  # a bool, a string, NaN, ±inf or out of range
        jitter = self.jitter
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not (
                0 <= jitter < 1):
            raise ConfigError(f"invalid jitter={jitter!r}: a number from 0 to below 1",
                              option="jitter")

    def delay(self, attempt: int, error: BaseException | None, rng: random.Random) -> float:
        """Seconds to wait before ``attempt`` (1-based) after ``error``."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        if isinstance(error, ServerError) and error.error_type == "rate_limited":
            base *= self.rate_limited_factor
        return base * (1 + self.jitter * (2 * rng.random() - 1))

    @staticmethod
    def retryable(error: BaseException | None, code: int | None) -> bool:
        """Whether an ending (an error, or a bare close with ``code``) is retried."""
        if isinstance(error, ReconnectFailedError):
            return False
        if isinstance(error, ServerError):
            return error.error_type in RETRYABLE_ERROR_TYPES
        if isinstance(error, ConnectionClosedError):
            return error.code is None or error.code in RETRYABLE_CLOSE_CODES
        if isinstance(error, TimeoutError):
            return True
        if error is None:  # a clean close of an open session: the idle close
            return code in (1000, 1005, None) or code in RETRYABLE_CLOSE_CODES
        return False
