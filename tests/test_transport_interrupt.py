"""A Ctrl+C that lands between two writes of one frame: the rest of the frame goes out before
the interrupt is raised, so the peer never reads the next frame's bytes as this one's payload.

The socket is real (a socketpair); only its ``send`` is wrapped, to write part of a frame and
then raise where a signal handler would, deterministically."""

from __future__ import annotations

import socket
import types
from typing import Any

import pytest

from scribe_sync._framing import TEXT, FrameReader
from scribe_sync._transport import WebSocketTransport


class Interrupted:
    """A socket whose ``send`` writes at most ``step`` bytes, and raises ``raised`` at the
    calls numbered in ``interrupts`` (as a signal handler does from a blocked send)."""

    def __init__(self, sock: socket.socket, step: int, interrupts: set[int],
                 raised: type[BaseException] = KeyboardInterrupt) -> None:
        self.sock, self.step, self.interrupts, self.raised = sock, step, interrupts, raised
        self.calls = 0

    def send(self, data: Any) -> int:
        self.calls += 1
        if self.calls in self.interrupts:
            raise self.raised("a signal handler raised")
        return self.sock.send(bytes(data[: self.step]))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def _frames(data: bytes) -> list[bytes]:
    reader = FrameReader(None)
    reader.feed(data)
    frames = []
    while (parsed := reader.next()) is not None:
        assert parsed[0] == TEXT
        frames.append(parsed[1])
    return frames


def _drain(sock: socket.socket) -> bytes:
    sock.settimeout(0)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@pytest.mark.parametrize("interrupts", [{2}, {2, 3, 4}, {3}])
def test_an_interrupt_mid_frame_finishes_the_frame_then_is_raised(interrupts: set[int]) -> None:
    ours, peer = socket.socketpair()
    wrapped = Interrupted(ours, step=100, interrupts=interrupts)
    transport = WebSocketTransport(types.SimpleNamespace(sock=wrapped),  # type: ignore[arg-type]
                                   io_timeout=5)
    try:
        first, second = b"a" * 1000, b"b" * 300
        with pytest.raises(KeyboardInterrupt):
            transport.send_text(first)
        transport.send_text(second)
        assert _frames(_drain(peer)) == [first, second]
    finally:
        transport.release()
        peer.close()


def test_an_interrupt_before_any_byte_sends_nothing_of_the_frame() -> None:
    ours, peer = socket.socketpair()
    wrapped = Interrupted(ours, step=100, interrupts={1})
    transport = WebSocketTransport(types.SimpleNamespace(sock=wrapped),  # type: ignore[arg-type]
                                   io_timeout=5)
    try:
        with pytest.raises(KeyboardInterrupt):
            transport.send_text(b"a" * 1000)
        transport.send_text(b"b" * 10)
        assert _frames(_drain(peer)) == [b"b" * 10]
    finally:
        transport.release()
        peer.close()
