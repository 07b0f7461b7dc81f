"""The exception tree of scribe-sync.

::

    ScribeError
    ├── ConfigError (also ValueError)          an option or credential is invalid; nothing was sent
    ├── ProtocolError
    │   ├── LocalProtocolError                 the caller misused the API (e.g. previous_text late)
    │   └── RemoteProtocolError                the peer sent something we cannot decode
    ├── ServerError                            the server reported an error (generic ``error``)
    │   ├── AuthError                          auth_error
    │   ├── QuotaExceededError                 quota_exceeded
    │   ├── CommitThrottledError               commit_throttled
    │   ├── TranscriberError                   transcriber_error
    │   ├── UnacceptedTermsError               unaccepted_terms / unaccepted_terms_error
    │   ├── RateLimitedError                   rate_limited
    │   ├── InputError                         input_error
    │   ├── InvalidRequestError                invalid_request
    │   ├── QueueOverflowError                 queue_overflow
    │   ├── ResourceExhaustedError             resource_exhausted
    │   ├── SessionTimeLimitExceededError      session_time_limit_exceeded
    │   ├── ChunkSizeExceededError             chunk_size_exceeded
    │   └── InsufficientAudioActivityError     insufficient_audio_activity
    ├── AudioSourceError                       an audio source could not be opened or read
    ├── AudioBufferFullError                   send_audio refused audio: the replay buffer is full
    └── ConnectionClosedError                  the transport failed or closed abnormally
        ├── ConnectError                       the connection never opened
        ├── IncompleteTranscriptError          the session ended with commits unanswered
        └── ReconnectFailedError               a reconnecting session gave up

Timeouts raise the builtin :class:`TimeoutError`. No exception text ever contains a secret: the
messages here are built from server text, close codes and option names only.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "AudioBufferFullError",
    "AudioSourceError",
    "AuthError",
    "ChunkSizeExceededError",
    "CommitThrottledError",
    "ConfigError",
    "ConnectError",
    "ConnectionClosedError",
    "IncompleteTranscriptError",
    "InputError",
    "InsufficientAudioActivityError",
    "InvalidRequestError",
    "LocalProtocolError",
    "ProtocolError",
    "QueueOverflowError",
    "QuotaExceededError",
    "RateLimitedError",
    "ReconnectFailedError",
    "RemoteProtocolError",
    "ResourceExhaustedError",
    "ScribeError",
    "ServerError",
    "SessionTimeLimitExceededError",
    "TranscriberError",
    "UnacceptedTermsError",
    "server_error_class",
]


class _ErrorLike(Protocol):
    """What :meth:`ServerError.from_event` reads of a server error message
    (:class:`scribe_sync.messages.ErrorEvent`). A protocol rather than an import, so that the
    errors stay below the messages: ``messages`` names ``ScribeError`` in its session events."""

    @property
    def error_type(self) -> str: ...

    @property
    def message(self) -> str: ...


class ScribeError(Exception):
    """Root of every exception raised by scribe-sync."""


class ConfigError(ScribeError, ValueError):
    """An option, credential or argument is invalid. Raised before any network traffic.

    Attributes:
        option: the name of the offending option.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class ProtocolError(ScribeError):
    """The protocol was violated, by us or by the peer."""


class LocalProtocolError(ProtocolError, RuntimeError):
    """The caller asked for something the protocol or the session state does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent data that does not decode to a valid message."""


class ServerError(ScribeError):
    """The server reported an error.

    Attributes:
        error_type: the wire ``message_type`` (``"error"`` for the generic error).
        message: the server's text.
        close_code: the WebSocket close code that followed, when the server closed.
        close_reason: the close reason that followed, when the server closed.
    """

    error_type: str = "error"

    def __init__(
        self,
        message: str = "",
        *,
        error_type: str | None = None,
        close_code: int | None = None,
        close_reason: str | None = None,
    ) -> None:
        if error_type is not None:
            self.error_type = error_type
        self.message = message
        self.close_code = close_code
        self.close_reason = close_reason
        text = f"{self.error_type}: {message}" if message else self.error_type
        if close_code is not None:
            text += f" (connection closed with code {close_code})"
        super().__init__(text)

    @classmethod
    def from_event(
        cls, event: _ErrorLike, *, close_code: int | None = None, close_reason: str | None = None
    ) -> ServerError:
        """The exception for a server ``ErrorEvent``: the one place that builds it.

        The subclass comes from the literal table below (:func:`server_error_class`).
        """
        error_class = server_error_class(event.error_type)
        return error_class(event.message, error_type=event.error_type, close_code=close_code,
                           close_reason=close_reason or None)


class AuthError(ServerError):
    """The API key or token was rejected (``auth_error``)."""

    error_type = "auth_error"


class QuotaExceededError(ServerError):
    """The account's usage quota is exhausted (``quota_exceeded``)."""

    error_type = "quota_exceeded"


class CommitThrottledError(ServerError):
    """A commit was refused: too little uncommitted audio or too many commits."""

    error_type = "commit_throttled"


class TranscriberError(ServerError):
    """The transcription back end failed (``transcriber_error``)."""

    error_type = "transcriber_error"


class UnacceptedTermsError(ServerError):
    """The terms of service were not accepted in the dashboard (``unaccepted_terms``)."""

    error_type = "unaccepted_terms"


class RateLimitedError(ServerError):
    """Too many requests or concurrent sessions (``rate_limited``)."""

    error_type = "rate_limited"


class InputError(ServerError):
    """A frame or its audio was invalid (``input_error``)."""

    error_type = "input_error"


class InvalidRequestError(ServerError):
    """The connection's query parameters were rejected (``invalid_request``, close 1008)."""

    error_type = "invalid_request"


class QueueOverflowError(ServerError):
    """The server's processing queue is full (``queue_overflow``)."""

    error_type = "queue_overflow"


class ResourceExhaustedError(ServerError):
    """The server is at capacity (``resource_exhausted``)."""

    error_type = "resource_exhausted"


class SessionTimeLimitExceededError(ServerError):
    """The session reached its maximum length (``session_time_limit_exceeded``)."""

    error_type = "session_time_limit_exceeded"


class ChunkSizeExceededError(ServerError):
    """An audio chunk was too large (``chunk_size_exceeded``)."""

    error_type = "chunk_size_exceeded"


class InsufficientAudioActivityError(ServerError):
    """The server closed an idle session (``insufficient_audio_activity``)."""

    error_type = "insufficient_audio_activity"


class ConnectionClosedError(ScribeError):
    """The connection failed or was closed without a clean protocol ending.

    Attributes:
        code: the close code received, or 1006 when no close frame arrived.
        reason: the close reason received, if any.
    """

    def __init__(self, message: str, *, code: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class ConnectError(ConnectionClosedError):
    """The connection never opened (refused, unreachable, TLS or upgrade failure)."""


class IncompleteTranscriptError(ConnectionClosedError):
    """The session ended (even with a clean close) while commits were still unanswered: the
    transcript's tail is missing.

    Attributes:
        unanswered_seconds: seconds of committed audio no transcript covers.
    """

    def __init__(self, message: str, *, unanswered_seconds: float, code: int | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, code=code, reason=reason)
        self.unanswered_seconds = unanswered_seconds


class ReconnectFailedError(ConnectionClosedError):
    """A reconnecting session gave up; ``__cause__`` is the last failure.

    Attributes:
        attempts: how many reconnect attempts were made.
        undelivered_audio_seconds: accepted audio that no committed transcript covered.
    """

    def __init__(self, message: str, *, attempts: int, undelivered_audio_seconds: float,
                 code: int | None = None, reason: str | None = None) -> None:
        super().__init__(message, code=code, reason=reason)
        self.attempts = attempts
        self.undelivered_audio_seconds = undelivered_audio_seconds

    @property
    def reconnect_attempts(self) -> int:
        """Deprecated alias of :attr:`attempts`."""
        return self.attempts


class AudioSourceError(ScribeError):
    """An audio source could not be opened or read (also importable from ``scribe_sync.audio``).

    Attributes:
        source: what was being read (a path, URL, device name or ``"<stdin>"``).
        reason: why it failed, in a few words.
        transcript: when raised by ``scribe_sync.transcribe`` after the session started, the
            :class:`~scribe_sync.transcript.Transcript` of the audio sent before the failure
            (committed and awaited before raising); ``None`` otherwise.
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        # A Transcript; typed loosely because errors cannot import the transcript module
        # (which imports errors).
        self.transcript: Any = None


class AudioBufferFullError(ScribeError):
    """``send_audio`` refused audio: the reconnect buffer is full.

    The buffer holds audio no committed transcript has covered yet (and audio sent while
    reconnecting), up to ``ReconnectPolicy.buffer_seconds``. Commit more often, or raise the bound.
    Nothing of the refused call was accepted.
    """


# The literal table from wire error type to exception class. ``unaccepted_terms_error`` is the
# name the docs use; the server sends ``unaccepted_terms`` (docs/protocol.md Q11): both map here.
_SERVER_ERRORS: dict[str, type[ServerError]] = {
    "error": ServerError,
    "auth_error": AuthError,
    "quota_exceeded": QuotaExceededError,
    "commit_throttled": CommitThrottledError,
    "transcriber_error": TranscriberError,
    "unaccepted_terms": UnacceptedTermsError,
    "unaccepted_terms_error": UnacceptedTermsError,
    "rate_limited": RateLimitedError,
    "input_error": InputError,
    "invalid_request": InvalidRequestError,
    "queue_overflow": QueueOverflowError,
    "resource_exhausted": ResourceExhaustedError,
    "session_time_limit_exceeded": SessionTimeLimitExceededError,
    "chunk_size_exceeded": ChunkSizeExceededError,
    "insufficient_audio_activity": InsufficientAudioActivityError,
}

#: Every wire ``message_type`` that is an error, for the codec's decode table.
SERVER_ERROR_TYPES: frozenset[str] = frozenset(_SERVER_ERRORS)


def server_error_class(error_type: str) -> type[ServerError]:
    """The exception class for a wire error type; ``ServerError`` for types not in the table."""
    return _SERVER_ERRORS.get(error_type, ServerError)
