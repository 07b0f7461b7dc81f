"""The mock server: :class:`MockServer` runs one aiohttp application (WebSocket endpoint, token
endpoint, admin API, all on one port; see :mod:`mock_server._http`) on a background thread.

The server owns the pieces and wires them into a :class:`~mock_server.context.ServerContext`:
the journal, the :class:`~mock_server.registry.Registry` (keys, tokens, scenarios, per-key
counts) and the admin (:mod:`mock_server.admin`) its :class:`~mock_server.admin.Topology`
gives. The per-connection rules live in the sans-I/O :mod:`mock_server.engine`; the WebSocket
driver in :mod:`mock_server._session`; several processes on one port in
:mod:`mock_server._workers`, which is a topology like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, Final

import attrs
from aiohttp import web

from ._http import ACCESS_LOGGER, REALTIME_PATH, TOKEN_PATH, build_app
from .admin import STANDALONE, LocalAdmin, Topology
from .context import ServerContext, SourceFactory, engine_source
from .journal import Journal, SessionRecord
from .logs import ERROR_LOGGER, rate_limited_exception_handler
from .registry import Registry
from .replay_book import ReplayBook, replay_sources
from .settings import Settings

__all__ = ["REALTIME_PATH", "TOKEN_PATH", "MockServer"]

_SHUTDOWN_GRACE: Final = 1.0  # seconds a client gets to answer our 1001 before it is cut


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

    Args:
        settings: the configuration (or its fields as keyword arguments).
        topology: how the server is deployed (:data:`~mock_server.admin.STANDALONE` by
            default; a ``--workers`` worker passes its cluster).
        sources: makes each session's answer source
            (:func:`~mock_server.context.engine_source` by default).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        topology: Topology = STANDALONE,
        sources: SourceFactory = engine_source,
        **kwargs: Any,
    ) -> None:
        if settings is None:
            settings = Settings(**kwargs)
        elif kwargs:
            settings = attrs.evolve(settings, **kwargs)
        self.settings = settings
        # A replay (``cassette=``, docs/cassettes.md): the recorded sessions answer instead.
        self.replay_book = None if settings.cassette is None else ReplayBook(settings.cassette)
        refusal = None
        if self.replay_book is not None and sources is engine_source:
            sources = replay_sources(self.replay_book)
            refusal = functools.partial(self.replay_book.refusal, strict=settings.strict)
        self.journal = Journal(settings.frame_policy)
        self.registry = Registry(settings, topology.token_prefix)
        self._topology = topology
        local = LocalAdmin(self.journal, self.registry, lambda: self.port)
        self.context = ServerContext(
            settings=settings,
            journal=self.journal,
            registry=self.registry,
            admin=topology.admin(local),
            sources=sources,
            refusal=refusal,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.private_port: int | None = None  # with a topology's private site: loopback only
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._closed = False
        self._close_lock = threading.Lock()  # serialises close()
        self.port = 0

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
        sessions = list(self.context.sessions)
        closing = [asyncio.ensure_future(s.close(1001, "")) for s in sessions]
        if closing:
            await asyncio.wait(closing, timeout=min(timeout, _SHUTDOWN_GRACE))
        for session in sessions:
            session.abort()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runner.cleanup(), timeout)
        self.context.tasks.cancel_all()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(rate_limited_exception_handler)  # accept() errors, etc.
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
            build_app(self.context, *self._topology.routes()),
            handle_signals=False,
            access_log=ACCESS_LOGGER,
            shutdown_timeout=2.0,
            # A connection that has not sent a whole request within this is closed: idle
            # sockets and slowloris handshakes (aiohttp arms this timer at accept and honours
            # it only while it waits for a request, never during a WebSocket session).
            keepalive_timeout=settings.handshake_timeout_secs,
            logger=ERROR_LOGGER,
            # Bounds on what a client can make the HTTP parser buffer before the upgrade.
            max_line_size=8190,
            max_field_size=8190,
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
        if self._topology.private_site:
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
        """Forget sessions, tokens and admin-installed scenarios; a replay starts again from the
        cassette's first session."""
        self.journal.reset()
        self.registry.reset()
        if self.replay_book is not None:
            self.replay_book.reset()

    @property
    def replay_mismatches(self) -> list[str]:
        """In a strict replay, the first difference of each session that differed from its
        recording, in the order the sessions started."""
        return [] if self.replay_book is None else self.replay_book.mismatches()

    def install_scenario(self, scenario: Any, api_key: str | None = None) -> None:
        """Use ``scenario`` (object, dict, JSON text, path or ``None`` to remove) globally or for
        one API key, for sessions that start from now on."""
        self.registry.install_scenario(scenario, api_key)

    def mint_token(self, api_key: str = "mock-key") -> str:
        """A single-use token as ``POST /v1/single-use-token/realtime_scribe`` would give."""
        return self.registry.mint_token(api_key)

    def consume_token(self, token: str) -> str | None:
        """Consume a token minted by this server (any thread)."""
        return self.registry.consume_token(token)
