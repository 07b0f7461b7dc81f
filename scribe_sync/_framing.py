"""WebSocket framing for a client (RFC 6455 §5), sans I/O: bytes in, messages out; messages in,
masked frames out. No sockets, threads or clocks.

:class:`FrameReader` refuses a frame from its header alone: a declared length over the limit
(alone or added to the fragments already buffered) raises before any of its payload is
buffered, so a header claiming 2**63 bytes costs nothing. Masking runs in websockets' C
extension (:func:`fast_mask`); :func:`mask`, the fallback, XORs the payload with the key as two
big integers.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Callable
from typing import Final

__all__ = ["BINARY", "CLOSE", "CONT", "PING", "PONG", "TEXT", "FrameReader", "Violation", "encode",
           "fast_mask", "mask", "sendable_close_code"]

CONT: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
_OPCODES: Final = frozenset({CONT, TEXT, BINARY, CLOSE, PING, PONG})
#: RFC 6455 §5.5: control frames carry at most 125 bytes.
_MAX_CONTROL: Final = 125


#: Codes a close frame may carry (RFC 6455 §7.4.1; 1012-1014 registered since), besides
#: 3000-4999. 1005 and 1006 only ever describe a close, and are never sent.
_CLOSE_CODES: Final = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})


def sendable_close_code(code: int) -> bool:
    """Whether a close frame may carry ``code`` (the mock's scenarios check theirs with it)."""
    return code in _CLOSE_CODES or 3000 <= code < 5000


class Violation(Exception):
    """The peer broke the protocol (``code`` 1002) or a size limit (``code`` 1009)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def mask(data: bytes, key: bytes) -> bytes:
    """``data`` XOR ``key`` repeated (masking and unmasking are the same operation)."""
    n = len(data)
    if not n:
        return b""
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")


@functools.cache
def fast_mask() -> Callable[[bytes, bytes], bytes]:
    """The masking function for the frames a session sends: websockets' loop in C (about 70
    times faster than :func:`mask` on a 100 ms audio frame, whose masking was then a third of
    ``send_audio``), else :func:`mask` where websockets was installed without its C extension.

    Called when a connection opens, not at ``import scribe_sync``: importing the websockets
    package costs about 30 ms of start-up (it imports ``importlib.metadata``).
    """
    try:
        from websockets.speedups import apply_mask
    except ImportError:
        return mask
    return apply_mask


def encode(opcode: int, payload: bytes,
           xor: Callable[[bytes, bytes], bytes] = mask) -> bytes:
    """One final client frame, masked with ``xor`` (:func:`mask` or :func:`fast_mask`'s)."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + xor(payload, key)


class FrameReader:
    """Whole messages and control frames from the bytes fed in, in order.

    Args:
        max_size: the largest message accepted (``None``: no limit).
    """

    def __init__(self, max_size: int | None) -> None:
        self._max = max_size
        self._buffer = bytearray()
        # One buffer, not a list of fragments: a message in millions of empty fragments
        # would cost a list entry each, outside max_size (40 times its bytes on the wire).
        self._fragments = bytearray()
        self._fragment_opcode: int | None = None
        self._fragment_size = 0

    @property
    def pending(self) -> bool:
        """Bytes are buffered that no message used yet."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next(self) -> tuple[int, bytes] | None:
        """The next ``(opcode, payload)``: a whole text or binary message (fragments joined)
        or a control frame; ``None`` until more bytes are fed.

        Raises:
            Violation: the bytes break the protocol or the size limit; the connection is
                unusable after it.
        """
        while True:
            parsed = self._frame()
            if parsed is None:
                return None
            fin, opcode, payload = parsed
            if opcode & 0x8:
                return opcode, payload
            if opcode != CONT:
                if fin:
                    return opcode, payload
                self._fragment_opcode = opcode
            self._fragments += payload
            if fin:
                assert self._fragment_opcode is not None
                message = (self._fragment_opcode, bytes(self._fragments))
                self._fragments, self._fragment_opcode, self._fragment_size = bytearray(), None, 0
                return message

    def _frame(self) -> tuple[bool, int, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        b0, b1 = buffer[0], buffer[1]
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        length, at = b1 & 0x7F, 2
        if b0 & 0x70:
            raise Violation(1002, "reserved bits set (no extension was negotiated)")
        if opcode not in _OPCODES:
            raise Violation(1002, f"reserved opcode {opcode:#x}")
        if length == 126:
            if len(buffer) < 4:
                return None
            length, at = struct.unpack_from("!H", buffer, 2)[0], 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            length, at = struct.unpack_from("!Q", buffer, 2)[0], 10
        if opcode & 0x8:
            if length > _MAX_CONTROL:
                raise Violation(1002, f"control frame of {length} bytes (at most 125 allowed)")
            if not fin:
                raise Violation(1002, "fragmented control frame")
        elif opcode == CONT and self._fragment_opcode is None:
            raise Violation(1002, "continuation frame with no message to continue")
        elif opcode != CONT and self._fragment_opcode is not None:
            raise Violation(1002, "a new message began before the fragmented one ended")
        elif self._max is not None and self._fragment_size + length > self._max:
            raise Violation(1009, f"the server sent a message of at least "
                                  f"{self._fragment_size + length} bytes, more than "
                                  f"max_message_size={self._max}")
        masked = b1 & 0x80
        end = at + (4 if masked else 0) + length
        if len(buffer) < end:
            return None
        if masked:  # servers must not mask (RFC 6455 §5.1), but the payload is still readable
            payload = mask(bytes(buffer[at + 4 : end]), bytes(buffer[at : at + 4]))
        else:
            payload = bytes(buffer[at:end])
        del buffer[:end]
        if opcode == CLOSE and payload:
            _check_close(payload)
        if not opcode & 0x8 and not (fin and opcode != CONT):  # part of a fragmented message
            self._fragment_size += length
        return fin, opcode, payload


def _check_close(payload: bytes) -> None:
    """A close frame's body: a code a close frame may carry, then a UTF-8 reason (§5.5.1)."""
    if len(payload) == 1:
        raise Violation(1002, "a close frame with a one-byte body")
    code = int.from_bytes(payload[:2], "big")
    if not sendable_close_code(code):
        raise Violation(1002, f"a close frame with code {code}, which no close frame carries")
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise Violation(1007, "a close frame whose reason is not UTF-8") from None
