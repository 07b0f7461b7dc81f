"""Three ways to move WebSocket frames under the session, measured against one local server in
another process: round trip (one 100 ms audio chunk with commit, until the answer frame) and
client CPU per round trip, the options interleaved sample by sample.

1. ``wsclient-public``: websocket-client's public API only (``create_connection``, then
   ``send_frame`` / ``recv_frame``).
2. ``own-framer``: a small framer of our own over the socket websocket-client opened: the
   header is parsed and the size limit enforced before the payload is read; masking XORs
   ``int.from_bytes`` words; ``own-framer-cmask`` is the same with websockets' C masking loop
   (``websockets.speedups.apply_mask``), as the session's framing now masks.
3. ``websockets-sansio``: websockets' sans-I/O ``ClientProtocol`` over a plain socket.
4. ``current``: the transport the session uses (``scribe_sync._transport``: option 2 behind a
   selector and a wake-up socketpair, so that its reads have a timeout), for reference.

Run: ``python -m benchmarks.transport_options [--samples 2000]``. Wall times on a shared
machine are noisy; compare the CPU column and the ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable

import websocket

from scribe_sync.protocol import encode_audio_chunk

ANSWER = b'{"message_type":"committed_transcript","text":"hello world"}'
PAYLOAD = encode_audio_chunk(b"\x00" * 3200, True, 16000, None)

SERVER = f"""
from websockets.sync.server import serve

def handler(ws):
    for message in ws:
        if '"commit":true' in message or '"commit": true' in message:
            ws.send({ANSWER.decode()!r})

with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()
"""


def _mask(data: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key repeated, as one big integer operation (C speed)."""
    n = len(data)
    if not n:
        return data
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")


def _frame(payload: bytes, opcode: int = 1,
           xor: Callable[[bytes, bytes], bytes] = _mask) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + xor(payload, key)


class OwnFramer:
    """Reads whole frames from a buffer; refuses one over ``max_size`` from its header."""

    def __init__(self, sock: socket.socket, max_size: int = 1 << 20,
                 xor: Callable[[bytes, bytes], bytes] = _mask) -> None:
        self._sock = sock
        self._xor = xor
        self._buffer = bytearray()
        self._max = max_size

    def _need(self, n: int) -> None:
        while len(self._buffer) < n:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self._buffer += data

    def recv(self) -> tuple[int, bytes]:
        self._need(2)
        b0, b1 = self._buffer[0], self._buffer[1]
        length, at = b1 & 0x7F, 2
        if length == 126:
            self._need(4)
            length, at = struct.unpack_from("!H", self._buffer, 2)[0], 4
        elif length == 127:
            self._need(10)
            length, at = struct.unpack_from("!Q", self._buffer, 2)[0], 10
        if length > self._max:
            raise ValueError(f"frame of {length} bytes over the limit")  # before the payload
        masked = b1 & 0x80
        self._need(at + (4 if masked else 0) + length)
        if masked:
            key = bytes(self._buffer[at : at + 4])
            at += 4
        payload = bytes(self._buffer[at : at + length])
        del self._buffer[: at + length]
        return b0 & 0x0F, self._xor(payload, key) if masked else payload

    def send_text(self, payload: bytes) -> None:
        self._sock.sendall(_frame(payload, 1, self._xor))


def _wsclient_public(url: str) -> Callable[[], None]:
    ws = websocket.create_connection(url, skip_utf8_validation=True)

    def once() -> None:
        ws.send_frame(websocket.ABNF.create_frame(PAYLOAD, websocket.ABNF.OPCODE_TEXT))
        ws.recv_frame()  # type: ignore[no-untyped-call]

    return once


def _own_framer(url: str, xor: Callable[[bytes, bytes], bytes] = _mask) -> Callable[[], None]:
    ws = websocket.create_connection(url, skip_utf8_validation=True)
    assert ws.sock is not None
    framer = OwnFramer(ws.sock, xor=xor)

    def once() -> None:
        framer.send_text(PAYLOAD)
        framer.recv()

    return once


def _own_framer_cmask(url: str) -> Callable[[], None]:
    from websockets.speedups import apply_mask

    return _own_framer(url, apply_mask)


def _websockets_sansio(url: str) -> Callable[[], None]:
    from websockets.client import ClientProtocol
    from websockets.frames import Frame, Opcode
    from websockets.uri import parse_uri

    uri = parse_uri(url)
    sock = socket.create_connection((uri.host, uri.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    protocol = ClientProtocol(uri, max_size=1 << 20)
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    while not protocol.events_received():
        protocol.receive_data(sock.recv(65536))

    def once() -> None:
        protocol.send_text(PAYLOAD)
        sock.sendall(b"".join(protocol.data_to_send()))
        while True:
            events = protocol.events_received()
            if any(isinstance(e, Frame) and e.opcode is Opcode.TEXT for e in events):
                return
            protocol.receive_data(sock.recv(65536))

    return once


def _current(url: str) -> Callable[[], None]:
    from scribe_sync._handshake import TLSSettings
    from scribe_sync._transport import WebSocketTransport

    transport = WebSocketTransport.connect(url, {}, timeout=5, io_timeout=5, tls=TLSSettings(),
                                           proxy=None)

    def once() -> None:
        transport.send_text(PAYLOAD)
        while transport.recv(5) is None:
            pass

    return once


OPTIONS = {"wsclient-public": _wsclient_public, "own-framer": _own_framer,
           "own-framer-cmask": _own_framer_cmask, "websockets-sansio": _websockets_sansio,
           "current": _current}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args(argv)
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"ws://127.0.0.1:{server.stdout.readline().strip()}/"
        runs = {name: make(url) for name, make in OPTIONS.items()}
        walls: dict[str, list[float]] = {name: [] for name in runs}
        cpus: dict[str, float] = dict.fromkeys(runs, 0.0)
        for _ in range(50):  # warm up
            for once in runs.values():
                once()
        for _ in range(args.samples):
            for name, once in runs.items():  # interleaved: the same load for every option
                c0, t0 = time.thread_time(), time.perf_counter()
                once()
                walls[name].append(time.perf_counter() - t0)
                cpus[name] += time.thread_time() - c0
        base = statistics.median(walls["wsclient-public"])
        print(f"{'option':20} {'p50 µs':>8} {'p90 µs':>8} {'cpu µs':>8} {'p50/ws-public':>14}")
        for name, samples in walls.items():
            samples.sort()
            p50, p90 = statistics.median(samples), samples[int(len(samples) * 0.9)]
            cpu = cpus[name] / args.samples
            print(f"{name:20} {p50 * 1e6:8.0f} {p90 * 1e6:8.0f} {cpu * 1e6:8.1f} "
                  f"{p50 / base:14.2f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
