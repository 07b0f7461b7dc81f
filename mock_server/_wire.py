"""The WebSocket wire details of a session: how a message is encoded, what a close frame says,
which aiohttp message types end a connection."""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import WSMsgType

__all__ = ["END_TYPES", "encode", "peer_close"]

#: aiohttp reports these when the connection is over (a close frame, our close, EOF, an error).
END_TYPES: Final = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})


def encode(payload: dict[str, Any]) -> bytes:
    """A JSON message as UTF-8 text."""
    encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        return encoded.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate echoed from a client's JSON ("\\ud800" is valid JSON but not
        # valid UTF-8): send it escaped rather than fail the send.
        return json.dumps(payload, separators=(",", ":")).encode("ascii")


def peer_close(message: Any) -> tuple[int, str]:
    """The code and reason of a client's close frame; 1005 (no status received, RFC 6455
    §7.1.5) when the frame has none (aiohttp reports 0)."""
    return int(message.data) or 1005, message.extra or ""
