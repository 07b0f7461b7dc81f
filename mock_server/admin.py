"""The admin API's interface (``/_mock/...``) and where a server's shared state lives.

:class:`Admin` answers the admin routes and resolves single-use tokens. Two implementations:

- :class:`LocalAdmin`: this process's own journal and registry (a plain ``MockServer``);
- the cluster admin of ``scribe-mock --workers N`` (:mod:`mock_server._workers`), which asks
  every worker.

A :class:`Topology` says how a server is deployed; the server asks it for its admin, its token
prefix, its extra routes and whether it needs a private loopback port. :data:`STANDALONE` is
the default; the server never branches on which one it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from .journal import Journal
from .registry import Registry
from .scenarios import Scenario

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["STANDALONE", "Admin", "LocalAdmin", "Standalone", "Topology"]


class Admin(Protocol):
    """What the admin routes and the token check ask; every method runs on the event loop."""

    async def sessions(self) -> list[dict[str, Any]]:
        """Every session's journal record, as JSON objects, in opening order."""
        ...

    async def health(self) -> dict[str, Any]:
        """``{"ok": True, "open_sessions": N, "port": P, ...}``."""
        ...

    async def reset(self) -> None:
        """Forget sessions, tokens and installed scenarios."""
        ...

    async def install_scenario(self, data: Any, api_key: str | None) -> None:
        """Install a scenario (its JSON object; ``None`` removes it). Raises ``ValueError`` or
        ``TypeError`` for a bad one (a string is not read as a file), before anything is
        installed."""
        ...

    async def consume_token(self, token: str) -> str | None:
        """The API key a single-use token was minted for, consuming it; ``None`` if invalid."""
        ...


class LocalAdmin:
    """The admin of one process: its journal and registry.

    Args:
        journal: the server's journal.
        registry: the server's registry.
        port: returns the public port (known once the server is listening).
    """

    def __init__(self, journal: Journal, registry: Registry, port: Callable[[], int]) -> None:
        self.journal = journal
        self.registry = registry
        self._port = port

    async def sessions(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self.journal.sessions()]

    async def health(self) -> dict[str, Any]:
        return {"ok": True, "open_sessions": self.journal.open_count(), "port": self._port()}

    async def reset(self) -> None:
        self.journal.reset()
        self.registry.reset()

    async def install_scenario(self, data: Any, api_key: str | None) -> None:
        # from_dict, not load_scenario: a string in a request is not a path to read.
        self.registry.install_scenario(None if data is None else Scenario.from_dict(data),
                                       api_key)

    async def consume_token(self, token: str) -> str | None:
        return self.registry.consume_token(token)


class Topology(Protocol):
    """How a server is deployed: alone, or as one worker of several on one port."""

    @property
    def token_prefix(self) -> str:
        """Hex digits every token this server mints starts with."""
        ...

    @property
    def private_site(self) -> bool:
        """Whether the server also listens on a loopback port of its own."""
        ...

    def routes(self) -> Sequence[web.RouteDef]:
        """Routes added to the application, before its catch-all 404."""
        ...

    def admin(self, local: LocalAdmin) -> Admin:
        """The admin of a server whose own state is ``local``."""
        ...


class Standalone:
    """One server on its own: its admin is its local state."""

    token_prefix: Final = ""
    private_site: Final = False

    def routes(self) -> Sequence[web.RouteDef]:
        return ()

    def admin(self, local: LocalAdmin) -> Admin:
        return local


#: The default topology.
STANDALONE: Final = Standalone()
