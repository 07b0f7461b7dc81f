"""A redirect answering the WebSocket upgrade or the token request is refused, typed, and the
API key never reaches the host it names (websocket-client and urllib would both repeat the
request, key included, to any host, over plain ws:// too)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from scribe_sync import ConnectError, ScribeClient, ServerError

KEY = "sk_redirect_test_key_0123456789"


class _Listener:
    """Accepts connections on 127.0.0.1; answers each request with ``reply`` and records it."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="test-listener", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    piece = conn.recv(4096)
                    if not piece:
                        break
                    data += piece
                self.requests.append(data)
                conn.sendall(self.reply)

    def close(self) -> None:
        # shutdown() wakes the accept() blocked in the thread (close() alone would not).
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(10)
        assert not self._thread.is_alive()


@contextmanager
def _redirecting(status: int, scheme: str) -> Iterator[tuple[_Listener, _Listener]]:
    """A server redirecting every request to a second one, which would accept anything."""
    other = _Listener(b"HTTP/1.1 500 Nope\r\nContent-Length: 0\r\n\r\n")
    target = f"{scheme}://127.0.0.1:{other.port}/elsewhere?token=sutkn_in_location_123"
    first = _Listener(f"HTTP/1.1 {status} Moved\r\nLocation: {target}\r\n"
                      "Content-Length: 0\r\n\r\n".encode())
    try:
        yield first, other
    finally:
        first.close()
        other.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_upgrade_is_refused_and_the_key_goes_nowhere(status: int) -> None:
    with _redirecting(status, "ws") as (first, other):
        client = ScribeClient(KEY, base_url=f"http://127.0.0.1:{first.port}", open_timeout=10)
        with pytest.raises(ConnectError) as info:
            client.connect()
    text = str(info.value)
    assert f"HTTP {status}, a redirect to ws://127.0.0.1:{other.port}/elsewhere" in text
    assert "redirects are not followed" in text
    assert "sutkn_in_location_123" not in text and KEY not in text
    assert len(first.requests) == 1 and KEY.encode() in first.requests[0]
    assert other.requests == []


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirected_token_request_is_refused_and_the_key_goes_nowhere(status: int) -> None:
    with _redirecting(status, "http") as (first, other):
        client = ScribeClient(KEY, base_url=f"http://127.0.0.1:{first.port}", open_timeout=10)
        with pytest.raises(ServerError) as info:
            client.create_token()
    text = str(info.value)
    assert f"HTTP {status}, a redirect to http://127.0.0.1:{other.port}/elsewhere" in text
    assert "sutkn_in_location_123" not in text and KEY not in text
    assert other.requests == []
