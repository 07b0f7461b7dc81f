"""scribe-sync: ElevenLabs Scribe v2 Realtime speech-to-text from plain, blocking Python.

The public names are re-exported here; see the README for a tour. They are loaded on first use
(PEP 562, as websockets does), so ``import scribe_sync`` is cheap and a command that only needs
the version or the errors does not pay for the WebSocket stack. Nothing here imports numpy,
soundfile or the mock server: audio files need the ``audio`` extra, and
:mod:`scribe_sync.audio` says so when it is missing.

Example::

    import scribe_sync

    with scribe_sync.connect(language_code="en") as session:  # the key: $ELEVENLABS_API_KEY
        session.send_audio(bytes(32000))  # 1 s of 16 kHz 16-bit mono PCM (silence)
    # Leaving the block committed the audio and waited for its transcript.
    print(repr(session.transcript))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._transcribe import transcribe
    from .client import DEFAULT_BASE_URL, ScribeClient, connect
    from .errors import (
        AudioBufferFullError,
        AudioSourceError,
        AuthError,
        ChunkSizeExceededError,
        CommitThrottledError,
        ConfigError,
        ConnectError,
        ConnectionClosedError,
        IncompleteTranscriptError,
        InputError,
        InsufficientAudioActivityError,
        InvalidRequestError,
        LocalProtocolError,
        ProtocolError,
        QueueOverflowError,
        QuotaExceededError,
        RateLimitedError,
        ReconnectFailedError,
        RemoteProtocolError,
        ResourceExhaustedError,
        ScribeError,
        ServerError,
        SessionTimeLimitExceededError,
        TranscriberError,
        UnacceptedTermsError,
        server_error_class,
    )
    from .messages import (
        AudioFormat,
        Character,
        CommitStrategy,
        CommittedTranscript,
        CommittedTranscriptEntities,
        CommittedTranscriptWithTimestamps,
        DiarizedTranscript,
        EditedTranscript,
        Entity,
        ErrorEvent,
        Event,
        InputAudioChunk,
        PartialTranscript,
        Reconnected,
        Reconnecting,
        RedactedTranscript,
        ServerEvent,
        ServerWarning,
        SessionConfig,
        SessionEnded,
        SessionStarted,
        SpeakersMerged,
        UnknownEvent,
        Word,
    )
    from .protocol import SessionOptions
    from .reconnect import ReconnectPolicy
    from .session import Session, SessionStats, StreamHandle, Subscription
    from .transcript import Transcript

__all__ = [
    "DEFAULT_BASE_URL",
    "AudioBufferFullError",
    "AudioFormat",
    "AudioSourceError",
    "AuthError",
    "Character",
    "ChunkSizeExceededError",
    "CommitStrategy",
    "CommitThrottledError",
    "CommittedTranscript",
    "CommittedTranscriptEntities",
    "CommittedTranscriptWithTimestamps",
    "ConfigError",
    "ConnectError",
    "ConnectionClosedError",
    "DiarizedTranscript",
    "EditedTranscript",
    "Entity",
    "ErrorEvent",
    "Event",
    "IncompleteTranscriptError",
    "InputAudioChunk",
    "InputError",
    "InsufficientAudioActivityError",
    "InvalidRequestError",
    "LocalProtocolError",
    "PartialTranscript",
    "ProtocolError",
    "QueueOverflowError",
    "QuotaExceededError",
    "RateLimitedError",
    "ReconnectFailedError",
    "ReconnectPolicy",
    "Reconnected",
    "Reconnecting",
    "RedactedTranscript",
    "RemoteProtocolError",
    "ResourceExhaustedError",
    "ScribeClient",
    "ScribeError",
    "ServerError",
    "ServerEvent",
    "ServerWarning",
    "Session",
    "SessionConfig",
    "SessionEnded",
    "SessionOptions",
    "SessionStarted",
    "SessionStats",
    "SessionTimeLimitExceededError",
    "SpeakersMerged",
    "StreamHandle",
    "Subscription",
    "TranscriberError",
    "Transcript",
    "UnacceptedTermsError",
    "UnknownEvent",
    "Word",
    "__version__",
    "connect",
    # errors.__all__ lists it and the top level re-exports every public name of errors; the
    # session code and users both need the wire-type -> exception lookup (test_public_api).
    "server_error_class",
    "transcribe",
]

#: Where each public name lives; its module is imported on first access.
_LAZY: dict[str, str] = {
    "transcribe": "_transcribe",
    "DEFAULT_BASE_URL": "client",
    "ScribeClient": "client",
    "connect": "client",
    "AudioBufferFullError": "errors",
    "AudioSourceError": "errors",
    "AuthError": "errors",
    "ConnectError": "errors",
    "ReconnectFailedError": "errors",
    "ChunkSizeExceededError": "errors",
    "CommitThrottledError": "errors",
    "ConfigError": "errors",
    "ConnectionClosedError": "errors",
    "IncompleteTranscriptError": "errors",
    "InputError": "errors",
    "InsufficientAudioActivityError": "errors",
    "InvalidRequestError": "errors",
    "LocalProtocolError": "errors",
    "ProtocolError": "errors",
    "QueueOverflowError": "errors",
    "QuotaExceededError": "errors",
    "RateLimitedError": "errors",
    "RemoteProtocolError": "errors",
    "ResourceExhaustedError": "errors",
    "ScribeError": "errors",
    "ServerError": "errors",
    "SessionTimeLimitExceededError": "errors",
    "TranscriberError": "errors",
    "UnacceptedTermsError": "errors",
    "server_error_class": "errors",
    "AudioFormat": "messages",
    "Character": "messages",
    "CommitStrategy": "messages",
    "CommittedTranscript": "messages",
    "CommittedTranscriptEntities": "messages",
    "CommittedTranscriptWithTimestamps": "messages",
    "DiarizedTranscript": "messages",
    "EditedTranscript": "messages",
    "Entity": "messages",
    "ErrorEvent": "messages",
    "Event": "messages",
    "InputAudioChunk": "messages",
    "PartialTranscript": "messages",
    "RedactedTranscript": "messages",
    "ServerEvent": "messages",
    "ServerWarning": "messages",
    "SessionConfig": "messages",
    "SessionStarted": "messages",
    "SpeakersMerged": "messages",
    "UnknownEvent": "messages",
    "Word": "messages",
    "SessionOptions": "protocol",
    "Reconnected": "messages",
    "Reconnecting": "messages",
    "ReconnectPolicy": "reconnect",
    "Session": "session",
    "SessionEnded": "messages",
    "SessionStats": "session",
    "StreamHandle": "session",
    "Subscription": "session",
    "Transcript": "transcript",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
