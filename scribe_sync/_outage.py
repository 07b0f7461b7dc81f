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

    __slots__ = ("_connected_at", "_since", "attempts")

    def __init__(self, now: float) -> None:
        self.attempts = 0
        self._since = 0.0
        self._connected_at = now

    def connected(self, now: float) -> None:
        """A new connection is in place (not yet known to work)."""
        self._connected_at = now

    def disconnected(self, now: float) -> None:
        """The connection is gone: an outage begins, unless one is already running."""
        if self.attempts == 0:
            self._since = now

    def received(self, event: ServerEvent, now: float, *, waiting: bool) -> None:
        """An event arrived; ``waiting``: a commit waits for its answer. The outage is over
        when the event answers a commit, or, with none waiting, it is no error and the
        connection has lasted :data:`HEALTHY_AFTER_SECONDS` (a stall never ends one)."""
        if not self.attempts or isinstance(event, ErrorEvent):
            return
        if (isinstance(event, (CommittedTranscript, CommittedTranscriptWithTimestamps))
                or (not waiting and now - self._connected_at >= HEALTHY_AFTER_SECONDS)):
            self.attempts = 0

    def next_attempt(self, policy: ReconnectPolicy, last: BaseException | None, now: float,
                     rng: random.Random) -> float | None:
        """Start the next attempt: the delay before it, or ``None`` to give up."""
        self.attempts += 1
        if self.attempts > policy.max_attempts or now - self._since > policy.budget:
            return None
        return policy.delay(self.attempts, last, rng)
