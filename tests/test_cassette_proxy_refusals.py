"""Frames the recording proxy itself refuses (a message over 16 MiB, either way): the proxy
closes both sides with the refusal's code and records the close as its own, as
docs/cassettes.md describes (not as a connection the client or the upstream dropped)."""

from __future__ import annotations

import os
import pathlib
import threading

from mock_server import MockServer
from mock_server.cassette import load
from mock_server.proxy import MAX_MESSAGE, RecordingProxy
from mock_server.testing import Peer
from tests.cassette_clients import KEY
from tests.rawserver import OP_CLOSE, OP_TEXT, ScriptServer, frame
from tests.rawserver import Peer as RawPeer


class _Upstream:
    """A scripted upstream that notes the code of the close frame the proxy sends it."""

    def __init__(self, oversized: bool = False) -> None:
        self.oversized = oversized  # send a message header over MAX_MESSAGE after the start
        self.close_codes: list[int] = []
        self.closed = threading.Event()

    def __call__(self, peer: RawPeer) -> None:
        peer.send_started()
        if self.oversized:
            peer.sock.sendall(frame(OP_TEXT, b"{", length=MAX_MESSAGE + 1))
        while (got := peer.read_frame(10)) is not None:
            opcode, payload = got
            if opcode == OP_CLOSE:
                self.close_codes.append(int.from_bytes(payload[:2], "big"))
                break
        self.closed.set()


def _oversized_header() -> bytes:
    """A masked client frame header declaring one byte more than the proxy relays."""
    return bytes([0x81, 0x80 | 127]) + (MAX_MESSAGE + 1).to_bytes(8, "big") + os.urandom(4)


def test_a_client_message_over_the_limit_is_the_proxys_1009_both_ways(tmp_path: pathlib.Path
                                                                      ) -> None:
    upstream = _Upstream()
    path = tmp_path / "big.jsonl"
    with ScriptServer(upstream) as server, RecordingProxy(server.base_url, path) as proxy:
        peer = Peer(proxy, api_key=KEY)
        peer.recv_until("session_started")
        peer.ws.sock.sendall(_oversized_header())  # the header alone is refused
        assert peer.recv() is None
        proxy.wait_written(1)
        assert upstream.closed.wait(10)
    assert peer.close_code == 1009
    assert upstream.close_codes == [1009]
    close = load(path).sessions[0].of("close")[0]
    assert (close["by"], close["code"], close.get("dropped")) == ("proxy", 1009, None)


def test_an_upstream_message_over_the_limit_is_the_proxys_1009_both_ways(
        tmp_path: pathlib.Path) -> None:
    upstream = _Upstream(oversized=True)
    path = tmp_path / "big.jsonl"
    with ScriptServer(upstream) as server, RecordingProxy(server.base_url, path) as proxy:
        peer = Peer(proxy, api_key=KEY)
        peer.recv_until("session_started")
        assert peer.recv() is None
        proxy.wait_written(1)
        assert upstream.closed.wait(10)
    assert peer.close_code == 1009
    assert upstream.close_codes == [1009]
    close = load(path).sessions[0].of("close")[0]
    assert (close["by"], close["code"], close.get("dropped")) == ("proxy", 1009, None)
    with MockServer(cassette=path) as replay:  # the replay closes as the proxy did
        again = Peer(replay, api_key=KEY)
        again.recv_until("session_started")
        again.recv_all()
    assert again.close_code == 1009
