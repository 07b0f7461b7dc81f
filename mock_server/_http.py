"""The HTTP side of the mock's one port: an aiohttp application with every route.

Routes (everything else is a JSON 404):

- ``GET /v1/speech-to-text/realtime`` (WebSocket upgrade): a realtime session, driven by
  :mod:`mock_server._session`; without an upgrade, 426.
- ``POST /v1/single-use-token/{token_type}`` with ``xi-api-key``: ``{"token": "sutkn_..."}``;
  ``OPTIONS`` answers CORS preflight requests.
- ``/_mock/...`` (loopback clients only): ``GET sessions``, ``GET health``, ``POST reset``,
  ``POST scenario[?api_key=KEY]`` with a scenario JSON object as its body (``null`` removes it;
  anything else is a 400).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from scribe_sync._redact import RedactingFilter

from ._scrub import Scrubber
from ._session import WebSocketSession
from .context import ServerContext
from .journal import REDACTED, redact_headers, redact_query, secrets_of
from .params import parse_query

__all__ = ["ACCESS_LOGGER", "MAX_BODY", "REALTIME_PATH", "TOKEN_PATH", "build_app", "is_loopback"]

REALTIME_PATH: Final = "/v1/speech-to-text/realtime"
TOKEN_PATH: Final = "/v1/single-use-token/"
TOKEN_TYPES: Final = ("realtime_scribe", "batch_scribe", "tts_websocket")
MAX_BODY: Final = 1 << 20  # admin scenario bodies; larger ones get 413
CONTEXT_KEY: Final[web.AppKey[ServerContext]] = web.AppKey("context")

# The access log has every request line, query string included ("?token=sutkn_..."): it goes
# to "mock_server.access" through the client's own filter, which masks credentials by the one
# rule, parameter names percent-decoded ("?%74oken=" is "token" to the query parser).
ACCESS_LOGGER: Final = logging.getLogger("mock_server.access")
ACCESS_LOGGER.addFilter(RedactingFilter(mask=REDACTED))


def is_loopback(host: str | None) -> bool:
    """Whether a peer address is loopback, IPv4-mapped IPv6 (``::ffff:127.0.0.1``) included."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def json_response(status: int, body: Any = None, *, extra: Mapping[str, str] | None = None
                  ) -> web.Response:
    """A JSON response (no body for ``None``)."""
    headers = dict(extra or {})
    if body is None:
        response = web.Response(status=status, headers=headers)
    else:
        response = web.Response(status=status, body=json.dumps(body).encode(), headers=headers,
                                content_type="application/json")
    # One request per connection: clients that never close their HTTP pool (the official
    # SDK's sync client) would otherwise hold an idle socket to the mock for ever.
    response.force_close()
    return response


def _cors(request: web.Request) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": request.headers.get("Origin", "*"),
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get(
            "Access-Control-Request-Headers", "xi-api-key, content-type"
        ),
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _context(request: web.Request) -> ServerContext:
    return request.app[CONTEXT_KEY]


async def _realtime(request: web.Request) -> web.StreamResponse:
    ctx = _context(request)
    settings = ctx.settings
    ws = web.WebSocketResponse(
        compress=False,  # keeps many sessions cheap; clients do not need it
        # aiohttp refuses a message of max_msg_size bytes; the setting admits it (as before).
        max_msg_size=settings.max_message_bytes + 1,
        timeout=2.0,  # the closing handshake's wait for the client's close frame
        autoping=True,  # the live service does not rely on pings (docs/protocol.md §1)
    )
    if not ws.can_prepare(request).ok:
        return json_response(426, {"detail": "Upgrade Required"}, extra={"Upgrade": "websocket"})
    query = parse_query(request.query_string)
    status = None if ctx.refusal is None else ctx.refusal(query)
    if status is not None:
        return web.Response(status=status)  # a replayed refusal of the handshake
    try:
        await ws.prepare(request)
    except ConnectionError:
        # The client went away during the handshake (a flood of these, at a descriptor limit,
        # must not log a traceback each): aiohttp finds this response unwritable and drops
        # the connection quietly.
        return web.Response(status=400)
    known = secrets_of(request.headers, query, settings.api_keys)
    log = ctx.journal.open(
        path=request.path,
        query=redact_query(query, known),
        headers=redact_headers(list(request.headers.items()), known),
        remote=_remote(request),
        scrubber=Scrubber(known),
    )
    session = WebSocketSession(ctx, request, ws, log)
    ctx.sessions.add(session)
    try:
        await session.run(query, request.headers.get("xi-api-key"))
    finally:
        ctx.sessions.discard(session)
    return ws


def _remote(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peer[0]}:{peer[1]}" if peer else ""


async def _token(request: web.Request) -> web.Response:
    registry = _context(request).registry
    cors = _cors(request)
    if request.method == "OPTIONS":
        return json_response(204, extra=cors)
    if request.method != "POST":
        return json_response(405, {"detail": "Method Not Allowed"}, extra=cors)
    token_type = request.match_info["token_type"]
    api_key = request.headers.get("xi-api-key")
    if not api_key or not registry.key_ok(api_key):
        # invented body, in the shape of the live HTTP API's errors
        body: Any = {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
        return json_response(401, body, extra=cors)
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
        return json_response(422, body, extra=cors)
    if token_type != "realtime_scribe":
        # Tokens of other types are minted but never valid on the realtime endpoint.
        return json_response(200, {"token": "sutkn_" + secrets.token_hex(24)}, extra=cors)
    return json_response(200, {"token": registry.mint_token(api_key)}, extra=cors)


async def _admin(request: web.Request) -> web.Response:
    if not is_loopback(request.remote):
        return json_response(403, {"detail": "the admin API answers loopback clients only"})
    admin = _context(request).admin
    action, method = request.match_info["action"], request.method
    if action == "sessions" and method == "GET":
        return json_response(200, await admin.sessions())
    if action == "health" and method == "GET":
        return json_response(200, await admin.health())
    if action == "reset" and method == "POST":
        await admin.reset()
        return json_response(200, {"ok": True})
    if action == "scenario" and method == "POST":
        keys = request.query.getall("api_key", [])
        api_key = keys[-1] if keys else None
        try:
            # The handshake timeout covers the request's headers only (aiohttp stops timing
            # once they are parsed): a body trickled byte by byte gets the same time again.
            body = await asyncio.wait_for(request.read(),
                                          _context(request).settings.handshake_timeout_secs)
        except asyncio.TimeoutError:
            return json_response(408, {"detail": "the request body did not arrive in time"})
        try:
            await admin.install_scenario(_scenario_body(body), api_key)
        except (ValueError, TypeError) as exc:
            return json_response(400, {"detail": f"invalid scenario: {exc}"})
        except RecursionError:
            return json_response(400, {"detail": "invalid scenario: nested too deep"})
        return json_response(200, {"ok": True})
    return json_response(404, {"detail": "Not Found"})


def _scenario_body(body: bytes) -> dict[str, Any] | None:
    """A scenario body's JSON object, or ``None`` (an empty body or ``null``: remove it).
    Nothing else: a JSON string is not a file to read (only the server's own options name
    files).

    Raises:
        ValueError: not JSON, or not an object.
    """
    try:
        data = json.loads(body or b"null")
    except RecursionError:
        raise ValueError("the body is nested too deep") from None
    except ValueError as exc:
        raise ValueError(f"the body is not JSON ({exc})") from None
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"the body must be a JSON object or null, not {type(data).__name__}")
    return data


async def _not_found(request: web.Request) -> web.Response:
    return json_response(404, {"detail": "Not Found"})


def build_app(ctx: ServerContext, *extra: web.RouteDef) -> web.Application:
    """The application of one mock server (``extra`` routes: the workers' private API)."""
    app = web.Application(client_max_size=MAX_BODY)
    app[CONTEXT_KEY] = ctx
    app.add_routes([
        web.get(REALTIME_PATH, _realtime),
        web.route("*", TOKEN_PATH + "{token_type}", _token),
        web.route("*", "/_mock/{action}", _admin),
        *extra,
        web.route("*", "/{tail:.*}", _not_found),
    ])
    return app
