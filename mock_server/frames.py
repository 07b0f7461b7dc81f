"""Strict parsing of client frames, with the live ``input_error`` texts (docs/protocol.md §3)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from .actions import FrameReceived

__all__ = [
    "INVALID_MESSAGE",
    "LATE_PREVIOUS_TEXT",
    "BadFrame",
    "frame_record",
    "parse_chunk",
    "sample_rate_warning",
]

# Live input_error texts (docs/protocol.md §3, CAP-I, CAP-H).
INVALID_MESSAGE: Final = "Message must be a valid protocol message"
LATE_PREVIOUS_TEXT: Final = "previous_text can only be set on the first audio chunk"


class BadFrame(Exception):
    """A frame the service answers with ``input_error``; ``str(exc)`` is the text."""


def parse_chunk(data: str | bytes) -> tuple[dict[str, Any], bytes]:
    """Parse an ``input_audio_chunk`` frame strictly: its JSON object and decoded audio.

    Raises:
        BadFrame: with the live input_error text.
    """
    if not isinstance(data, str):
        # Binary frames: undocumented live (Q18); the mock refuses them like malformed JSON.
        raise BadFrame(INVALID_MESSAGE)
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        raise BadFrame(INVALID_MESSAGE) from None
    if not isinstance(obj, dict):
        raise BadFrame(INVALID_MESSAGE)
    message_type = obj.get("message_type")
    if not isinstance(message_type, str):
        raise BadFrame(INVALID_MESSAGE)
    if message_type != "input_audio_chunk":
        raise BadFrame(f"Unexpected message type: {message_type}")
    audio_b64 = obj.get("audio_base_64")
    commit = obj.get("commit", False)
    sample_rate = obj.get("sample_rate")
    previous_text = obj.get("previous_text")
    if (
        not isinstance(audio_b64, str)
        or not isinstance(commit, bool)
        or not (sample_rate is None or (type(sample_rate) is int))
        or not (previous_text is None or isinstance(previous_text, str))
    ):
        raise BadFrame(INVALID_MESSAGE)
    try:
        audio = base64.b64decode(audio_b64, validate=True) if audio_b64 else b""
    except (binascii.Error, ValueError):
        raise BadFrame(INVALID_MESSAGE) from None
    return obj, audio


def frame_record(data: Any, audio: bytes | None, size: int, now: float, *, keep: bool = True
                 ) -> FrameReceived:
    """The journal record of a received frame: its object with the audio replaced by
    ``"<N bytes>"`` (the journal stays small), or the raw data when it was not a chunk.
    Without ``keep`` (the journal keeps no frame), a bare record that the journal only counts:
    a summary copies the message, not for nothing."""
    if not keep:
        return FrameReceived(now, None, None, size)
    if isinstance(data, dict):
        summary = dict(data)
        summary["audio_base_64"] = f"<{len(audio or b'')} bytes>"
        return FrameReceived(now, data.get("message_type"), summary, size)
    return FrameReceived(now, None, data, size)


def sample_rate_warning(sample_rate: object, audio_format: str, session_rate: int) -> str:
    """The (invented) ``warning`` text for a chunk whose ``sample_rate`` differs from the
    session's ``audio_format``."""
    return (
        f"Audio sample rate {sample_rate} does not match the session audio_format "
        f"{audio_format} ({session_rate} Hz); the audio is decoded as {audio_format}."
    )
