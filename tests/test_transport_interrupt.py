"""A Ctrl+C while a frame is being written: the frame is never left half on the wire, where the
peer would read the next frame's bytes as its payload.

On the main thread the signal waits until the frame is whole, then its handler raises. Where
signals cannot be held back (no ``pthread_sigmask``), an interrupted write fails the connection
instead of letting it carry another frame."""

from __future__ import annotations

import os
import signal
import socket
import threading
import types
from typing import Any

import pytest

from scribe_sync import ConnectionClosedError, _transport
from scribe_sync._framing import TEXT, FrameReader
from scribe_sync._transport import WebSocketTransport

MASK_AND_HEADER = 14  # a client frame over 65535 bytes: 2 + 8 length bytes, 4 mask bytes


def _frames(data: bytes) -> list[bytes]:
    reader = FrameReader(None)
    reader.feed(data)
    frames = []
    while (parsed := reader.next()) is not None:
        assert parsed[0] == TEXT
        frames.append(parsed[1])
    return frames


def _transport_over(sock: Any) -> WebSocketTransport:
    return WebSocketTransport(types.SimpleNamespace(sock=sock),  # type: ignore[arg-type]
                              io_timeout=30)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_ctrl_c_during_a_blocked_write_waits_for_the_whole_frame() -> None:
    """4 MB into a socket nobody reads yet: the write blocks mid-frame; SIGINT arrives once
    the peer has seen the frame's first bytes; KeyboardInterrupt comes only after the frame
    is whole, and the next frame follows it intact."""
    assert threading.current_thread() is threading.main_thread()
    ours, peer = socket.socketpair()
    transport = _transport_over(ours)
    first, second = b"a" * (4 << 20), b"b" * 300
    received = bytearray()
    started = threading.Event()

    def read_then_interrupt() -> None:
        received.extend(peer.recv(65536))  # the write is under way: part of the frame is here
        started.set()
        os.kill(os.getpid(), signal.SIGINT)
        try:
            while len(received) < len(first) + MASK_AND_HEADER:
                received.extend(peer.recv(1 << 20))
        except TimeoutError:
            pass  # the frame never came whole: the assertion below says so

    peer.settimeout(10)

    reader = threading.Thread(target=read_then_interrupt, name="test-peer-reader")
    reader.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            transport.send_text(first)
        assert started.is_set()
        reader.join(30)
        assert len(received) >= len(first) + MASK_AND_HEADER, "the frame was cut short"
        transport.send_text(second)
        while len(received) < len(first) + MASK_AND_HEADER + len(second) + 8:
            received.extend(peer.recv(65536))
        assert _frames(bytes(received)) == [first, second]
    finally:
        reader.join(30)
        transport.release()
        peer.close()


class Interrupted:
    """A socket whose ``sendall`` writes part of the frame, then raises as a signal handler
    would from inside it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def sendall(self, data: Any) -> None:
        self.sock.send(bytes(data[:100]))
        raise KeyboardInterrupt("a signal handler raised")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def test_without_signal_masks_an_interrupted_write_fails_the_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transport, "_HOLD_SIGNALS", False)
    ours, peer = socket.socketpair()
    transport = _transport_over(Interrupted(ours))
    try:
        with pytest.raises(KeyboardInterrupt):
            transport.send_text(b"a" * 1000)
        with pytest.raises(ConnectionClosedError, match="interrupted in the middle of a frame"):
            transport.recv(0)
    finally:
        transport.release()
        peer.close()
