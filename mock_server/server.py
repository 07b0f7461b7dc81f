"""The network side: one asyncio ``websockets`` server for the WebSocket endpoint, the token
endpoint and the admin API, run on a background thread by :class:`MockServer`.

Routes (everything else is 404):

- ``GET /v1/speech-to-text/realtime`` (WebSocket upgrade): a realtime session, see
  :mod:`mock_server.engine`.
- ``POST /v1/single-use-token/{token_type}`` with ``xi-api-key``: ``{"token": "sutkn_..."}``;
  ``OPTIONS`` answers CORS preflight requests.
- ``/_mock/...`` (loopback clients only): ``GET sessions``, ``GET health``, ``POST reset``,
  ``POST scenario[?api_key=KEY]`` with a scenario JSON body (``null`` removes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import json
import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any, Final

import attrs
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response, parse_headers, parse_line
from websockets.protocol import CONNECTING, Protocol
from websockets.server import ServerProtocol

from .bench import BenchStream
from .engine import Close, Drop, Engine, Send, error_actions
from .journal import (
    REDACTED,
    Journal,
    JournalFrame,
    SessionLog,
    SessionRecord,
    key_label,
    redact_headers,
    redact_query,
)
from .params import InvalidParams, parse_params, parse_query
from .scenarios import ERROR_TYPES, Delay, Scenario, load_scenario
from .settings import Settings

__all__ = ["REALTIME_PATH", "TOKEN_PATH", "MockServer"]

REALTIME_PATH: Final = "/v1/speech-to-text/realtime"
TOKEN_PATH: Final = "/v1/single-use-token/"
TOKEN_TYPES: Final = ("realtime_scribe", "batch_scribe", "tts_websocket")
AUTH_ERROR_TEXT: Final = "You must be authenticated to use this endpoint."  # live (CAP-A)
_MAX_BODY: Final = 1 << 20
_ERROR_TYPES: Final = frozenset(ERROR_TYPES)

# websockets logs request lines and headers at DEBUG ("< GET /...?token=...", "< xi-api-key: ...").
# The mock's connections log to a child of "websockets.server" (so handlers configured for
# websockets still see them) through a filter that masks credentials first.
_SECRET_LOG_RES: Final = (
    re.compile(r"(?i)([?&](?:token|api_key|xi-api-key)=)[^&#\s]+"),
    re.compile(r"(?im)(^[<>] (?:xi-api-key|authorization|proxy-authorization|cookie): ).+$"),
)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = message
        for pattern in _SECRET_LOG_RES:
            redacted = pattern.sub(r"\g<1>" + REDACTED, redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_WS_LOGGER: Final = logging.getLogger("websockets.server.scribe_mock")
_WS_LOGGER.addFilter(_RedactingFilter())


# =============================================================================================
# HTTP with bodies: websockets only parses body-less requests, so the mock's connections use a
# protocol whose request parser also reads a Content-Length body (for the admin API).


class _BodyServerProtocol(ServerProtocol):
    def parse(self) -> Generator[None]:
        if self.state is CONNECTING:
            try:
                line = yield from parse_line(self.reader.read_line)
                method, path, version = line.decode("ascii").split(" ", 2)
                if version not in ("HTTP/1.1", "HTTP/1.0"):
                    raise ValueError("unsupported HTTP version")
                headers = yield from parse_headers(self.reader.read_line)
                if "Transfer-Encoding" in headers:
                    raise ValueError("transfer codings are not supported")
                length = int(headers.get("Content-Length", "0"))
                if not 0 <= length <= _MAX_BODY:
                    raise ValueError("request body too large")
                body = bytes((yield from self.reader.read_exact(length))) if length else b""
            except Exception:
                self.send_eof()
                self.parser = self.discard()
                next(self.parser)
                yield
                return
            request = Request(path, headers, method, version)
            request._mock_body = body  # type: ignore[attr-defined]
            self.events.append(request)
        # Skip ServerProtocol.parse, whose only job (reading the request) is done above.
        yield from Protocol.parse(self)


class _Connection(ServerConnection):
    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        protocol.__class__ = _BodyServerProtocol
        protocol.parser = protocol.parse()
        next(protocol.parser)
        super().__init__(protocol, *args, **kwargs)


def _response(status: int, body: Any = None, *, extra: Mapping[str, str] | None = None) -> Response:
    data = b"" if body is None else json.dumps(body).encode()
    headers = Headers()
    headers["Content-Length"] = str(len(data))
    if body is not None:
        headers["Content-Type"] = "application/json"
    headers["Connection"] = "close"
    for name, value in (extra or {}).items():
        headers[name] = value
    return Response(status, http.HTTPStatus(status).phrase, headers, data)


def _cors(request: Request) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": request.headers.get("Origin", "*"),
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get(
            "Access-Control-Request-Headers", "xi-api-key, content-type"
        ),
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


# =============================================================================================


class _Tokens:
    """Single-use tokens. Guarded by the owning server's state lock."""

    def __init__(self) -> None:
        self.issued: dict[str, tuple[str, float]] = {}  # token -> (api key, expiry)

    def mint(self, api_key: str, now: float, ttl: float) -> str:
        token = "sutkn_" + secrets.token_hex(24)
        self.issued[token] = (api_key, now + ttl)
        return token

    def consume(self, token: str, now: float) -> str | None:
        entry = self.issued.pop(token, None)
        if entry is None or now >= entry[1]:
            return None
        return entry[0]


class _Session:
    """Runs one WebSocket connection: engine in, frames out."""

    def __init__(self, server: MockServer, conn: ServerConnection, log: SessionLog) -> None:
        self.server = server
        self.conn = conn
        self.log = log
        self.loop = asyncio.get_running_loop()
        self.engine: Engine | None = None
        self.bench: BenchStream | None = None  # benchmarks only: the tick stream
        self.stamp = server.settings.stamp_send_times
        self.journal_frames = server.settings.journal_frames
        self.delay: Delay | None = None
        self._rng = random.Random(0)
        self.queue: asyncio.Queue[tuple[float, Send | Close | Drop]] | None = None
        self.sender: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.done = False  # a Close or Drop was executed or queued: the engine is finished
        self.gone = False  # a send found the connection closed
        self.our_close: tuple[int, str] | None = None

    # ---------------------------------------------------------------------------- execution

    async def execute(self, actions: list[Send | Close | Drop]) -> None:
        for action in actions:
            if self.done:
                return
            if self.queue is None and isinstance(action, Send) and action.delay > 0:
                self._start_sender()  # a timing delay: from now on every frame is queued
            if self.queue is not None:
                await self.queue.put((self._due(action), action))
                if not isinstance(action, Send):
                    self.done = True
            else:
                await self._perform(action)

    def _start_sender(self) -> None:
        self.queue = asyncio.Queue()
        self.sender = self.loop.create_task(self._run_sender())

    def _due(self, action: Send | Close | Drop) -> float:
        """When a queued action may be performed: the engine's timing delay of a Send, plus
        the scenario's delay."""
        due = self.loop.time() + (action.delay if isinstance(action, Send) else 0.0)
        delay = self.delay
        if delay is None:
            return due
        if isinstance(action, Send) and isinstance(action.payload, dict):
            kinds = delay.message_types
            if kinds is not None and action.payload.get("message_type") not in kinds:
                return due
        jitter = self._rng.uniform(0.0, delay.jitter_secs) if delay.jitter_secs else 0.0
        return due + delay.fixed_secs + jitter

    async def _run_sender(self) -> None:
        assert self.queue is not None
        last_due = 0.0
        while True:
            due, action = await self.queue.get()
            due = max(due, last_due)  # order is preserved: a message never overtakes another
            last_due = due
            wait = due - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._perform(action)
            # A close or drop ends the sender; so does a send that found the connection gone
            # (the handler is then waiting for this task, and nothing else will be queued).
            # Not `done`: it is set as soon as a close is queued, and the frames queued before
            # that close (an error message) must still go out, in order.
            if not isinstance(action, Send) or self.gone:
                return

    async def _perform(self, action: Send | Close | Drop) -> None:
        conn = self.conn
        if isinstance(action, Send):
            payload = action.payload
            if isinstance(payload, dict):
                if self.stamp:
                    payload["_mock_sent_ns"] = time.monotonic_ns()
                encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                if not encoded.isascii():
                    try:
                        encoded.encode("utf-8")
                    except UnicodeEncodeError:
                        # A lone surrogate echoed from a client's JSON ("\\ud800" is valid
                        # JSON but not valid UTF-8): send it escaped rather than fail the send.
                        encoded = json.dumps(payload, separators=(",", ":"))
                text: str | bytes = encoded
                message_type = payload.get("message_type")
                if message_type in _ERROR_TYPES:
                    self.log.errors.append(message_type)
            else:
                text = payload
                message_type = None
            if self.journal_frames:  # appended before the send: ordered with the input
                self.log.frames.append(_out_frame(message_type, payload, len(text)))
            try:
                await conn.send(text)
            except ConnectionClosed:
                self.done = self.gone = True
        elif isinstance(action, Close):
            self.done = True
            self.our_close = (action.code, action.reason)
            # Journal first: the closing handshake may wait for the client's TCP close.
            self.server.journal.close(self.log, action.code, action.reason)
            with contextlib.suppress(ConnectionClosed):
                await conn.close(action.code, action.reason)
        else:
            self.done = True
            self.our_close = (1006, "")
            self.server.journal.close(self.log, 1006, "")
            conn.transport.abort()

    # ---------------------------------------------------------------------------- timer

    def _deadline(self) -> float | None:
        engine = self.engine
        if engine is None or self.done:
            return None
        times = [engine.deadline()]
        if self.bench is not None and not (engine.closed or engine.stalled):
            times.append(self.bench.deadline())
        return min((t for t in times if t is not None), default=None)

    def _arm(self) -> None:
        deadline = self._deadline()
        if deadline is None:
            return
        if self.timer is not None:
            if self.timer.when() <= deadline:
                return  # fires first and re-arms itself
            self.timer.cancel()
        self.timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        engine = self.engine
        deadline = self._deadline()
        if engine is None or deadline is None:
            return
        now = self.loop.time()
        if now < deadline:
            self.timer = self.loop.call_at(deadline, self._on_timer)
            return
        actions: list[Send | Close | Drop] = []
        if self.bench is not None and not (engine.closed or engine.stalled):
            actions.extend(Send(payload) for payload in self.bench.tick(now))
        actions.extend(engine.tick(now))
        if actions:
            task = self.loop.create_task(self.execute(actions))
            self.server._tasks.add(task)
            task.add_done_callback(self.server._tasks.discard)
        self._arm()  # a periodic deadline (the benchmark stream) needs the next one

    # ---------------------------------------------------------------------------- lifecycle

    async def run(self, query: dict[str, list[str]], headers: Headers) -> None:
        server = self.server
        settings = server.settings
        tokens = query.get("token")
        token = tokens[-1] if tokens else None
        api_key = headers.get("xi-api-key")
        key: str | None
        if token:
            # The token wins over any key (PySDK realtime/scribe.py docstring, PROTOCOL.md §1).
            with server._state_lock:
                key = server._tokens.consume(token, settings.clock())
            self.log.key_label = None if key is None else key_label(key)
        else:
            key = api_key if api_key and server._key_ok(api_key) else None
            self.log.key_label = None if key is None else key_label(key)
        if key is None:
            await self.execute(error_actions("auth_error", AUTH_ERROR_TEXT))
            return

        active = server._active
        limit = settings.max_sessions_per_key
        if limit is not None and active.get(key, 0) >= limit:
            # invented text
            text = f"Too many concurrent sessions for this API key (limit {limit})."
            await self.execute(error_actions("rate_limited", text))
            return
        active[key] = active.get(key, 0) + 1
        try:
            await self._run_session(key, query)
        finally:
            active[key] -= 1
            if not active[key]:
                del active[key]

    async def _run_session(self, key: str, query: dict[str, list[str]]) -> None:
        server = self.server
        try:
            params = parse_params(query, server.settings.models)
        except InvalidParams as exc:
            await self.execute(error_actions("invalid_request", str(exc)))
            return
        scenario, number = server._scenario_for(key)
        self.log.scenario = None if scenario is None else (scenario.name or "<unnamed>")
        engine = Engine(
            server.settings,
            params,
            self.log,
            scenario=scenario,
            scenario_session=number,
            now=self.loop.time(),
        )
        self.engine = engine
        if scenario is not None and scenario.delay is not None:
            self.delay = scenario.delay
            self._rng = random.Random(f"{scenario.delay.seed}:{number}")
            self._start_sender()
        await self.execute(engine.start(self.loop.time()))
        settings = server.settings
        if settings.bench_stream_count > 0 and not (engine.closed or engine.stalled):
            self.bench = BenchStream(
                settings.bench_stream_count,
                settings.bench_stream_interval_secs,
                start=self.loop.time(),
            )
        self._arm()
        conn = self.conn
        journal = server.journal
        try:
            while not self.done:
                try:
                    data = await conn.recv()
                except ConnectionClosed:
                    break
                actions = engine.receive(data, self.loop.time())
                if actions:
                    await self.execute(actions)
                self._arm()
                journal.notify()
        finally:
            if self.timer is not None:
                self.timer.cancel()
            if self.sender is not None:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    if self.done:
                        await self.sender
                    else:
                        self.sender.cancel()
                        await self.sender


def _is_loopback(host: str) -> bool:
    """Whether a peer address is loopback, IPv4-mapped IPv6 (``::ffff:127.0.0.1``) included."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _out_frame(message_type: str | None, payload: Any, size: int) -> JournalFrame:
    return JournalFrame("out", time.monotonic(), message_type, payload, size)


# =============================================================================================


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
        self.journal = Journal()
        # _state_lock guards _tokens, _admin_scenario, _admin_key_scenarios, _scenario_counts.
        self._state_lock = threading.Lock()
        self._tokens = _Tokens()
        self._admin_scenario: Scenario | None = None
        self._admin_scenario_set = False
        self._admin_key_scenarios: dict[str, Scenario] = {}
        self._scenario_counts: dict[int, int] = {}
        self._active: dict[str, int] = {}  # credential -> open sessions; event loop only
        self._tasks: set[asyncio.Task[None]] = set()  # event loop only
        self._conns: set[ServerConnection] = set()  # open connections; event loop only
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
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
        server = self._server
        if server is None:
            return
        for conn in list(self._conns):
            if conn.protocol.close_rcvd is not None and conn.protocol.close_sent is not None:
                conn.transport.abort()  # handshake done; only the client's TCP close is missing
        server.close(close_connections=True)
        # Connections whose client never closes its end of TCP would hold the shutdown for
        # websockets' close_timeout; after a short grace they are aborted.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(server.wait_closed()), min(timeout, 1.0))
        for conn in list(self._conns):
            conn.transport.abort()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout)
        for task in list(self._tasks):
            task.cancel()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                self._server = loop.run_until_complete(self._start_server())
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

    async def _start_server(self) -> Server:
        settings = self.settings
        server: Server = await serve(
            self._handle,
            settings.host,
            settings.port,
            process_request=self._process_request,
            create_connection=_Connection,
            ping_interval=None,  # the live service does not rely on pings (PROTOCOL.md §1)
            compression=None,  # keeps 500 sessions on 2 cores cheap; clients do not need it
            max_size=settings.max_message_bytes,
            max_queue=64,
            close_timeout=2.0,
            ssl=settings.ssl_context,
            logger=_WS_LOGGER,
        )
        sockets = list(server.sockets)
        self.port = sockets[0].getsockname()[1]
        return server

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
                api_key, self.settings.clock(), self.settings.token_ttl_secs
            )

    # ------------------------------------------------------------------------------ internals

    def _key_ok(self, api_key: str) -> bool:
        keys = self.settings.api_keys
        return bool(api_key) and (keys is None or api_key in keys)

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

    async def _handle(self, conn: ServerConnection) -> None:
        request = conn.request
        assert request is not None
        path, _, raw_query = request.path.partition("?")
        query = parse_query(raw_query)
        remote = conn.remote_address
        log = self.journal.open(
            path=path,
            query=redact_query(query),
            headers=redact_headers(list(request.headers.raw_items())),
            remote=f"{remote[0]}:{remote[1]}" if remote else "",
        )
        session = _Session(self, conn, log)
        self._conns.add(conn)
        try:
            await session.run(query, request.headers)
        finally:
            if session.our_close is None:
                protocol = conn.protocol
                received, sent = protocol.close_rcvd, protocol.close_sent
                if sent is not None and not protocol.close_rcvd_then_sent:
                    # websockets itself closed first: a message over max_message_bytes (1009),
                    # invalid UTF-8 (1007) or another protocol error (1002).
                    self.journal.close(log, sent.code, sent.reason)
                elif received is not None:
                    self.journal.close(log, received.code, received.reason)
                else:
                    self.journal.close(log, 1006, "")
            try:
                with contextlib.suppress(Exception):
                    await conn.close()
            finally:
                self._conns.discard(conn)

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path, _, raw_query = request.path.partition("?")
        method = request.method
        if path == REALTIME_PATH and method == "GET":
            return None  # the WebSocket handshake proceeds (or websockets answers 426)
        if path.startswith(TOKEN_PATH):
            return self._token_endpoint(request, path[len(TOKEN_PATH) :])
        if path.startswith("/_mock/"):
            remote = conn.remote_address
            loopback = remote is not None and _is_loopback(remote[0])
            if not loopback:
                return _response(403, {"detail": "the admin API answers loopback clients only"})
            return self._admin(request, path[len("/_mock/") :], parse_query(raw_query))
        return _response(404, {"detail": "Not Found"})

    def _token_endpoint(self, request: Request, token_type: str) -> Response:
        cors = _cors(request)
        if request.method == "OPTIONS":
            return _response(204, extra=cors)
        if request.method != "POST":
            return _response(405, {"detail": "Method Not Allowed"}, extra=cors)
        api_key = request.headers.get("xi-api-key")
        if not api_key or not self._key_ok(api_key):
            # invented body, in the shape of the live HTTP API's errors
            body: Any = {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
            return _response(401, body, extra=cors)
        if token_type not in TOKEN_TYPES:
            body = {
                "detail": [
                    {
                        "loc": ["path", "token_type"],
                        "msg": f"Input should be {', '.join(repr(t) for t in TOKEN_TYPES)}",
                        "type": "enum",
                    }
                ]
            }
            return _response(422, body, extra=cors)
        if token_type != "realtime_scribe":
            # Tokens of other types are minted but never valid on the realtime endpoint.
            return _response(200, {"token": "sutkn_" + secrets.token_hex(24)}, extra=cors)
        return _response(200, {"token": self.mint_token(api_key)}, extra=cors)

    def _admin(self, request: Request, action: str, query: dict[str, list[str]]) -> Response:
        method = request.method
        if action == "sessions" and method == "GET":
            return _response(200, [record.to_dict() for record in self.sessions()])
        if action == "health" and method == "GET":
            return _response(
                200, {"ok": True, "open_sessions": self.journal.open_count(), "port": self.port}
            )
        if action == "reset" and method == "POST":
            self.reset()
            return _response(200, {"ok": True})
        if action == "scenario" and method == "POST":
            body = getattr(request, "_mock_body", b"")
            keys = query.get("api_key")
            api_key = keys[-1] if keys else None
            try:
                data = json.loads(body or b"null")
                self.install_scenario(data, api_key)
            except (ValueError, TypeError) as exc:
                return _response(400, {"detail": f"invalid scenario: {exc}"})
            return _response(200, {"ok": True})
        return _response(404, {"detail": "Not Found"})
