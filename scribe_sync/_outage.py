"""Counting a reconnect's failed attempts, sans I/O (times are passed in).

An outage begins when a connection is lost and ends when a new connection works. Until then
every attempt counts against ``ReconnectPolicy.max_attempts`` and the outage's time against
its ``budget``. "Works" is the point: a server that accepts each connection and then drops it
after an error or a partial transcript must exhaust the policy as a refusing one does, or the
session reconnects for ever.
"""

from __future__ import annotations

import random
from typing import Final

from .messages import (
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    ErrorEvent,
    ServerEvent,
)
from .reconnect import ReconnectPolicy

__all__ = ["HEALTHY_AFTER_SECONDS", "Outage"]

#: A new connection that has lasted this long and delivers something other than an error, with
#: no commit waiting for its answer, has recovered.
HEALTHY_AFTER_SECONDS: Final = 5.0


class Outage:
    """The failed attempts since the last connection that worked, and when they began."""

    __slots__ = ("_calm_since", "_since", "attempts")

    def __init__(self, now: float) -> None:
        self.attempts = 0
        self._since = 0.0
        self._calm_since = now  # the connection's start, or its last error

    def connected(self, now: float) -> None:
        """A new connection is in place (not yet known to work)."""
        self._calm_since = now

    def disconnected(self, now: float, *, waiting: bool) -> None:
        """The connection is gone: an outage begins, unless one is already running. A
        connection that lasted :data:`HEALTHY_AFTER_SECONDS` past its start and its last error,
        with no commit waiting, worked, even if it stayed quiet: the outage before it is over."""
        if self.attempts and self._worked(now, waiting):
            self.attempts = 0
        if self.attempts == 0:
            self._since = now

    def received(self, event: ServerEvent, now: float, *, waiting: bool) -> None:
        """An event arrived (called only during an outage: ``attempts`` > 0); ``waiting``: a
        commit waits for its answer. The outage is over when the event answers a commit, or
        when the connection has worked as :meth:`disconnected` judges it (a stall, with a
        commit waiting, never has)."""
        if isinstance(event, ErrorEvent):
            self._calm_since = now
        elif (isinstance(event, (CommittedTranscript, CommittedTranscriptWithTimestamps))
                or self._worked(now, waiting)):
            self.attempts = 0

    def _worked(self, now: float, waiting: bool) -> bool:
        return not waiting and now - self._calm_since >= HEALTHY_AFTER_SECONDS

    def next_attempt(self, policy: ReconnectPolicy, last: BaseException | None, now: float,
                     rng: random.Random) -> float | None:
        """Start the next attempt: the delay before it, or ``None`` to give up."""
        self.attempts += 1
        if self.attempts > policy.max_attempts or now - self._since > policy.budget:
            return None
        return policy.delay(self.attempts, last, rng)
