"""Every private name of websocket-client that scribe-sync uses, in one place: its frame
reader (``websocket._abnf.frame_buffer``, fed from ``WebSocket._recv``) and its fragment
assembler (``WebSocket.cont_frame``). setup.cfg pins websocket-client below the next minor
release for them.
"""

from __future__ import annotations

from typing import Final

import websocket
from websocket._abnf import frame_buffer

__all__ = ["LimitedFrameBuffer", "MessageTooBig"]

#: RFC 6455 §5.5: control frames carry at most 125 bytes.
_MAX_CONTROL_PAYLOAD: Final = 125


class MessageTooBig(websocket.WebSocketException):
    """A frame or fragmented message is larger than the transport's limit."""


class LimitedFrameBuffer(frame_buffer):
    """websocket-client's frame reader, refusing frames from their header alone.

    The declared payload length is checked as soon as it is read, so an oversized frame is
    refused before any of its payload is buffered (a header claiming 2**63 bytes costs nothing).
    ``pending`` tells how much of a fragmented message is already buffered.
    """

    def __init__(self, ws: websocket.WebSocket, max_size: int | None) -> None:
        super().__init__(ws._recv, skip_utf8_validation=True)
        self._ws = ws
        self._max_size = max_size

    def recv_length(self) -> None:
        super().recv_length()
        assert self.header is not None and self.length is not None
        opcode = self.header[4]
        length = self.length
        if opcode & 0x8:  # a control frame
            if length > _MAX_CONTROL_PAYLOAD:
                raise websocket.WebSocketProtocolException(
                    f"control frame of {length} bytes (at most {_MAX_CONTROL_PAYLOAD} allowed)"
                )
            return
        if self._max_size is None:
            return
        pending = self._ws.cont_frame.cont_data
        total = length + (len(pending[1]) if pending else 0)
        if total > self._max_size:
            raise MessageTooBig(
                f"the server sent a message of at least {total} bytes, more than "
                f"max_message_size={self._max_size}"
            )
