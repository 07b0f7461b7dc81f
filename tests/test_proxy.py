"""Sessions through a real HTTP CONNECT proxy on loopback."""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import threading

import pytest

from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync import ConnectionClosedError, ScribeClient

# websocket-client never proxies localhost or 127.0.0.1 unless told otherwise, so the mock
# listens on another loopback address: the traffic still never leaves this machine.
MOCK_HOST = "127.0.0.2"


class ConnectProxy:
    """A minimal HTTP CONNECT proxy: tunnels to the requested host, optionally with Basic auth.

    Every thread it starts is named and joined by ``close()``.
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.tunnels: list[str] = []
        self.refused = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # guards _sockets and _threads
        self._accepting = threading.Thread(target=self._accept, name="test-proxy-accept")
        self._accepting.start()

    @property
    def url(self) -> str:
        if self.credentials is None:
            return f"http://127.0.0.1:{self.port}"
        user, password = self.credentials
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,),
                                      name="test-proxy-tunnel")
            with self._lock:
                self._sockets.append(client)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            data = client.recv(4096)
            if not data:
                return
            request += data
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip()
                   for k, v in (line.split(":", 1) for line in head[1:] if ":" in line)}
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if headers.get("proxy-authorization") != expected:
                self.refused += 1
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                               b"Content-Length: 0\r\n\r\n")
                return
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        with self._lock:
            self._sockets.append(upstream)
        self.tunnels.append(target)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = {client: upstream, upstream: client}
        while True:
            readable, _, _ = select.select(list(pair), [], [])
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return
                pair[sock].sendall(data)

    def close(self) -> None:
        # shutdown() wakes a thread blocked in accept(); close() alone does not on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accepting.join(5)
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(5)


@pytest.fixture
def mock_on_other_loopback() -> MockServer:
    try:
        probe = socket.create_server((MOCK_HOST, 0))
    except OSError:
        pytest.skip(f"{MOCK_HOST} is not usable as a loopback address here")
    probe.close()
    with MockServer(host=MOCK_HOST, transcript="through the proxy") as server:
        yield server


@pytest.mark.parametrize("credentials", [None, ("user", "p@ss word")])
def test_session_through_an_http_connect_proxy(
    mock_on_other_loopback: MockServer, credentials: tuple[str, str] | None
) -> None:
    """With proxy=, the WebSocket goes through the proxy's CONNECT tunnel (with Basic auth)."""
    proxy = ConnectProxy(credentials)
    try:
        client = ScribeClient("k", base_url=mock_on_other_loopback.base_url, proxy=proxy.url)
        with client.connect() as session:
            # Ended by silence: a commit during the speech would cut the utterance.
            session.send_audio(speech(1.0) + silence(0.5))
        assert session.transcript == "through the proxy"
        assert proxy.tunnels == [f"{MOCK_HOST}:{mock_on_other_loopback.port}"]
        assert "p@ss" not in repr(client)
    finally:
        proxy.close()


def test_a_proxy_that_refuses_gives_a_clear_error(mock_on_other_loopback: MockServer) -> None:
    """Wrong proxy credentials: a ConnectionClosedError, without the password in its text."""
    proxy = ConnectProxy(("user", "right"))
    try:
        client = ScribeClient("k", base_url=mock_on_other_loopback.base_url,
                              proxy=f"http://user:wrong-secret@127.0.0.1:{proxy.port}")
        with pytest.raises(ConnectionClosedError) as info:
            client.connect()
        assert "wrong-secret" not in str(info.value)
        assert proxy.refused == 1
        assert mock_on_other_loopback.sessions() == []
    finally:
        proxy.close()
