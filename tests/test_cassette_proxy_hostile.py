"""The recording proxy against hostile clients, upstreams and disks: the client always gets
its answers or the upstream's refusal, every session is recorded or its failure reported,
and no credential reaches a cassette, a log line or an exception's text."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import websocket

from mock_server.cassette import CassetteWriter, SessionTape, load
from mock_server.proxy import RecordingProxy
from mock_server.testing import Peer, speech
from tests.cassette_clients import KEY, scribe_sync_run, segments, upstream
from tests.rawserver import OP_BINARY, OP_TEXT, ScriptServer, frame
from tests.rawserver import Peer as RawPeer

LANGUAGES = ("en", "fr", "de", "es")
Respond = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def http_upstream(respond: Respond) -> Iterator[str]:
    """An upstream on 127.0.0.1 that reads one request per connection and runs ``respond``
    on the socket (until ``stop`` is set); yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with sock:
                sock.settimeout(5)
                request = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in request:
                        data = sock.recv(4096)
                        if not data:
                            break
                        request += data
                    respond(sock, stop)

    thread = threading.Thread(target=serve, name="hostile-upstream")
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


@pytest.mark.parametrize("status", [401, 403, 429, 500])
def test_an_upstream_refusal_reaches_the_client_with_its_status(tmp_path: pathlib.Path,
                                                                status: int) -> None:
    def refuse(sock: socket.socket, stop: threading.Event) -> None:
        body = json.dumps({"detail": {"status": "refused", "message": "no"}}).encode()
        sock.sendall(f"HTTP/1.1 {status} Refused\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)

    path = tmp_path / "refused.jsonl"
    with http_upstream(refuse) as url, RecordingProxy(url, path) as proxy:
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            Peer(proxy, api_key=KEY)
        proxy.wait_written(1)
    assert caught.value.status_code == status
    assert load(path).sessions[0].of("refused")[0]["status"] == status
    assert KEY not in path.read_text()


def test_an_upstream_the_proxy_cannot_reach_is_reported_not_recorded(
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens upstream: the client gets 502, as before, but the cassette used to
    record it as the service's refusal, and every replay in CI then failed as if the service
    had answered 502. It is the proxy's failure: logged, counted, never written."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening: refused
        path = tmp_path / "none.jsonl"
        with caplog.at_level(logging.ERROR, logger="mock_server.proxy"), \
                RecordingProxy(url, path) as proxy:
            with pytest.raises(websocket.WebSocketBadStatusException) as caught:
                Peer(proxy, api_key=KEY)
            with pytest.raises(OSError, match="session 1 was not recorded: the proxy could "
                                              "not reach the upstream"):
                proxy.wait_written(1)
    assert caught.value.status_code == 502
    assert proxy.failures == ["session 1 was not recorded: the proxy could not reach the "
                              "upstream"]
    assert not path.exists() or not load(path).sessions
    assert "session 1 was not recorded" in caplog.text and KEY not in caplog.text


def test_an_upstream_that_trickles_its_101_is_given_up_on(tmp_path: pathlib.Path) -> None:
    """One byte of its answer at a time, never finishing: the client gets 504 once the
    handshake timeout passes (it waited for ever, or five minutes, before), and the cassette
    records the refusal."""
    def trickle(sock: socket.socket, stop: threading.Event) -> None:
        for byte in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n":
            if stop.wait(0.05):
                return
            sock.sendall(bytes([byte]))
        stop.wait(10)

    path = tmp_path / "trickle.jsonl"
    with http_upstream(trickle) as url, RecordingProxy(url, path,
                                                       handshake_timeout=0.5) as proxy:
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            Peer(proxy, api_key=KEY)
        proxy.wait_written(1)
    assert caught.value.status_code == 504
    assert load(path).sessions[0].of("refused")[0]["status"] == 504


def test_an_upstream_that_closes_mid_frame_drops_the_client_and_is_recorded(
        tmp_path: pathlib.Path) -> None:
    def handler(peer: RawPeer) -> None:
        peer.send_started()
        peer.sock.sendall(frame(OP_TEXT, b'{"message_type": "partial', length=100))
        peer.reset()

    path = tmp_path / "midframe.jsonl"
    with ScriptServer(handler) as server, RecordingProxy(server.base_url, path) as proxy:
        peer = Peer(proxy, api_key=KEY)
        peer.recv_until("session_started")
        assert peer.recv() is None
        proxy.wait_written(1)
    assert peer.close_code == 1006
    close = load(path).sessions[0].of("close")[0]
    assert (close["by"], close.get("dropped")) == ("server", True)


def test_binary_frames_from_the_upstream_are_forwarded_recorded_and_replayed(
        tmp_path: pathlib.Path) -> None:
    from mock_server import MockServer

    def handler(peer: RawPeer) -> None:
        peer.send_started()
        peer.send_frame(OP_BINARY, b"\x00\xffbinary")
        peer.send_close(1000, "done")
        peer.read_frame(5)

    path = tmp_path / "binary.jsonl"
    with ScriptServer(handler) as server, RecordingProxy(server.base_url, path) as proxy:
        peer = Peer(proxy, api_key=KEY)
        peer.recv_until("session_started")
        assert peer.recv() == {"binary": b"\x00\xffbinary"}
        peer.recv_all()
        proxy.wait_written(1)
    with MockServer(cassette=path) as replay:
        again = Peer(replay, api_key="k")
        again.recv_until("session_started")
        assert again.recv() == {"binary": b"\x00\xffbinary"}
        again.recv_all()


def test_clients_that_vanish_mid_handshake_or_send_garbage(tmp_path: pathlib.Path) -> None:
    """Half a request, a full upgrade request then gone, garbage and an 8 MiB frame: the
    proxy records what came and goes on serving the next client."""
    path = tmp_path / "garbage.jsonl"
    with upstream() as server, RecordingProxy(server.base_url, path) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as raw:
            raw.sendall(b"GET /v1/speech-to-text/realtime?model_id=scribe_v2_realtime HTTP/1.1\r\n")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as raw:
            raw.sendall(b"GET /v1/speech-to-text/realtime?model_id=scribe_v2_realtime HTTP/1.1"
                        b"\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        b"Sec-WebSocket-Version: 13\r\nxi-api-key: " + KEY.encode() +
                        b"\r\n\r\n")
        proxy.wait_written(1)
        peer = Peer(proxy, api_key=KEY)
        peer.recv_until("session_started")
        peer.ws.send_binary(b"\x00\x01garbage")
        peer.send("{not json")
        peer.send_audio(b"\x00\x01" * (4 * 1024 * 1024), chunk_bytes=8 * 1024 * 1024)
        peer.ws.close()
        proxy.wait_written(2)
        seen = scribe_sync_run(proxy.base_url, KEY, segments(1))
        proxy.wait_written(3)
    assert seen and proxy.failures == []
    sessions = load(path).sessions
    assert [s.n for s in sessions] == [1, 2, 3]
    assert sessions[0].of("close")[0]["by"] == "client"
    others = [c.get("other") for c in sessions[1].of("client")]
    assert others[:2] == ["<binary frame>", "{not json"]
    assert KEY not in path.read_text()


def test_a_client_that_never_sends_is_written_when_the_proxy_stops(tmp_path: pathlib.Path
                                                                   ) -> None:
    path = tmp_path / "idle.jsonl"
    with upstream() as server:
        proxy = RecordingProxy(server.base_url, path).start()
        peer = Peer(proxy, api_key=KEY)
        peer.recv_until("session_started")
        proxy.close()
        peer.recv_all()
    (session,) = load(path).sessions
    assert session.of("close")[-1]["by"] in ("proxy", "server")


def test_concurrent_sessions_are_whole_and_in_the_order_they_started(tmp_path: pathlib.Path
                                                                     ) -> None:
    """Four sessions at once, ending in the reverse order of their start: no line of one
    inside another, and the file lists them by start (as a replay hands them out)."""
    path = tmp_path / "many.jsonl"
    count = 4
    with upstream() as server, RecordingProxy(server.base_url, path) as proxy:
        peers = [Peer(proxy, {"language_code": code}, api_key=KEY) for code in LANGUAGES]
        for peer in peers:
            peer.recv_until("session_started")
        for k, peer in enumerate(peers):
            peer.send_audio(speech(0.2, seed=k))
        for k, peer in reversed(list(enumerate(peers))):
            peer.ws.close()
            proxy.wait_written(count - k)
    sessions = load(path).sessions
    assert [s.n for s in sessions] == [1, 2, 3, 4]
    assert [s.query["language_code"] for s in sessions] == [[code] for code in LANGUAGES]
    for session in sessions:
        assert session.of("client") and session.of("close")


def test_a_directory_of_more_than_999_sessions_reads_in_session_order(tmp_path: pathlib.Path
                                                                      ) -> None:
    """session-1000.jsonl sorts before session-999.jsonl by name."""
    writer = CassetteWriter(tmp_path)
    for n in (998, 999, 1000, 1001):
        tape = SessionTape(n, "/v1/speech-to-text/realtime", {}, auth="api_key")
        tape.close("client", 1000, "", 0.1)
        writer.write(tape)
    assert [s.n for s in load(tmp_path).sessions] == [998, 999, 1000, 1001]


def _break(directory: pathlib.Path) -> None:
    """Make ``directory`` unusable for writing: a regular file where the directory was
    (portable, and effective as root, unlike a read-only mode)."""
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()
    directory.write_text("in the way")


def test_a_session_that_cannot_be_written_is_reported_and_the_client_answered(
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    where = tmp_path / "gone"
    where.mkdir()
    path = where / "a.jsonl"
    with upstream() as server, RecordingProxy(server.base_url, path) as proxy:
        _break(where)
        seen = scribe_sync_run(proxy.base_url, KEY, segments(1))
        with pytest.raises(OSError, match="session 1 was not written"):
            proxy.wait_written(1)
        where.unlink()
        scribe_sync_run(proxy.base_url, KEY, segments(1))
        with pytest.raises(OSError, match="session 1 was not written"):
            proxy.wait_written(2)
    assert any(kind == "committed_transcript" for _, kind, _ in seen)
    assert len(proxy.failures) == 1
    assert [s.n for s in load(path).sessions] == [2]  # with its header: the file is whole
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "session 1 was not written" in logs and KEY not in logs


def test_a_refusal_that_cannot_be_written_still_reaches_the_client(tmp_path: pathlib.Path
                                                                   ) -> None:
    """The write failing used to raise in the handler: the client got 500, not the 401."""
    def refuse(sock: socket.socket, stop: threading.Event) -> None:
        sock.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")

    where = tmp_path / "gone"
    where.mkdir()
    with http_upstream(refuse) as url, RecordingProxy(url, where / "a.jsonl") as proxy:
        _break(where)
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            Peer(proxy, api_key=KEY)
        with pytest.raises(OSError, match="session 1 was not written"):
            proxy.wait_written(1)
    assert caught.value.status_code == 401


def test_recording_to_a_fifo_fails_at_once_instead_of_blocking(tmp_path: pathlib.Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        CassetteWriter(fifo).write(SessionTape(1, "/", {}, auth="api_key"))


def test_no_credential_in_any_spelling_reaches_the_cassette(tmp_path: pathlib.Path,
                                                            caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    """A token under an upper-case name, an Authorization header, and both echoed inside
    previous_text: none is written."""
    caplog.set_level(logging.DEBUG)
    other = "sk_other_secret_5555"
    path = tmp_path / "spellings.jsonl"
    with upstream() as server, RecordingProxy(server.base_url, path) as proxy:
        url = proxy.ws_url + "?model_id=scribe_v2_realtime&Token=" + other
        ws = websocket.create_connection(url, header=[f"xi-api-key: {KEY}",
                                                      f"Authorization: Bearer {other}"],
                                         timeout=10)
        ws.recv()
        ws.send(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": "AAAA",
                            "previous_text": f"{KEY} and {other}", "commit": False}))
        ws.close()
        proxy.wait_written(1)
    text = path.read_text()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (KEY, other):
        assert secret not in text and secret not in logs and secret not in repr(proxy)
    assert load(path).sessions[0].of("client")[0]["previous_text"] == \
        "<redacted> and <redacted>"



def test_record_on_a_port_in_use_prints_one_line(tmp_path: pathlib.Path) -> None:
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mock_server", "record", "--upstream", "http://127.0.0.1:9",
             "--cassette", str(tmp_path / "x.jsonl"), "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
            cwd=pathlib.Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "address already in use" in proc.stderr


@pytest.mark.parametrize("request_bytes", [
    b"GET /v1/speech-to-text/realtime?token=SECRET123\x00 HTTP/1.1\r\n\r\n",
    b"GET /v1/speech-to-text/realtime?token=SECRET123 HTTP/1.1\r\nHost: x\r\n"
    b"xi-api-key: SECRET123\x01\r\n\r\n",
    b"GET /v1/speech-to-text/realtime?token=SECRET123 HTTP/1.1\r\nHost: x\r\nBad Header\r\n"
    b"\r\n",
])
def test_a_malformed_request_logs_no_credential(tmp_path: pathlib.Path,
                                                caplog: pytest.LogCaptureFixture,
                                                request_bytes: bytes) -> None:
    """aiohttp logged a request it cannot parse with the request line or header quoted."""
    caplog.set_level(logging.DEBUG)
    with RecordingProxy("http://127.0.0.1:9", tmp_path / "x.jsonl") as proxy, \
            socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        raw.sendall(request_bytes)
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    # (aiohttp's 400 quotes the request back to its sender: no one else sees it.)
    assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    logged = "\n".join(record.getMessage() + str(record.exc_info) + (record.exc_text or "")
                       for record in caplog.records)
    assert "SECRET123" not in logged
    assert "Error handling request" in logged
