"""Run one example end to end against a reused embedded mock: a scenario, a script, your code.

A property-based test of code built on Scribe runs the same shape of check hundreds of times:
install a fault schedule and a script, let the code under test talk to the server, then compare
what was said with what the code produced. :class:`Harness` does the plumbing so that one
example costs a few milliseconds of overhead::

    from mock_server.harness import Harness

    with Harness() as harness:
        outcome = harness.run(my_function, scenario, script=["hello world"])
        outcome.result            # what my_function returned
        outcome.records           # the mock's journal of this example's sessions

One server serves every example (starting one is the expensive part). Each example gets its own
API key with its own scenario installed for it (per-key scenarios), so examples never see each
other's faults, and the journal is filtered to the example's sessions by the scenario's name.
The server defaults to ``idle_timeout_secs=None`` and, where the mock has it, the ``instant``
timing profile, so nothing waits on a wall-clock rule.

Examples run one at a time (Hypothesis runs them so): the harness is not for concurrent use.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from .journal import SessionRecord
from .scenarios import Scenario
from .server import MockServer

if TYPE_CHECKING:
    from scribe_sync.client import ScribeClient

__all__ = ["Harness", "MockTarget", "Outcome"]

T = TypeVar("T")


@attrs.frozen
class MockTarget:
    """Where the code under test connects for one example: the server and a key of its own."""

    base_url: str
    api_key: str
    server: MockServer = attrs.field(repr=False)

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    def client(self, **settings: Any) -> ScribeClient:
        """A :class:`scribe_sync.ScribeClient` for this example (``settings`` are its keyword
        arguments, e.g. ``open_timeout=2``)."""
        # Imported here: the mock itself never depends on the client library.
        from scribe_sync.client import ScribeClient

        return ScribeClient(self.api_key, base_url=self.base_url, **settings)


@attrs.frozen
class Outcome(Generic[T]):
    """What one example produced and what the mock saw of it."""

    result: T
    records: tuple[SessionRecord, ...]
    scenario: Scenario

    @property
    def sessions(self) -> int:
        """Connections the example opened (each reconnection is one more)."""
        return len(self.records)

    def sent(self, message_type: str) -> list[Any]:
        """Every message of one type the mock sent, session after session, in order."""
        return [m for r in self.records for m in r.sent(message_type)]

    def committed_texts(self) -> list[str]:
        """The text of every ``committed_transcript`` the mock sent, in order."""
        return [str(m.get("text", "")) for m in self.sent("committed_transcript")]

    @property
    def audio_bytes(self) -> int:
        """Audio bytes the mock accepted over all of the example's sessions."""
        return sum(r.audio_bytes for r in self.records)


def _default_settings(settings: dict[str, Any]) -> dict[str, Any]:
    from .settings import Settings

    names = {field.name for field in attrs.fields(Settings)}
    settings.setdefault("idle_timeout_secs", None)
    if "timing" in names:  # the mock's timing profiles (issue 12); instant keeps examples fast
        settings.setdefault("timing", "instant")
    return settings


class Harness:
    """A reused embedded mock that runs examples one at a time. A context manager.

    Args:
        server: a running server to use (it is not closed by the harness); by default the
            harness starts its own with ``settings`` (``MockServer`` keyword arguments).
        settle_timeout: seconds to wait, after the code under test returns, for the server to
            finish the example's sessions (a client that leaves a session open fails the example
            with ``TimeoutError`` after this long).
    """

    def __init__(self, server: MockServer | None = None, *, settle_timeout: float = 10.0,
                 **settings: Any) -> None:
        if server is not None and settings:
            raise TypeError("pass either a server or settings for a new one, not both")
        self._owned = server is None
        self._server = server or MockServer(**_default_settings(settings))
        self._settle_timeout = settle_timeout
        self._prefix = "ex" + secrets.token_hex(4)  # distinct across harnesses on one server
        self._numbers = itertools.count(1)
        # Keeps every installed scenario alive, so that the server's per-scenario session
        # counts (keyed by object identity) never see a recycled identity.
        self._installed: list[Scenario] = []
        self._lock = threading.Lock()  # guards against concurrent run() (documented misuse)
        self.examples = 0

    @property
    def server(self) -> MockServer:
        return self._server

    def start(self) -> Harness:
        self._server.start()
        return self

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the server if the harness started it. Idempotent."""
        if self._owned:
            self._server.close()

    def run(self, function: Callable[[MockTarget], T], scenario: Scenario | None = None, *,
            script: str | Sequence[Any] | None = None) -> Outcome[T]:
        """Run ``function`` against ``scenario`` with ``script`` as the mock's transcript.

        ``script`` replaces the scenario's transcript (a string, or a sequence of utterances
        where the mock supports scripts). The function's exceptions propagate unchanged.

        Raises:
            TimeoutError: the example's sessions were still open ``settle_timeout`` seconds
                after ``function`` returned.
        """
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("Harness.run() is not reentrant: run examples one at a time")
        try:
            self._server.start()
            number = next(self._numbers)
            name = f"{(scenario.name if scenario else '') or 'example'}#{self._prefix}-{number}"
            changes: dict[str, Any] = {"name": name}
            if script is not None:
                changes["transcript"] = script
            installed = attrs.evolve(scenario or Scenario(), **changes)
            key = f"{self._prefix}-{number}"
            self._installed.append(installed)
            self._server.install_scenario(installed, api_key=key)
            try:
                result = function(MockTarget(self._server.base_url, key, self._server))
            finally:
                self._server.install_scenario(None, api_key=key)
            records = self._settle(name)
            self.examples += 1
            return Outcome(result, records, installed)
        finally:
            self._lock.release()

    def _settle(self, name: str) -> tuple[SessionRecord, ...]:
        records = self._server.wait_for(
            lambda all_records: all(r.closed for r in all_records if r.scenario == name),
            self._settle_timeout,
        )
        mine = tuple(r for r in records if r.scenario == name)
        if self._owned:
            # Nothing else uses this server: forgetting finished sessions keeps each example's
            # journal look-up small however many examples ran before.
            self._server.journal.reset()
        return mine
