"""A scripted WebSocket server for fuzzing the client: it writes raw frame bytes, any bytes.

``websockets`` (its threaded ``sync`` server, on 127.0.0.1, port 0) does the HTTP upgrade and
answers the client's close; after the upgrade the handler writes each connection's script
straight to the socket, so frames can break every rule a well-behaved library would enforce
(reserved bits, unknown opcodes, lengths larger than the payload, invalid UTF-8 text).

:class:`ScriptServer` goes lower: it does the upgrade by hand and then hands the TCP socket to
a handler (a :class:`Peer`), which can stop reading, reset the connection without a close
frame, ping and go silent, or answer a commit twice: the peers a hostile network makes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = ["OP_BINARY", "OP_CLOSE", "OP_CONT", "OP_PING", "OP_PONG", "OP_TEXT", "Peer",
           "RawServer", "ScriptServer", "frame"]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          length: int | None = None) -> bytes:
    """One unmasked server frame; ``length`` overrides the declared payload length."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode & 0xF
    if n < 126:
        header = bytes([first, n])
    elif n < 1 << 16:
        header = bytes([first, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, 127]) + n.to_bytes(8, "big")
    return header + payload


class RawServer:
    """Plays one queued script per connection, then waits for the client to close.

    ``results`` gets, per connection, the close code the client sent (``None`` if it sent
    none, ``"timeout"`` if it never closed).
    """

    def __init__(self, server: Server) -> None:
        self._server = server
        self.port: int = server.socket.getsockname()[1]
        self.scripts: queue.Queue[Sequence[bytes]] = queue.Queue()
        self.results: queue.Queue[int | str | None] = queue.Queue()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def play(self, script: Sequence[bytes]) -> None:
        """Use ``script`` (raw frame bytes) for the next connection."""
        self.scripts.put(script)

    def handle(self, conn: ServerConnection) -> None:
        script = self.scripts.get(timeout=10)
        try:
            for raw in script:
                conn.socket.sendall(raw)
        except OSError:
            pass  # the client gave up on the connection part-way: its close is the result
        result: int | str | None = "timeout"
        try:
            while True:
                conn.recv(timeout=10)
        except ConnectionClosed as exc:
            result = exc.rcvd.code if exc.rcvd is not None else None
        except TimeoutError:
            pass
        finally:
            self.results.put(result)


@contextmanager
def raw_server() -> Iterator[RawServer]:
    """A running :class:`RawServer`; shut down (and its threads joined) on exit."""
    holder: list[RawServer] = []

    def handler(conn: ServerConnection) -> None:
        holder[0].handle(conn)

    with serve(handler, "127.0.0.1", 0, compression=None, max_size=None,
               ping_interval=None) as server:
        holder.append(RawServer(server))
        thread = threading.Thread(target=server.serve_forever, name="raw-ws-server")
        thread.start()
        try:
            yield holder[0]
        finally:
            server.shutdown()
            thread.join(10)


# =============================================================================================
# A peer the test drives frame by frame, down to the TCP socket


_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SESSION_ID = "feedfacefeedfacefeedfacefeedface"


class Peer:
    """One accepted connection after the upgrade, driven by the test's handler.

    Unlike a library's connection it reads only when asked to: a handler that stops calling
    :meth:`read_frame` is a peer that stops reading, so the client's sends block once the
    (shrunk) TCP buffers are full.
    """

    def __init__(self, sock: socket.socket, index: int, stopping: threading.Event) -> None:
        self.sock = sock
        self.index = index  # 0 for the server's first connection, 1 for the next, ...
        self.stopping = stopping
        self._buffer = b""
        self.audio_chunks = 0  # input_audio_chunk frames read so far (commits included)
        self.commits = 0
        self.eof = False  # the client closed or went away

    # -- writing
    def send_frame(self, opcode: int, payload: bytes = b"") -> None:
        self.sock.sendall(frame(opcode, payload))

    def send_json(self, message: dict[str, object]) -> None:
        self.send_frame(OP_TEXT, json.dumps(message).encode())

    def send_started(self) -> None:
        self.send_json({"message_type": "session_started", "session_id": SESSION_ID,
                        "config": {"sample_rate": 16000, "audio_format": "pcm_16000"}})

    def send_error(self, error_type: str, text: str = "scripted error") -> None:
        self.send_json({"message_type": error_type, "error": text})

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        self.send_frame(OP_CLOSE, code.to_bytes(2, "big") + reason.encode())

    def reset(self) -> None:
        """Abort the TCP connection with a RST: no close frame, no FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    # -- reading
    def read_frame(self, timeout: float = 10.0) -> tuple[int, bytes] | None:
        """The client's next frame (unmasked), or ``None`` at EOF or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stopping.is_set():
                return None
            self.sock.settimeout(min(remaining, 0.2))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                self.eof = True
                return None
            if not data:
                self.eof = True
                return None
            self._buffer += data

    def _parse(self) -> tuple[int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        opcode, n, pos = buf[0] & 0xF, buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, pos = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, pos = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < pos + 4 + n:
            return None
        mask = buf[pos : pos + 4]
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[pos + 4 : pos + 4 + n]))
        self._buffer = buf[pos + 4 + n :]
        return opcode, body

    def read_message(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The client's next text message as JSON, answering pings and counting audio.

        ``None`` after ``timeout``, or at EOF or the client's close frame (which is answered;
        :attr:`eof` tells these apart).
        """
        deadline = time.monotonic() + timeout
        while True:
            got = self.read_frame(max(0.0, deadline - time.monotonic()))
            if got is None:
                return None
            opcode, body = got
            if opcode == OP_PING:
                self.send_frame(OP_PONG, body)
            elif opcode == OP_CLOSE:
                self.eof = True
                with contextlib.suppress(OSError):
                    self.send_frame(OP_CLOSE, body[:2])
                return None
            elif opcode == OP_TEXT:
                message: dict[str, Any] = json.loads(body)
                if message.get("message_type") == "input_audio_chunk":
                    self.audio_chunks += 1
                    self.commits += bool(message.get("commit"))
                return message

    def serve(self, *, idle_limit: float | None = None, text: str = "scripted words",
              duplicates: int = 1) -> str:
        """Answer each commit with ``duplicates`` committed transcripts until the client closes.

        With ``idle_limit``, a client silent for that long gets ``insufficient_audio_activity``
        and a close, as the live service does with idle sessions. Returns how it ended:
        ``"closed"`` (the client closed or went away) or ``"idle"``.
        """
        while True:
            message = self.read_message(idle_limit if idle_limit is not None else 30.0)
            if message is None:
                if idle_limit is not None and not self.stopping.is_set() and not self.eof:
                    with contextlib.suppress(OSError):
                        self.send_error("insufficient_audio_activity", "no audio received")
                        self.send_close(1000)
                    return "idle"
                return "closed"
            if message.get("commit"):
                for _ in range(duplicates):
                    self.send_json({"message_type": "committed_transcript", "text": text})

    def hold(self) -> None:
        """Go silent and stop reading until the test server shuts down."""
        self.stopping.wait()


Handler = Callable[[Peer], object]


class ScriptServer:
    """A WebSocket server on 127.0.0.1 whose every connection runs a test-supplied handler.

    The HTTP upgrade is done by hand, so after it nothing reads or writes but the handler.
    ``accepted`` counts connections. The listening socket's receive buffer is shrunk (accepted
    sockets inherit it), so a handler that stops reading makes the client's sends block soon.
    """

    def __init__(self, handler: Handler, *, rcvbuf: int = 4096) -> None:
        self.handler = handler
        self.accepted = 0
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connected = threading.Condition(self._lock)
        self._acceptor = threading.Thread(target=self._accept_loop, name="script-ws-accept")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_accepted(self, n: int, timeout: float = 10.0) -> bool:
        with self.connected:
            return self.connected.wait_for(lambda: self.accepted >= n, timeout)

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.connected:
                index = self.accepted
                self.accepted += 1
                self._sockets.append(sock)
                thread = threading.Thread(target=self._run, args=(sock, index),
                                          name=f"script-ws-peer-{index}")
                self._threads.append(thread)
                self.connected.notify_all()
            thread.start()

    def _run(self, sock: socket.socket, index: int) -> None:
        try:
            sock.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                data = sock.recv(4096)
                if not data:
                    return
                request += data
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            sock.settimeout(None)
            self.handler(Peer(sock, index, self.stopping))
        except OSError:
            pass  # the client went away or the handler reset the connection
        except BaseException as exc:  # a broken handler: the test reports it
            self.errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> ScriptServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self._acceptor.join(10)
        self._listener.close()
        with self._lock:
            threads, sockets = list(self._threads), list(self._sockets)
        for thread in threads:
            thread.join(10)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        if exc_info[0] is None and self.errors:
            raise self.errors[0]
