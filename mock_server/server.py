"""The mock server: :class:`MockServer` runs one aiohttp application (WebSocket endpoint, token
endpoint, admin API, all on one port; see :mod:`mock_server._http`) on a background thread.

The per-connection rules live in the sans-I/O :mod:`mock_server.engine`; the WebSocket driver in
:mod:`mock_server._session`; several processes on one port in :mod:`mock_server._workers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web

from ._http import ACCESS_LOGGER, REALTIME_PATH, TOKEN_PATH, build_app
from ._session import WebSocketSession
from .journal import Journal, SessionRecord
from .replay import ReplayBook
from .scenarios import Scenario, load_scenario
from .settings import Settings

if TYPE_CHECKING:
    from ._workers import Cluster

__all__ = ["REALTIME_PATH", "TOKEN_PATH", "MockServer"]

_SHUTDOWN_GRACE: Final = 1.0  # seconds a client gets to answer our 1001 before it is cut


class _Tokens:
    """Single-use tokens. Guarded by the owning server's state lock."""

    def __init__(self) -> None:
        self.issued: dict[str, tuple[str, float]] = {}  # token -> (api key, expiry)

    def mint(self, api_key: str, now: float, ttl: float, prefix: str = "") -> str:
        # ``prefix`` names the worker that minted the token (``--workers``).
        token = "sutkn_" + prefix + secrets.token_hex(24 - len(prefix) // 2)
        self.issued[token] = (api_key, now + ttl)
        return token

    def consume(self, token: str, now: float) -> str | None:
        entry = self.issued.pop(token, None)
        if entry is None or now >= entry[1]:
            return None
        return entry[0]


class MockServer:
    """A fake Scribe v2 Realtime server on a background thread.

    ::

        with MockServer(api_keys=["test-key"]) as server:
            client = ElevenLabs(api_key="test-key", base_url=server.base_url)
            ...
            record = server.wait_idle()[-1]
            assert record.audio_sha256 == hashlib.sha256(audio).hexdigest()

    Keyword arguments are the fields of :class:`~mock_server.settings.Settings`; or pass a
    ready ``settings`` object.
    """

    def __init__(self, settings: Settings | None = None, **kwargs: Any) -> None:
        if settings is None:
            settings = Settings(**kwargs)
        elif kwargs:
            settings = attrs.evolve(settings, **kwargs)
        self.settings = settings
        self.journal = Journal(settings.frame_policy)
        # _state_lock guards _tokens, _admin_scenario, _admin_key_scenarios, _scenario_counts.
        self._state_lock = threading.Lock()
        self._tokens = _Tokens()
        self._admin_scenario: Scenario | None = None
        self._admin_scenario_set = False
        self._admin_key_scenarios: dict[str, Scenario] = {}
        self._scenario_counts: dict[int, int] = {}
        self._active: dict[str, int] = {}  # credential -> open sessions; event loop only
        self._tasks: set[asyncio.Task[None]] = set()  # event loop only
        self._sessions: set[WebSocketSession] = set()  # open WebSocket sessions; event loop only
        self._cluster: Cluster | None = None  # set by a ``--workers`` worker before start()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.extra_routes: list[web.RouteDef] = []  # added before the catch-all 404
        self.private_port: int | None = None  # with private_site: a loopback-only second port
        self.private_site = False
        self.token_prefix = ""  # hex digits every minted token starts with (``--workers``)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._closed = False
        self._close_lock = threading.Lock()  # serialises close()
        self.port = 0
        # A replay (``cassette=``): the recorded sessions, and the differences a strict replay
        # found (appended on the event loop, read by tests after the sessions ended).
        self.replay_book = None if settings.cassette is None else ReplayBook(settings.cassette)
        self.replay_mismatches: list[str] = []

    # ------------------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> MockServer:
        """Start listening on a background thread; returns once the port is bound."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, name="scribe-mock-loop")
        self._thread.daemon = True
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the mock server did not start")
        if self._startup_error is not None:
            self._thread.join(timeout)
            raise self._startup_error
        return self

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving, close every connection (1001), join the thread. Idempotent, bounded."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if thread is threading.current_thread():
                loop.call_soon(loop.stop)
                return
            future = asyncio.run_coroutine_threadsafe(self._shutdown(timeout), loop)
            with contextlib.suppress(Exception):
                future.result(timeout + 1.0)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    async def _shutdown(self, timeout: float) -> None:
        runner = self._runner
        if runner is None:
            return
        for site in list(runner.sites):
            await site.stop()  # no new connections
        # Every open session gets a 1001; a client that does not answer within a short grace
        # is cut, so that it cannot hold the shutdown for the closing handshake's timeout.
        sessions = list(self._sessions)
        closing = [asyncio.ensure_future(s.close(1001, "")) for s in sessions]
        if closing:
            await asyncio.wait(closing, timeout=min(timeout, _SHUTDOWN_GRACE))
        for session in sessions:
            session.abort()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runner.cleanup(), timeout)
        for task in list(self._tasks):
            task.cancel()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._start_server())
            except BaseException as exc:  # reported to start()
                self._startup_error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start_server(self) -> None:
        settings = self.settings
        runner = web.AppRunner(
            build_app(self, *self.extra_routes),
            handle_signals=False,
            access_log=ACCESS_LOGGER,
            shutdown_timeout=2.0,
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(
            runner,
            settings.host,
            settings.port,
            ssl_context=settings.ssl_context,
            reuse_port=settings.reuse_port or None,
        )
        await site.start()
        self.port = runner.addresses[0][1]
        if self.private_site:
            # A port of this process alone (the public one is shared with ``--workers``).
            private = web.TCPSite(runner, "127.0.0.1", 0)
            await private.start()
            self.private_port = runner.addresses[-1][1]

    # ------------------------------------------------------------------------------ URLs

    @property
    def host(self) -> str:
        """The host clients should use (the bind address; ``0.0.0.0`` maps to loopback)."""
        host = self.settings.host
        if host in ("0.0.0.0", "", "::"):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def base_url(self) -> str:
        """HTTP(S) base URL, e.g. ``http://127.0.0.1:8765``: what ``ElevenLabs(base_url=)``
        and scribe-sync take."""
        scheme = "https" if self.settings.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The realtime endpoint's WebSocket URL (no query)."""
        scheme = "wss" if self.settings.ssl_context is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}{REALTIME_PATH}"

    # ------------------------------------------------------------------------------ test API

    def sessions(self) -> list[SessionRecord]:
        """Journal snapshots of every session since start or the last reset."""
        return self.journal.sessions()

    def wait_for(
        self, predicate: Callable[[list[SessionRecord]], bool], timeout: float = 10.0
    ) -> list[SessionRecord]:
        """Block until ``predicate(sessions)`` holds; raise ``TimeoutError`` otherwise."""
        return self.journal.wait_for(predicate, timeout)

    def wait_idle(self, timeout: float = 10.0, *, count: int = 1) -> list[SessionRecord]:
        """Wait until at least ``count`` sessions exist and all of them are closed."""
        return self.journal.wait_for(
            lambda records: len(records) >= count and all(r.closed for r in records), timeout
        )

    def reset(self) -> None:
        """Forget sessions, tokens and admin-installed scenarios."""
        self.journal.reset()
        with self._state_lock:
            self._tokens = _Tokens()
            self._admin_scenario = None
            self._admin_scenario_set = False
            self._admin_key_scenarios.clear()
            self._scenario_counts.clear()
        if self.replay_book is not None:
            self.replay_book.reset()
        self.replay_mismatches.clear()

    def install_scenario(self, scenario: Any, api_key: str | None = None) -> None:
        """Use ``scenario`` (object, dict, JSON text, path or ``None`` to remove) globally or for
        one API key, for sessions that start from now on."""
        loaded = None if scenario is None else load_scenario(scenario)
        with self._state_lock:
            if api_key is None:
                self._admin_scenario = loaded
                self._admin_scenario_set = loaded is not None
            elif loaded is None:
                self._admin_key_scenarios.pop(api_key, None)
            else:
                self._admin_key_scenarios[api_key] = loaded

    def mint_token(self, api_key: str = "mock-key") -> str:
        """A single-use token as ``POST /v1/single-use-token/realtime_scribe`` would give."""
        with self._state_lock:
            return self._tokens.mint(
                api_key, self.settings.clock(), self.settings.token_ttl_secs, self.token_prefix
            )

    # ------------------------------------------------------------------------------ internals

    def _key_ok(self, api_key: str) -> bool:
        keys = self.settings.api_keys
        return bool(api_key) and (keys is None or api_key in keys)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task that shutdown cancels. Event loop only."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume_token(self, token: str) -> str | None:
        """The API key a single-use token was minted for, consuming it; ``None`` if invalid."""
        if self._cluster is not None:
            return await self._cluster.consume_token(token)
        return self.consume_token(token)

    def consume_token(self, token: str) -> str | None:
        """Consume a token minted by this server (any thread)."""
        with self._state_lock:
            return self._tokens.consume(token, self.settings.clock())

    # Admin API: this server's own state, or every worker's (``--workers``).

    async def _admin_sessions(self) -> list[dict[str, Any]]:
        if self._cluster is not None:
            return await self._cluster.sessions()
        return [record.to_dict() for record in self.sessions()]

    async def _admin_health(self) -> dict[str, Any]:
        if self._cluster is not None:
            return await self._cluster.health()
        return {"ok": True, "open_sessions": self.journal.open_count(), "port": self.port}

    async def _admin_reset(self) -> None:
        if self._cluster is not None:
            await self._cluster.reset()
        else:
            self.reset()

    async def _admin_install(self, data: Any, api_key: str | None) -> None:
        if self._cluster is not None:
            if data is not None:
                load_scenario(data)  # a bad scenario fails here, before any worker has it
            await self._cluster.install_scenario(data, api_key)
        else:
            self.install_scenario(data, api_key)

    def _scenario_for(self, key: str) -> tuple[Scenario | None, int]:
        settings = self.settings
        with self._state_lock:
            scenario: Scenario | None
            if key in self._admin_key_scenarios:
                scenario = self._admin_key_scenarios[key]
            elif key in settings.key_scenarios:
                scenario = settings.key_scenarios[key]
            elif self._admin_scenario_set:
                scenario = self._admin_scenario
            else:
                scenario = settings.scenario
            if scenario is None:
                return None, 0
            number = self._scenario_counts.get(id(scenario), 0) + 1
            self._scenario_counts[id(scenario)] = number
            return scenario, number

