"""Hostile clients on real sockets: idle sockets, slowloris handshakes and half-sent frames are
closed, the memory of a half-sent frame is released, and a flood of loop errors is logged a
few times, not thousands."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_server import MockServer
from mock_server.logs import RateLimitFilter, rate_limited_exception_handler

WAIT = 30.0  # generous bound on waiting for the mock to act; never a timing assertion
ROOT = Path(__file__).resolve().parent.parent


def _closed_by_peer(sock: socket.socket) -> bool:
    """Read what is buffered; True once the peer closed (EOF or reset)."""
    try:
        while True:
            if not select.select([sock], [], [], 0)[0]:
                return False
            if not sock.recv(65536):
                return True
    except OSError:
        return True


def _wait_all_closed(socks: list[socket.socket]) -> list[bool]:
    """Wait (bounded) until the mock closed every socket; which ones it closed."""
    open_ = set(range(len(socks)))
    deadline = time.monotonic() + WAIT
    while open_ and time.monotonic() < deadline:
        ready, _, _ = select.select([socks[i] for i in open_], [], [], 0.5)
        for sock in ready:
            i = socks.index(sock)
            if _closed_by_peer(sock):
                open_.discard(i)
    return [i not in open_ for i in range(len(socks))]


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Client sockets, closed after the test."""
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def _connect(server: MockServer, made: list[socket.socket]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    made.append(sock)
    return sock


def _upgrade_request() -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        "GET /v1/speech-to-text/realtime?model_id=scribe_v2_realtime HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nxi-api-key: k\r\n\r\n"
    ).encode()


def _handshake(server: MockServer, made: list[socket.socket]) -> socket.socket:
    sock = _connect(server, made)
    sock.sendall(_upgrade_request())
    reply = b""
    while b"\r\n\r\n" not in reply:
        data = sock.recv(4096)
        assert data, "the mock closed during the handshake"
        reply += data
    assert reply.startswith(b"HTTP/1.1 101")
    return sock


def _half_frame(size: int) -> bytes:
    """A masked text frame header announcing ``size`` bytes, and half of them."""
    return bytes([0x81, 0x80 | 127]) + struct.pack(">Q", size) + b"\0\0\0\0" + b"a" * (size // 2)


def test_idle_sockets_that_never_send_a_request_are_closed(sockets: list[socket.socket]) -> None:
    """50 sockets that connect and say nothing are closed after the handshake timeout."""
    with MockServer(handshake_timeout_secs=0.5) as server:
        for _ in range(50):
            _connect(server, sockets)
        assert all(_wait_all_closed(sockets))


def test_slowloris_handshakes_are_closed(sockets: list[socket.socket]) -> None:
    """Clients that trickle their upgrade request byte by byte are cut at the timeout."""
    with MockServer(handshake_timeout_secs=0.5) as server:
        for _ in range(20):
            _connect(server, sockets)
        request = _upgrade_request()
        closed = [False] * len(sockets)
        deadline = time.monotonic() + WAIT
        position = 0
        while not all(closed) and time.monotonic() < deadline and position < len(request) - 4:
            for i, sock in enumerate(sockets):
                if closed[i]:
                    continue
                try:
                    sock.sendall(request[position : position + 1])
                except OSError:
                    closed[i] = True
                    continue
                closed[i] = _closed_by_peer(sock)
            position += 1
            time.sleep(0.05)  # the trickle itself, not a synchronisation
        assert position < len(request) - 4, "the trickle finished before the timeout"
        assert all(_wait_all_closed([s for s, c in zip(sockets, closed, strict=True) if not c]))
        assert server.sessions() == []  # no session ever started


def test_half_sent_frames_are_closed_and_their_memory_released(
    sockets: list[socket.socket],
) -> None:
    """20 connections each stop in the middle of a 4 MiB frame: with the idle close off, the
    read timeout still closes them (1008), and the memory they made the mock buffer is
    released."""
    size = 4 << 20
    gc.collect()
    tracemalloc.start()
    try:
        with MockServer(idle_timeout_secs=None, read_timeout_secs=1.0) as server:
            baseline = tracemalloc.get_traced_memory()[0]
            for _ in range(20):
                _handshake(server, sockets).sendall(_half_frame(size))
            assert all(_wait_all_closed(sockets))
            records = server.wait_idle(count=20, timeout=WAIT)
            assert {r.close_code for r in records} == {1008}
            assert all(r.close_reason == "read timeout" for r in records)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - baseline
            # 20 x 2 MiB were buffered; what is left is the journal and small objects.
            assert held < 4 << 20, held
    finally:
        tracemalloc.stop()


def test_an_oversized_frame_is_refused_from_its_header(sockets: list[socket.socket]) -> None:
    """A frame announcing more than max_message_bytes is refused (1009) before any payload
    is buffered."""
    with MockServer(max_message_bytes=1 << 20) as server:
        sock = _handshake(server, sockets)
        sock.sendall(bytes([0x81, 0x80 | 127]) + struct.pack(">Q", 8 << 20) + b"\0\0\0\0")
        assert _wait_all_closed([sock]) == [True]
        assert server.wait_idle(timeout=WAIT)[0].close_code == 1009


def test_loop_errors_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """10,000 accept() errors in a burst give a handful of log lines, then a count."""
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="mock_server.loop"):
            for _ in range(10_000):
                rate_limited_exception_handler(
                    loop, {"message": "socket.accept() out of system resource",
                           "exception": OSError(24, "Too many open files")})
    finally:
        loop.close()
    lines = [r for r in caplog.records if r.name == "mock_server.loop"]
    assert 1 <= len(lines) <= 10
    assert all(r.exc_info is None for r in lines)  # one line each, no traceback
    assert "Too many open files" in lines[0].getMessage()


def test_the_rate_limit_reports_what_it_suppressed() -> None:
    """After a window with suppressed records, the next one says how many."""
    now = [0.0]
    limit = RateLimitFilter(burst=2, window=10.0, clock=lambda: now[0])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, None)
    passed = [limit.filter(record) for _ in range(5)]
    assert passed == [True, True, False, False, False]
    now[0] = 11.0
    later = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, None)
    assert limit.filter(later)
    assert "3 similar messages suppressed" in later.getMessage()


def test_a_session_in_progress_outlives_the_handshake_timeout() -> None:
    """The handshake timeout never cuts an established WebSocket session."""
    from mock_server.testing import Peer, chunk, silence

    with MockServer(handshake_timeout_secs=0.2) as server, Peer(server) as peer:
        peer.recv_until("session_started")
        done = threading.Event()
        # Outlive the timeout several times over, then prove the session still answers.
        done.wait(1.0)
        peer.send(chunk(silence(0.5), commit=True))
        assert peer.recv_until("committed_transcript")["text"] == ""


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_at_the_descriptor_limit_the_log_stays_short() -> None:
    """scribe-mock at a 60-descriptor limit, flooded with handshakes for 3 s: accept()
    errors are logged as a few single lines, never as a stream of tracebacks."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        ["prlimit", "--nofile=60:60", sys.executable, "-m", "mock_server", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    port = int(proc.stdout.readline().rsplit(":", 1)[1])
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()),
                              name="test-stderr")
    reader.start()
    made: list[socket.socket] = []
    try:
        flood_until = time.monotonic() + 3.0
        while time.monotonic() < flood_until:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                sock.sendall(_upgrade_request())
                made.append(sock)
            except OSError:
                pass
            if len(made) > 200:  # the client's own descriptors stay bounded
                for sock in made[:100]:
                    sock.close()
                del made[:100]
    finally:
        for sock in made:
            sock.close()
        proc.terminate()
        proc.wait(WAIT)
        reader.join(WAIT)
        proc.stdout.close()
        proc.stderr.close()
    errors = [line for line in lines if "shutting down" not in line]
    assert len(errors) <= 20, "".join(errors[:30])
    assert not any(line.startswith("Traceback") for line in lines)


@pytest.mark.parametrize("request_bytes", [
    b"GET /v1/speech-to-text/realtime?token=SECRET123\x00 HTTP/1.1\r\n\r\n",
    b"GET /v1/speech-to-text/realtime?token=SECRET123 HTTP/1.1\r\nHost: x\r\n"
    b"xi-api-key: SECRET123\x01\r\n\r\n",
    b"GET /v1/speech-to-text/realtime?token=SECRET123 HTTP/1.1\r\nHost: x\r\nBad Header\r\n"
    b"\r\n",
])
def test_a_malformed_request_logs_no_credential(caplog: pytest.LogCaptureFixture,
                                                request_bytes: bytes) -> None:
    """aiohttp logs a request it cannot parse with its request line or a header quoted in the
    error's text and traceback; the mock's log keeps the error's kind only, never the token or
    the key."""
    caplog.set_level(logging.DEBUG)
    with MockServer() as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(request_bytes)
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    logged = "\n".join(record.getMessage() + str(record.exc_info) + (record.exc_text or "")
                       for record in caplog.records)
    assert "SECRET123" not in logged
    assert "Error handling request" in logged


def test_a_trickled_admin_body_is_cut_at_the_timeout(sockets: list[socket.socket]) -> None:
    """An admin request whose headers arrive at once and whose body trickles byte by byte gets
    408 and is closed: the handshake timeout covers the body too, not the headers only."""
    body = b" " * 4000  # at one byte per 0.05 s, far longer than the timeout and WAIT
    with MockServer(handshake_timeout_secs=0.5) as server:
        sock = _connect(server, sockets)
        sock.sendall(b"POST /_mock/scenario HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        deadline = time.monotonic() + WAIT
        sent = 0
        while sent < len(body) and time.monotonic() < deadline and not _closed_by_peer(sock):
            try:
                sock.sendall(body[sent : sent + 1])
            except OSError:
                break
            sent += 1
            time.sleep(0.05)  # the trickle itself, not a synchronisation
        assert sent < len(body), "the trickle finished before the timeout"
        assert _wait_all_closed([sock]) == [True]
