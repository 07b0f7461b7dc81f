"""Secret hygiene: the API key and tokens never appear in logs, output, reprs, errors or journals.

One test drives every path that handles a credential, with every logger at DEBUG (scribe_sync,
websocket-client's ``websocket`` logger in trace mode, the mock's access log),
stdout/stderr captured, and collects reprs and full exception text (``traceback`` formatting,
chained causes included); then it searches all of it for the key, the tokens and the proxy
password. ``scribe_sync/cli.py`` does not exist on this branch yet, so the CLI is not covered.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import socket
import ssl
import sys
import threading
import traceback
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from mock_server import MockServer
from mock_server.testing import speech
from scribe_sync import AuthError, ConnectionClosedError, ScribeClient, ScribeError, ServerError
from scribe_sync._redact import redact_url
from scribe_sync._transport import redact_log_text

KEY = "sk_live_7f3c9a1e5b2d4c6e8a0f1b3d5c7e9a2b"
PROXY_PASSWORD = "pr0xy-pa55word-31337"


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """Refuses everything with the server's status and echoes the request, as some gateways'
    error pages do: the secrets are in the body this client must not repeat."""

    status = 500

    def _answer(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # http.server would print the request line (with the token) to stderr


@contextlib.contextmanager
def echo_server(status: int) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.status = status  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="echo-http")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _failure(call: Any) -> str:
    """Run ``call``; it must raise a documented error. Returns the full formatted exception."""
    try:
        call()
    except (ScribeError, TimeoutError) as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError(f"{call} did not fail")


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (pytest swaps it between phases)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


@pytest.fixture
def trace_mode() -> Iterator[None]:
    """websocket-client's trace mode on (it dumps handshake headers), printing to stderr."""
    websocket.enableTrace(True, handler=_CurrentStderr())
    try:
        yield
    finally:
        websocket.enableTrace(False)


def test_no_secret_in_logs_output_reprs_errors_or_journal(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], trace_mode: None,
    tmp_path: Any,
) -> None:
    """Key, tokens and proxy password appear nowhere: DEBUG logs of every logger (websocket
    trace mode included), stdout/stderr, reprs, exception text, the mock's journal and admin API."""
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    texts: list[str] = []
    tokens: list[str] = []
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    tls_server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls_server)

    with MockServer(api_keys=[KEY], transcript="hello secret world") as server:
        client = ScribeClient(KEY, base_url=server.base_url)
        texts.append(repr(client))
        # A full session with the key, then with a token.
        with client.connect(include_timestamps=True) as session:
            session.send_audio(speech(1.0))
            texts += [repr(session), repr(session.stats), repr(session._core.transport),
                      repr(session.options)]
        token = client.create_token()
        tokens.append(token)
        with client.connect(token=token) as session:
            session.send_audio(speech(0.5))
            texts.append(repr(session))
        # Refusals: a reused token, a wrong key, a token request with a wrong key.
        texts.append(_failure(lambda: client.connect(token=token)))
        texts.append(_failure(lambda: ScribeClient(KEY + "x", base_url=server.base_url).connect()))
        texts.append(_failure(ScribeClient(KEY + "x", base_url=server.base_url).create_token))
        tokens.append(server.mint_token(KEY))
        texts.append(repr(ScribeClient(base_url=server.base_url).connect(token=tokens[-1]).close()))
        # The journal and the admin API.
        records = server.wait_idle(count=5)
        texts.append(json.dumps([r.to_dict() for r in records], default=repr))
        texts.append(repr(records))
        with urllib.request.urlopen(server.base_url + "/_mock/sessions", timeout=10) as reply:
            texts.append(reply.read().decode())

    # Servers that refuse the upgrade (and the token request) and echo the request back.
    for status in (401, 403, 500):
        with echo_server(status) as url:
            refused = ScribeClient(KEY, base_url=url)
            texts.append(_failure(refused.connect))
            texts.append(_failure(lambda refused=refused: refused.connect(token=tokens[0])))
            texts.append(_failure(refused.create_token))

    # TLS failures (unknown CA) for a session and a token.
    with MockServer(api_keys=[KEY], ssl_context=tls_server) as tls_mock:
        strict = ScribeClient(KEY, base_url=tls_mock.base_url)
        texts.append(_failure(strict.connect))
        texts.append(_failure(lambda: strict.connect(token=tokens[0])))
        texts.append(_failure(strict.create_token))

    # Nothing listening; a listener that never answers (open timeout); a proxy with a password.
    port = _closed_port()
    nowhere = ScribeClient(KEY, base_url=f"http://127.0.0.1:{port}")
    texts.append(_failure(lambda: nowhere.connect(token=tokens[0])))
    texts.append(_failure(nowhere.create_token))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        hung = ScribeClient(KEY, base_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                            open_timeout=0.5)
        texts.append(_failure(lambda: hung.connect(token=tokens[0])))
    proxied = ScribeClient(KEY, base_url="http://127.0.0.1:9",
                           proxy=f"http://user:{PROXY_PASSWORD}@127.0.0.1:{port}")
    texts.append(repr(proxied))
    texts.append(_failure(lambda: proxied.connect(token=tokens[0])))
    texts.append(_failure(proxied.create_token))

    out, err = capfd.readouterr()
    texts += [out, err]
    texts += [record.getMessage() for record in caplog.records]
    texts += ["".join(traceback.format_exception(*r.exc_info)) for r in caplog.records
              if r.exc_info]

    # The capture is real: trace mode printed handshakes, the mock logged requests, and the
    # session logged its frames.
    assert "GET /v1/speech-to-text/realtime?" in err
    assert any(r.name == "mock_server.access" for r in caplog.records)
    assert any("session_started" in r.getMessage() or " < " in r.getMessage()
               for r in caplog.records if r.name == "scribe_sync")
    assert "Logging error" not in err
    everything = "\n".join(texts)
    assert "xi-api-key: ***" in err  # the header was there, masked
    for secret in (KEY, *tokens, PROXY_PASSWORD):
        assert secret not in everything, f"a secret leaked: {secret[:6]}..."


@pytest.mark.parametrize("query", ["?xi-api-key=sk_base_url_secret", "?token=sk_base_url_secret",
                                   "?XI_API_KEY=sk_base_url_secret"])
def test_a_credential_in_the_base_urls_query_stays_out_of_the_clients_repr(query: str) -> None:
    client = ScribeClient("k", base_url="https://api.example.test" + query)
    assert "sk_base_url_secret" not in repr(client)


def test_redact_log_text_masks_handshake_headers_and_query_values() -> None:
    """Header lines for credentials and token/key query values are masked; the rest stays."""
    dump = ("GET /v1/speech-to-text/realtime?model_id=m&token=sutkn_abc&x=1 HTTP/1.1\r\n"
            "Host: api.elevenlabs.io\r\nxi-api-key: sk_123\r\nAuthorization: Bearer t k\r\n"
            "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n")
    assert redact_log_text(dump) == (
        "GET /v1/speech-to-text/realtime?model_id=m&token=***&x=1 HTTP/1.1\r\n"
        "Host: api.elevenlabs.io\r\nxi-api-key: ***\r\nAuthorization: ***\r\n"
        "Proxy-Authorization: ***\r\n\r\n"
    )
    assert redact_log_text("connect ws://h/p?api_key=K;xi-api-key=Q'") == (
        "connect ws://h/p?api_key=***;xi-api-key=***'"
    )


@pytest.mark.parametrize("name", ["%74oken", "xi%2Dapi%2Dkey", "api%5Fkey", "MY%5fTOKEN"])
def test_a_percent_encoded_credential_name_is_masked_in_urls_and_logs(name: str) -> None:
    """A name is judged as a server decodes it: ``%74oken`` is ``token``."""
    assert redact_url(f"wss://h/p?a=1&{name}=s3cret&b=2") == f"wss://h/p?a=1&{name}=***&b=2"
    line = f'"GET /p?{name}=s3cret HTTP/1.1" 101'
    assert redact_log_text(line) == f'"GET /p?{name}=*** HTTP/1.1" 101'


def test_a_second_query_glued_into_a_value_is_masked_too() -> None:
    assert redact_url("wss://h/p?next=/x?token=s3cret") == "wss://h/p?next=/x?token=***"
    assert redact_url("wss://h/p?note=a?b&c") == "wss://h/p?note=a?b&c"


def test_token_error_body_echoing_the_key_is_masked() -> None:
    """A token endpoint whose error page echoes the request keeps its detail, minus the key."""
    with echo_server(403) as url, pytest.raises(AuthError) as info:
        ScribeClient(KEY, base_url=url).create_token()
    text = str(info.value)
    assert "HTTP 403" in text and "single-use-token" in text  # the body's detail is kept
    assert KEY not in text and "***" in text


def test_handshake_refusals_map_to_typed_errors() -> None:
    """401/403 refusals of the upgrade raise AuthError; other statuses ConnectionClosedError."""
    for status, expected in ((401, AuthError), (403, AuthError), (500, ConnectionClosedError)):
        with echo_server(status) as url, pytest.raises(expected) as info:
            ScribeClient(KEY, base_url=url).connect()
        assert f"HTTP {status}" in str(info.value)
        assert not isinstance(info.value, ServerError) or info.value.error_type == "auth_error"


def test_mock_access_log_masks_credentials(caplog: pytest.LogCaptureFixture) -> None:
    """Request lines logged through the mock's access logger have token/key values masked."""
    caplog.set_level(logging.DEBUG)
    access = logging.getLogger("mock_server.access")
    access.info('%s "%s" %s', "127.0.0.1",
                "GET /v1/speech-to-text/realtime?model_id=m&token=sutkn_x1 HTTP/1.1", 101)
    access.info("GET /x?api_key=%s&xi-api-key=%s HTTP/1.1", KEY, KEY)
    messages = [r.getMessage() for r in caplog.records if r.name == access.name]
    assert messages == [
        '127.0.0.1 "GET /v1/speech-to-text/realtime?model_id=m&token=<redacted> HTTP/1.1" 101',
        "GET /x?api_key=<redacted>&xi-api-key=<redacted> HTTP/1.1",
    ]


@pytest.mark.parametrize(("query", "headers"), [
    ("xi_api_key={key}", {}),
    ("XI-API-KEY={key}", {}),
    ("TOKEN={token}", {}),
    ("Api_Key={key}", {}),
    ("language_code={key}", {"xi-api-key": "{key}"}),
    ("", {"xi-api-key": "{key}", "Sec-WebSocket-Protocol": "{key}"}),
    ("", {"xi-api-key": "{key}", "X_Api_Key": "{key}"}),
], ids=["underscored", "upper-case", "upper-case-token", "mixed", "key-in-another-parameter",
        "subprotocol", "odd-header"])
def test_the_mock_journal_redacts_credentials_under_any_spelling(
    query: str, headers: dict[str, str], caplog: pytest.LogCaptureFixture,
) -> None:
    """A credential under a name spelled another way (case, ``_`` for ``-``), pasted into
    another parameter, or sent as a WebSocket subprotocol stayed in clear in the journal (the
    redaction matched a few exact names), and aiohttp's warning about the subprotocol quoted
    it in the log. Now neither holds it, whatever the spelling."""
    caplog.set_level(logging.DEBUG)
    with MockServer(api_keys=[KEY]) as server:
        token = server.mint_token(KEY)
        url = f"{server.ws_url}?model_id=scribe_v2_realtime"
        if query:
            url += "&" + query.format(key=KEY, token=token)
        sent = [f"{name}: {value.format(key=KEY)}" for name, value in headers.items()]
        with contextlib.suppress(websocket.WebSocketException, OSError):
            ws = websocket.create_connection(url, header=sent, timeout=5)
            with contextlib.suppress(websocket.WebSocketException, OSError):
                ws.recv()
            ws.close()
        (record,) = server.wait_idle()
    handshake = json.dumps([record.query, record.headers])
    assert KEY not in handshake and token not in handshake and "<redacted>" in handshake
    if query.startswith("language_code"):
        return  # the caller's paste: its error message and request line quote the value
    assert KEY not in repr(record)
    assert not [r for r in caplog.records if KEY in r.getMessage()]
