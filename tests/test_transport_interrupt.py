"""A Ctrl+C while a frame is being written never leaves the frame half on the wire, where the
peer would read the next frame's bytes as its payload (``scribe_sync._sendall``).

Real SIGINTs on the main thread against a socket nobody reads yet, for each way of writing:
plain TCP (byte counts that survive the interrupt), TLS (signals held for the write), and the
fallback where signals cannot be held (the connection is failed instead)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import types
from collections.abc import Callable
from typing import Any

import pytest

from scribe_sync import ConnectionClosedError, _sendall
from scribe_sync._framing import TEXT, FrameReader
from scribe_sync._sendall import send_whole
from scribe_sync._transport import WebSocketTransport

MASK_AND_HEADER = 14  # a client frame over 65535 bytes: 2 + 8 length bytes, 4 mask bytes
FIRST, SECOND = b"a" * (4 << 20), b"b" * 300


def _frames(data: bytes) -> list[bytes]:
    reader = FrameReader(None)
    reader.feed(data)
    frames = []
    while (parsed := reader.next()) is not None:
        assert parsed[0] == TEXT
        frames.append(parsed[1])
    return frames


def _interrupted_write(peer: socket.socket, write: Callable[[], None], expected: int) -> bytes:
    """Run ``write`` (blocking: nobody reads yet) on the main thread; once the peer has its
    first bytes, send SIGINT and read on. Returns what the peer read; asserts the write
    raised KeyboardInterrupt."""
    assert threading.current_thread() is threading.main_thread()
    received = bytearray()

    def read_then_interrupt() -> None:
        received.extend(peer.recv(65536))  # the write is under way: part of the frame is here
        os.kill(os.getpid(), signal.SIGINT)
        try:
            while len(received) < expected:
                received.extend(peer.recv(1 << 20))
        except TimeoutError:
            pass  # the frame never came whole: the caller's assertion says so

    peer.settimeout(10)
    reader = threading.Thread(target=read_then_interrupt, name="test-peer-reader")
    reader.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            write()
    finally:
        reader.join(30)
    return bytes(received)


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_ctrl_c_during_a_blocked_write_comes_after_the_whole_frame(
        timeout: float | None) -> None:
    """Plain TCP on the main thread, blocking or with io_timeout as a session's socket has:
    KeyboardInterrupt comes only once the frame is whole, and the next frame follows it."""
    ours, peer = socket.socketpair()
    ours.settimeout(timeout)
    transport = WebSocketTransport(types.SimpleNamespace(sock=ours),  # type: ignore[arg-type]
                                   io_timeout=30)
    try:
        received = _interrupted_write(peer, lambda: transport.send_text(FIRST),
                                      len(FIRST) + MASK_AND_HEADER)
        assert len(received) >= len(FIRST) + MASK_AND_HEADER, "the frame was cut short"
        transport.send_text(SECOND)
        rest = bytearray(received)
        while len(rest) < len(FIRST) + MASK_AND_HEADER + len(SECOND) + 8:
            rest.extend(peer.recv(65536))
        assert _frames(bytes(rest)) == [FIRST, SECOND]
    finally:
        transport.release()
        peer.close()


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_over_tls_the_signal_waits_for_the_whole_write() -> None:
    """SSLSocket.send is Python code (a count can be lost): the main thread holds the signals
    instead, for the length of sendall."""
    ours, peer = socket.socketpair()
    cut: list[bool] = []
    try:
        received = _interrupted_write(
            peer, lambda: send_whole(ours, FIRST, tls=True, io_timeout=30,
                                     on_cut=lambda: cut.append(True)), len(FIRST))
        assert received == FIRST and cut == []
        assert not signal.pthread_sigmask(signal.SIG_BLOCK, ()) & {signal.SIGINT}
    finally:
        ours.close()
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


def test_where_signals_cannot_be_held_an_interrupted_tls_write_fails_the_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sendall, "_CAN_HOLD", False)
    ours, peer = socket.socketpair()
    cut: list[bool] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            send_whole(Interrupted(ours), b"a" * 1000,  # type: ignore[arg-type]
                       tls=True, io_timeout=5, on_cut=lambda: cut.append(True))
        assert cut == [True]
    finally:
        ours.close()
        peer.close()


def test_a_cut_frame_ends_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a session's transport does when ``send_whole`` reports a frame it could not
    complete: the interrupt goes on up, and the connection ends, saying why."""
    from scribe_sync import _transport

    def cut_then_interrupt(*args: Any, on_cut: Callable[[], None], **kwargs: Any) -> None:
        on_cut()
        raise KeyboardInterrupt

    monkeypatch.setattr(_transport, "send_whole", cut_then_interrupt)
    ours, peer = socket.socketpair()
    transport = WebSocketTransport(types.SimpleNamespace(sock=ours),  # type: ignore[arg-type]
                                   io_timeout=5)
    try:
        with pytest.raises(KeyboardInterrupt):
            transport.send_text(b"x")
        with pytest.raises(ConnectionClosedError, match="interrupted in the middle of a frame"):
            transport.recv(0)
    finally:
        transport.release()
        peer.close()
