"""The engine's outputs and the error table.

Actions are what the sans-I/O rules (:mod:`mock_server.engine`, :mod:`mock_server.faults`) ask
the network side to do, in order; the driver (:mod:`mock_server.server`) executes them:

- wire actions, :class:`Send`, :class:`Close`, :class:`Drop`, performed in order (a delayed
  ``Send`` holds back the ones after it);
- journal records, :class:`Record` subclasses: plain data that the journal applies
  (:meth:`mock_server.journal.Journal.write`) at once (never delayed), under its lock, before
  the wire actions of the same batch, so that a snapshot never sees half of an update. This
  module knows nothing of how the journal stores them.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

__all__ = [
    "DEFAULT_ERROR_TEXTS",
    "ERROR_TYPES",
    "Action",
    "AudioAccepted",
    "Close",
    "Committed",
    "Drop",
    "FrameReceived",
    "Record",
    "Send",
    "SessionStarted",
    "Wire",
    "close_for_error",
    "error_actions",
]

#: Every server error type of docs/protocol.md §5.
ERROR_TYPES: Final = (
    "quota_exceeded",
    "rate_limited",
    "queue_overflow",
    "resource_exhausted",
    "transcriber_error",
    "unaccepted_terms",
    "error",
    "session_time_limit_exceeded",
    "insufficient_audio_activity",
    "chunk_size_exceeded",
    "auth_error",
    "invalid_request",
    "input_error",
    "commit_throttled",
)

#: Texts sent when a scenario names an error without a message. Live texts where docs/protocol.md
#: quotes one (auth_error, quota_exceeded, input_error); the rest are invented.
DEFAULT_ERROR_TEXTS: Final = {
    "quota_exceeded": "You have exceeded your quota.",
    "rate_limited": "Too many concurrent requests. Please try again later.",
    "queue_overflow": "The processing queue is full. Please try again later.",
    "resource_exhausted": "The server is at capacity. Please try again later.",
    "transcriber_error": "An internal error occurred during transcription.",
    "unaccepted_terms": "You must accept the terms of service in the dashboard to use this model.",
    "error": "An unexpected error occurred.",
    "session_time_limit_exceeded": "The maximum session duration was reached.",
    "insufficient_audio_activity": "The connection was closed due to insufficient audio activity.",
    "chunk_size_exceeded": "The audio chunk exceeds the maximum allowed size.",
    "auth_error": "You must be authenticated to use this endpoint.",
    "invalid_request": "The request is invalid.",
    "input_error": "Message must be a valid protocol message",
    "commit_throttled": (
        "Commit request ignored: only 0.00s of uncommitted audio. "
        "You need at least 0.3s of uncommitted audio before committing."
    ),
}


def close_for_error(error_type: str) -> tuple[int, str]:
    """The close frame that follows a fatal error (docs/protocol.md §5).

    Observed: auth_error -> 1000 with an empty reason; invalid_request -> 1008
    "invalid_request"; commit_throttled -> 1000 "commit_throttled". Others follow the last
    pattern (1000, reason = the error type) — an inference.
    """
    if error_type == "auth_error":
        return 1000, ""
    if error_type == "invalid_request":
        return 1008, "invalid_request"
    return 1000, error_type



@attrs.frozen
class Send:
    """Send one frame: a JSON object, or raw text/bytes (faults).

    ``delay`` (seconds, from the moment the actions were returned) asks the driver to send it
    no earlier than that; frames still go out in order, so a delayed frame holds back the ones
    after it (the live service answers in order, docs/protocol.md §4.10).
    """

    payload: dict[str, Any] | str | bytes
    delay: float = 0.0


@attrs.frozen
class Close:
    """Send a close frame and end the session."""

    code: int
    reason: str


@attrs.frozen
class Drop:
    """Abort the TCP connection without a close frame."""


class Record:
    """A journal record: plain data, applied by the journal."""

    __slots__ = ()


@attrs.frozen
class FrameReceived(Record):
    """A client frame: its parsed object (audio replaced by ``"<N bytes>"``) or raw data."""

    time: float
    message_type: str | None
    data: Any
    size: int


@attrs.frozen
class AudioAccepted(Record):
    """An ``input_audio_chunk`` accepted: count it and its audio (possibly empty)."""

    audio: bytes


@attrs.frozen
class Committed(Record):
    """A commit was answered (manual, VAD or auto)."""


@attrs.frozen
class SessionStarted(Record):
    """``session_started`` was decided, with this session id."""

    session_id: str


#: What goes on the wire, in order.
Wire = Send | Close | Drop
#: Everything the engine returns.
Action = Wire | Record


def error_actions(error_type: str, text: str, *, close: bool = True) -> list[Wire]:
    """An error message, then (by default) the close the live service sends after it."""
    actions: list[Wire] = [Send({"message_type": error_type, "error": text})]
    if close:
        code, reason = close_for_error(error_type)
        actions.append(Close(code, reason))
    return actions
