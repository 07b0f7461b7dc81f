"""Safe defaults: TLS verification on, size limits on both sides, a loopback-only admin API."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from mock_server import MockServer
from mock_server.settings import Settings
from mock_server.testing import Peer, chunk, speech
from scribe_sync import ConfigError, ConnectionClosedError, ScribeClient
from scribe_sync._transport import DEFAULT_MAX_MESSAGE_SIZE

KEY = "safe-defaults-key"

# ------------------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_mock(tmp_path: Path) -> Iterator[tuple[MockServer, Path]]:
    """A mock served over TLS with a certificate from a fresh trustme CA, and that CA's file."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with MockServer(api_keys=[KEY], ssl_context=context) as server:
        assert server.base_url.startswith("https://")
        yield server, ca_file


def test_default_client_refuses_an_unknown_ca(tls_mock: tuple[MockServer, Path]) -> None:
    """By default a session and a token request to an unknown CA's certificate are refused,
    with an error naming certificate verification and how to trust the CA."""
    server, _ = tls_mock
    client = ScribeClient(KEY, base_url=server.base_url)
    for call in (client.connect, client.create_token):
        with pytest.raises(ConnectionClosedError) as info:
            call()
        text = str(info.value)
        assert "certificate verification failed" in text
        assert "ca_file=" in text
    assert server.sessions() == []  # nothing reached the WebSocket endpoint


def test_ca_file_or_ssl_context_trusts_the_private_ca(tls_mock: tuple[MockServer, Path]) -> None:
    """With the CA given as ca_file= or in an ssl_context=, sessions and tokens work."""
    server, ca_file = tls_mock
    context = ssl.create_default_context(cafile=str(ca_file))
    for client in (ScribeClient(KEY, base_url=server.base_url, ca_file=ca_file),
                   ScribeClient(KEY, base_url=server.base_url, ssl_context=context)):
        with client.connect() as session:
            session.send_audio(speech(0.5))
        with client.connect(token=client.create_token()) as session:
            assert session.session_id
    assert len(server.wait_idle(count=4)) == 4


def test_hostname_mismatch_is_refused(tmp_path: Path) -> None:
    """A certificate from a trusted CA but for another host name is still refused."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("scribe.example").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with MockServer(api_keys=[KEY], ssl_context=context) as server:
        client = ScribeClient(KEY, base_url=server.base_url, ca_file=ca_file)
        for call in (client.connect, client.create_token):
            with pytest.raises(ConnectionClosedError, match="certificate verification failed"):
                call()


def test_verify_false_connects_and_warns_once(
    tls_mock: tuple[MockServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """verify=False connects to any certificate and logs one warning per client."""
    server, _ = tls_mock
    with caplog.at_level(logging.WARNING, logger="scribe_sync"):
        client = ScribeClient(KEY, base_url=server.base_url, verify=False)
        for _ in range(2):
            with client.connect() as session:
                assert session.session_id
        assert client.create_token().startswith("sutkn_")
    warnings = [r for r in caplog.records if "verification is disabled" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_verified_clients_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    """The default (verifying) client logs no TLS warning."""
    with caplog.at_level(logging.WARNING, logger="scribe_sync"):
        ScribeClient(KEY)
    assert not [r for r in caplog.records if "verification" in r.getMessage()]


# ------------------------------------------------------------------------------------ sizes


def test_client_refuses_a_server_message_over_the_default_limit() -> None:
    """A 2 MiB server message ends the session with ConnectionClosedError 1009 (default 1 MiB
    limit) and the client tells the server so with close 1009."""
    assert DEFAULT_MAX_MESSAGE_SIZE == 1 << 20
    huge = {"action": "send", "when": "chunks", "count": 1,
            "payload": {"message_type": "partial_transcript", "text": "x" * (2 << 20)}}
    with MockServer(api_keys=[KEY], scenario={"faults": [huge]}) as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        session.send_audio(speech(0.1))
        with pytest.raises(ConnectionClosedError) as info:
            session.recv(timeout=10)
        session.close()
        assert info.value.code == 1009
        assert "max_message_size=1048576" in str(info.value)
        assert session.closed
        assert server.wait_idle()[0].close_code == 1009


def test_client_limit_is_configurable() -> None:
    """max_message_size raises or removes the limit; invalid values are a ConfigError."""
    big = {"action": "send", "when": "chunks", "count": 1,
           "payload": {"message_type": "partial_transcript", "text": "y" * (1 << 20)}}
    with MockServer(api_keys=[KEY], scenario={"faults": [big]}) as server:
        for limit in (2 << 20, None):
            session = ScribeClient(KEY, base_url=server.base_url,
                                   max_message_size=limit).connect()
            session.send_audio(speech(0.1))
            event = session.recv(timeout=10)
            session.close()
            assert getattr(event, "text", "") == "y" * (1 << 20)
    for bad in (0, -1, 1.5, "1MiB"):
        with pytest.raises(ConfigError) as info:
            ScribeClient(KEY, max_message_size=bad)  # type: ignore[arg-type]
        assert info.value.option == "max_message_size"


def test_mock_default_message_limit_is_16_mib() -> None:
    """The mock's documented default for client messages is 16 MiB."""
    assert Settings().max_message_bytes == 16 * 1024 * 1024


def test_mock_closes_1009_on_an_oversized_client_message_and_keeps_serving() -> None:
    """A client message over max_message_bytes is closed with 1009 and journaled; the next
    session on the server works."""
    with MockServer(api_keys=[KEY], max_message_bytes=100_000) as server:
        with Peer(server, api_key=KEY) as peer:
            peer.recv_until("session_started")
            # ~107 KB of base64 JSON. The mock refuses it from the frame header and closes TCP
            # with the rest unread, so the client may see a reset instead of the close frame.
            with contextlib.suppress(OSError, websocket.WebSocketException):
                peer.send(chunk(b"\x00" * 80_000))
            assert peer.recv_all() == []
            assert peer.close_code in (1009, 1006)
        assert server.wait_idle()[0].close_code == 1009
        with ScribeClient(KEY, base_url=server.base_url).connect() as session:
            session.send_audio(speech(0.5))
        assert server.wait_idle(count=2)[1].audio_bytes == len(speech(0.5))


def test_chunk_limit_is_separate_from_the_message_limit() -> None:
    """max_chunk_bytes (decoded audio) answers chunk_size_exceeded within the message limit."""
    with MockServer(api_keys=[KEY], max_chunk_bytes=1000) as server:
        with Peer(server, api_key=KEY) as peer:
            peer.recv_until("session_started")
            peer.send(chunk(b"\x00" * 1002))
            error = peer.recv_until("chunk_size_exceeded")
            assert "1002 bytes" in error["error"]
            assert peer.recv_all() == []
        record = server.wait_idle()[0]
        assert record.errors == ("chunk_size_exceeded",)
        assert record.audio_bytes == 0


# ------------------------------------------------------------------------------ admin API


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine that is not loopback, if there is one."""
    candidates: list[str] = []
    with contextlib.suppress(OSError):
        candidates.append(socket.gethostbyname(socket.gethostname()))
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True,
                             timeout=5, check=False).stdout
        candidates += [line.split()[3].split("/")[0] for line in out.splitlines()
                       if len(line.split()) > 3]
    except (OSError, subprocess.SubprocessError):
        pass
    for address in candidates:
        if not address.startswith("127."):
            try:  # usable: we can bind it (traffic to it stays on this machine)
                with socket.socket() as probe:
                    probe.bind((address, 0))
            except OSError:
                continue
            return address
    return None


def _get(host: str, port: int, path: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_admin_api_answers_loopback_only() -> None:
    """Bound to 0.0.0.0, the admin API answers 127.0.0.1 and refuses (403) a request that
    arrives over this machine's non-loopback address, while the token endpoint answers both."""
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect through")
    with MockServer(host="0.0.0.0", api_keys=[KEY]) as server:
        status, body = _get("127.0.0.1", server.port, "/_mock/health")
        assert status == 200 and body["ok"] is True
        for path in ("/_mock/health", "/_mock/sessions"):
            status, body = _get(address, server.port, path)
            assert status == 403
            assert "loopback" in body["detail"]
        conn = http.client.HTTPConnection(address, server.port, timeout=10)
        try:
            conn.request("POST", "/v1/single-use-token/realtime_scribe",
                         headers={"xi-api-key": KEY})
            assert conn.getresponse().status == 200
        finally:
            conn.close()


def test_ipv4_mapped_loopback_counts_as_loopback() -> None:
    """::ffff:127.0.0.1 (a dual-stack socket's view of 127.0.0.1) is loopback; others are not."""
    from mock_server._http import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.1.2.3") and not is_loopback("::ffff:10.1.2.3")
    assert not is_loopback("not-an-address") and not is_loopback(None)
