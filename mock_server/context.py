"""What the network side of a server shares: :class:`ServerContext`, and the pluggable source
of a session's answers.

The HTTP application (:func:`mock_server._http.build_app`) and every WebSocket session
(:mod:`mock_server._session`) take a :class:`ServerContext`; nothing below the server reaches
into :class:`~mock_server.server.MockServer`. The context names its parts:

- ``settings``, ``journal``, ``registry`` (keys, tokens, scenarios, per-key counts) and
  ``admin`` (:mod:`mock_server.admin`);
- ``sources``: a :data:`SourceFactory` that makes each session's :class:`AnswerSource`, the
  sans-I/O object the session feeds frames and times into and whose actions it executes
  (:mod:`mock_server.actions`). The default, :func:`engine_source`, is the rule
  :class:`~mock_server.engine.Engine`; another source (a recording replayer, say) plugs in
  here without touching the session driver;
- ``refusal``: asked with a connection's query before the WebSocket upgrade, an HTTP status
  to refuse it with instead (a replayed upstream that refused the handshake), or ``None``;
- ``sessions`` and ``tasks``: what shutdown closes and cancels (event loop only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

import attrs

from .actions import Action
from .admin import Admin
from .engine import Engine
from .journal import Journal
from .params import SessionParams
from .registry import Registry
from .scenarios import Scenario
from .settings import Settings

__all__ = [
    "AnswerSource",
    "ServerContext",
    "SessionHandle",
    "SessionSetup",
    "SourceFactory",
    "TaskSet",
    "engine_source",
]


class AnswerSource(Protocol):
    """A session's source of answers, sans-I/O (the :class:`~mock_server.engine.Engine`'s
    interface). ``now`` is the event loop's monotonic time in seconds.

    After it returned a ``Close`` or ``Drop``, ``closed`` is true and it returns nothing more;
    ``stalled`` means it reads but never answers again.
    """

    @property
    def closed(self) -> bool: ...

    @property
    def stalled(self) -> bool: ...

    def start(self, now: float) -> Sequence[Action]:
        """The connection is open (the first answer is usually ``session_started``)."""
        ...

    def receive(self, data: str | bytes, now: float) -> Sequence[Action]:
        """One text or binary frame from the client."""
        ...

    def deadline(self) -> float | None:
        """When :meth:`tick` has something to do, if ever."""
        ...

    def tick(self, now: float) -> Sequence[Action]:
        """Time passed (called at or after :meth:`deadline`)."""
        ...


@attrs.frozen
class SessionSetup:
    """Everything known about a session when its answer source is made.

    Attributes:
        settings: the server's settings.
        params: the validated query parameters.
        query: the raw query, secrets redacted.
        key_label: a non-secret label of the credential.
        index: the connection's number in the journal (1-based).
        scenario: the scenario that applies, if any.
        scenario_session: this session's number among the scenario's sessions (1-based).
        now: the event loop's time.
    """

    settings: Settings
    params: SessionParams
    query: dict[str, list[str]]
    key_label: str
    index: int
    scenario: Scenario | None
    scenario_session: int
    now: float


#: Makes the answer source of a session.
SourceFactory = Callable[[SessionSetup], AnswerSource]


def engine_source(setup: SessionSetup) -> AnswerSource:
    """The default source: the mock's own rules."""
    return Engine(
        setup.settings,
        setup.params,
        index=setup.index,
        scenario=setup.scenario,
        scenario_session=setup.scenario_session,
        now=setup.now,
    )


class SessionHandle(Protocol):
    """An open WebSocket session, as shutdown sees it."""

    async def close(self, code: int, reason: str) -> None:
        """Close from our side with ``code``."""
        ...

    def abort(self) -> None:
        """Cut the TCP connection."""
        ...


class TaskSet:
    """Background tasks that shutdown cancels. Event loop only."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task of the running loop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_all(self) -> None:
        """Cancel every task still running."""
        for task in list(self._tasks):
            task.cancel()


@attrs.frozen
class ServerContext:
    """What the application and its sessions share (see the module docstring)."""

    settings: Settings
    journal: Journal
    registry: Registry
    admin: Admin
    sources: SourceFactory = engine_source
    refusal: Callable[[dict[str, list[str]]], int | None] | None = None
    sessions: set[SessionHandle] = attrs.field(factory=set)  # open sessions; event loop only
    tasks: TaskSet = attrs.field(factory=TaskSet)
