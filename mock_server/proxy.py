"""The recording proxy (``scribe-mock record``): clients connect to it as to the service; it opens
the same session upstream, forwards both directions unchanged and writes each session to a
cassette (:mod:`mock_server.cassette`, docs/cassettes.md).

- The realtime endpoint takes the same credentials as the service: the ``xi-api-key`` header
  (or, when the client sends none, ``ELEVENLABS_API_KEY``) or a single-use ``token`` in the
  query; every query parameter goes upstream as the client wrote it.
- ``POST /v1/single-use-token/{type}`` is forwarded, so a client can mint its token through
  the proxy; tokens are never recorded.
- Whatever the upstream does is recorded as it happened and passed on: a refused handshake
  (the same HTTP status), an error message, a close (the same code and reason), a dropped
  connection (the client's connection is dropped too). An upstream the proxy cannot reach at
  all is the proxy's failure, not the service's answer: the client gets 502, and the session is
  not recorded but counted in :attr:`RecordingProxy.failures`.
- No credential is written or logged: the query's credentials are dropped from the cassette,
  every line is scrubbed of the key and token besides, and the access log is off (request
  lines carry ``?token=``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import urllib.parse
from typing import Any, Final

import aiohttp
from aiohttp import WSMsgType, web

from scribe_sync._redact import is_secret_name
from scribe_sync.protocol import REALTIME_PATH

from .cassette import CassetteWriter, SessionTape
from .logs import NoDetailFilter

__all__ = ["MAX_MESSAGE", "RecordingProxy"]

_TOKEN_PATH: Final = "/v1/single-use-token/{token_type}"
# What the proxy relays in one message, either way: the mock's limit, and what keeps every
# recorded line within what a cassette may hold (cassette.MAX_LINE).
MAX_MESSAGE: Final = 16 * 1024 * 1024
_CLOSE_GRACE: Final = 2.0  # seconds the other direction gets to finish after one ends
_NO_STATUS: Final = frozenset({1005, 1006})  # codes that never appear in a close frame
_LOG: Final = logging.getLogger("mock_server.proxy")


#: aiohttp's request errors (a malformed request, a handler's exception), without detail.
HTTP_LOG: Final = logging.getLogger("mock_server.proxy.http")
HTTP_LOG.addFilter(NoDetailFilter())


async def _forward(kind: WSMsgType, data: Any,
                   to: web.WebSocketResponse | aiohttp.ClientWebSocketResponse[bool]) -> None:
    """Send a data message on unchanged: text as text, binary as binary."""
    if kind is WSMsgType.TEXT:
        await to.send_str(data)
    else:
        await to.send_bytes(data)


class RecordingProxy:
    """A recording proxy to ``upstream`` on a background thread.

    ::

        with RecordingProxy("https://api.elevenlabs.io", "talk.jsonl") as proxy:
            client = ScribeClient(api_key, base_url=proxy.base_url)
            ...
        # talk.jsonl now holds every session, in the order they started

    Args:
        upstream: the service's base URL (``https://api.elevenlabs.io``, or a mock's).
        cassette: a file (every session, in the order they started) or an existing directory
            (one file per session; the first one written removes an older recording's).
        keep_audio: keep each chunk's audio in the cassette, not only its digest.
        host, port: where to listen (port 0 picks a free port).
        handshake_timeout: seconds the upstream gets to complete its handshake (one that
            trickles its answer is refused with 504 after that, and recorded so).

    A session that cannot be written (disk full, directory gone) or whose upstream could not
    be reached is logged on the ``mock_server.proxy`` logger and kept in :attr:`failures`; its
    client was answered all the same.
    """

    def __init__(self, upstream: str, cassette: str | os.PathLike[str], *,
                 keep_audio: bool = False, host: str = "127.0.0.1", port: int = 0,
                 handshake_timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme not in ("http", "https", "ws", "wss") or not parsed.netloc:
            raise ValueError(f"upstream must be an http(s):// or ws(s):// URL, not {upstream!r}")
        secure = parsed.scheme in ("https", "wss")
        self.upstream_http = f"{'https' if secure else 'http'}://{parsed.netloc}"
        self.upstream_ws = f"{'wss' if secure else 'ws'}://{parsed.netloc}"
        self.writer = CassetteWriter(cassette, keep_audio=keep_audio)
        self.keep_audio = keep_audio
        self.host = host
        self.port = port
        self.handshake_timeout = handshake_timeout
        self._count_lock = threading.Condition()  # guards _started, _finished and failures
        self._started = 0
        self._finished = 0
        #: One line per session that could not be written, in order.
        self.failures: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # event loop only
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._closed = False

    # ------------------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> RecordingProxy:
        """Listen on a background thread; return once the port is bound."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="scribe-mock-proxy")
            self._thread.daemon = True
            self._thread.start()
            if not self._ready.wait(timeout):
                raise TimeoutError("the recording proxy did not start")
            if self._startup_error is not None:
                self._thread.join(timeout)
                raise self._startup_error
        return self

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop; sessions still open are closed (1001) and written. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(timeout), loop)
        with contextlib.suppress(Exception):
            future.result(timeout + 1.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    @property
    def base_url(self) -> str:
        """What clients take as their base URL (``ScribeClient(base_url=)``, the SDK's)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The realtime endpoint's WebSocket URL (no query)."""
        return f"ws://{self.host}:{self.port}{REALTIME_PATH}"

    def wait_written(self, count: int = 1, timeout: float = 10.0) -> None:
        """Block until ``count`` sessions have ended and been written.

        Raises:
            TimeoutError: fewer sessions ended in time.
            OSError: a session could not be written (the first failure's line).
        """
        with self._count_lock:
            if not self._count_lock.wait_for(lambda: self._finished >= count, timeout):
                raise TimeoutError(f"{self._finished} of {count} sessions written")
            if self.failures:
                raise OSError(self.failures[0])

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start()
                self._startup_error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.add_routes([web.get(REALTIME_PATH, self._realtime),
                        web.post(_TOKEN_PATH, self._token)])
        # No access log: request lines carry ``?token=``.
        runner = web.AppRunner(app, handle_signals=False, access_log=None, logger=HTTP_LOG)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            # A port in use: undone here, so the one-line error is all that is printed
            # (not aiohttp's "Unclosed client session" besides).
            await runner.cleanup()
            raise
        # Made once listening, for the same reason.
        self._http = aiohttp.ClientSession()
        self.port = runner.addresses[0][1]

    async def _shutdown(self, timeout: float) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        if self._runner is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._runner.cleanup(), timeout)
        if self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------------------------ routes

    def _credentials(self, request: web.Request) -> tuple[dict[str, str], list[str]]:
        """Upstream headers and every secret of this request (to scrub from the cassette)."""
        key = request.headers.get("xi-api-key") or os.environ.get("ELEVENLABS_API_KEY", "")
        headers = {"xi-api-key": key} if key else {}
        secrets = [key] if key else []
        query = urllib.parse.parse_qs(request.query_string, keep_blank_values=True)
        for name, values in query.items():
            if is_secret_name(name):
                secrets.extend(values)
        return headers, secrets

    async def _token(self, request: web.Request) -> web.Response:
        assert self._http is not None
        headers, _ = self._credentials(request)
        url = f"{self.upstream_http}{request.path_qs}"
        try:
            async with self._http.post(url, headers=headers, data=await request.read()) as got:
                body = await got.read()
                return web.Response(status=got.status, body=body, content_type=got.content_type)
        except (aiohttp.ClientError, OSError):
            # Never the exception's text: aiohttp's includes the URL.
            return web.json_response({"detail": "the proxy could not reach the upstream"},
                                     status=502)

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None and self._http is not None
        self._tasks.add(task)
        try:
            return await self._session(request, self._http)
        finally:
            self._tasks.discard(task)

    async def _session(self, request: web.Request, http: aiohttp.ClientSession
                       ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        headers, secrets = self._credentials(request)
        query = urllib.parse.parse_qs(request.query_string, keep_blank_values=True)
        with self._count_lock:
            self._started += 1
            number = self._started
        tape = SessionTape(number, request.path, query,
                           auth="token" if "token" in query else "api_key",
                           secrets=secrets, keep_audio=self.keep_audio, start=loop.time())
        url = f"{self.upstream_ws}{request.path_qs}"
        try:
            upstream = await asyncio.wait_for(
                http.ws_connect(url, headers=headers, autoclose=False,
                                max_msg_size=MAX_MESSAGE, compress=0,
                                timeout=aiohttp.ClientWSTimeout(ws_receive=None,
                                                                ws_close=_CLOSE_GRACE)),
                self.handshake_timeout)
        except asyncio.TimeoutError:
            text = f"the upstream did not complete its handshake in {self.handshake_timeout:g} s"
            tape.refused(504, text, loop.time())
            self._write(tape)
            return web.json_response({"detail": text}, status=504)
        except aiohttp.WSServerHandshakeError as exc:
            tape.refused(exc.status, "", loop.time())
            self._write(tape)
            return web.Response(status=exc.status)
        except (aiohttp.ClientError, OSError):
            # The proxy's own failure (no route, refused connection, TLS), not the service's
            # answer: replaying it in CI would blame the service. Reported, never written.
            self._not_recorded(number, "the proxy could not reach the upstream")
            return web.json_response({"detail": "the proxy could not reach the upstream"},
                                     status=502)
        # A peer gets the grace period, not aiohttp's 10 s, to answer our close frame.
        client = web.WebSocketResponse(autoclose=False, max_msg_size=MAX_MESSAGE,
                                       compress=False, timeout=_CLOSE_GRACE)
        try:
            try:
                await client.prepare(request)
            except ConnectionResetError:
                # The client went away during its own handshake: nothing to relay, and no
                # traceback for aiohttp to log.
                tape.close("client", 1006, "", loop.time(), dropped=True)
                return web.Response(status=499)
            await self._relay(request, client, upstream, tape)
        finally:
            tape.close("proxy", 1001, "the recording proxy stopped", loop.time())
            # Written before the closing handshakes: a peer that never answers a close frame
            # (or a proxy stopping meanwhile) must not keep the session from its cassette.
            self._write(tape)
            with contextlib.suppress(Exception):
                await upstream.close()
            with contextlib.suppress(Exception):
                await client.close()
        return client

    async def _relay(self, request: web.Request, client: web.WebSocketResponse,
                     upstream: aiohttp.ClientWebSocketResponse[bool], tape: SessionTape) -> None:
        loop = asyncio.get_running_loop()

        async def from_client() -> None:
            while True:
                message = await client.receive()
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    tape.client(message.data, loop.time())
                    await _forward(message.type, message.data, upstream)
                    continue
                if message.type is WSMsgType.CLOSE:
                    code, reason = int(message.data), message.extra or ""
                    tape.close("client", code, reason, loop.time())
                    await client.close(code=code, message=reason.encode())
                    await upstream.close(code=code, message=reason.encode())
                elif isinstance(message.data, aiohttp.WebSocketError):
                    # aiohttp refused the client's frame (1009 over MAX_MESSAGE, 1007, 1002)
                    # and closed it with that code: the proxy's close, upstream's too.
                    tape.close("proxy", message.data.code, "", loop.time())
                    await upstream.close(code=message.data.code)
                else:  # the client's connection ended without a close frame
                    tape.close("client", 1006, "", loop.time(), dropped=True)
                    await upstream.close()
                return

        async def from_upstream() -> None:
            while True:
                message = await upstream.receive()
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    tape.server(message.data, loop.time())
                    await _forward(message.type, message.data, client)
                    continue
                if message.type is WSMsgType.CLOSE:
                    code, reason = int(message.data), message.extra or ""
                    tape.close("server", code, reason, loop.time())
                    await upstream.close(code=code, message=reason.encode())
                    # 1005 (no status) cannot be sent on: the client gets a plain 1000.
                    await client.close(code=1000 if code in _NO_STATUS else code,
                                       message=reason.encode())
                elif isinstance(message.data, aiohttp.WebSocketError):
                    # aiohttp refused the upstream's frame and closed it with that code: the
                    # proxy's close, the client's too.
                    tape.close("proxy", message.data.code, "", loop.time())
                    await client.close(code=message.data.code)
                else:  # dropped: the upstream's connection ended without a close frame
                    tape.close("server", 1006, "", loop.time(), dropped=True)
                    if request.transport is not None:
                        request.transport.abort()
                return

        tasks = [asyncio.ensure_future(from_client()), asyncio.ensure_future(from_upstream())]
        try:
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                # The other direction finishes the closing handshake, within a grace period.
                await asyncio.wait(pending, timeout=_CLOSE_GRACE)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    def _not_recorded(self, number: int, reason: str) -> None:
        failure = f"session {number} was not recorded: {reason}"
        _LOG.error("%s", failure)
        with self._count_lock:
            self._finished += 1
            self.failures.append(failure)
            self._count_lock.notify_all()

    def _write(self, tape: SessionTape) -> None:
        """Write a finished session; a failure is reported, never raised into the handler
        (the client has its answers, or is still to get the upstream's refusal)."""
        failure = None
        try:
            self.writer.write(tape)
        except OSError as exc:
            failure = (f"session {tape.n} was not written to {self.writer.path}: "
                       f"{exc.strerror or type(exc).__name__}")
            _LOG.error("%s", failure)
        with self._count_lock:
            self._finished += 1
            if failure is not None:
                self.failures.append(failure)
            self._count_lock.notify_all()
