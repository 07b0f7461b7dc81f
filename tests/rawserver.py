"""A scripted WebSocket server for fuzzing the client: it writes raw frame bytes, any bytes.

``websockets`` (its threaded ``sync`` server, on 127.0.0.1, port 0) does the HTTP upgrade and
answers the client's close; after the upgrade the handler writes each connection's script
straight to the socket, so frames can break every rule a well-behaved library would enforce
(reserved bits, unknown opcodes, lengths larger than the payload, invalid UTF-8 text).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = ["OP_BINARY", "OP_CLOSE", "OP_CONT", "OP_PING", "OP_PONG", "OP_TEXT", "RawServer",
           "frame"]

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
