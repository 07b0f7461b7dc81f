"""Encoding the message classes of :mod:`scribe_sync.messages` as JSON text frames.

:func:`encode_audio_chunk` is the hot path of every session (one call per chunk sent); it
builds the frame's bytes directly. :func:`encode` handles every other message, for the mock
server, the record/replay files and tests.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import attrs

from ._wire import CONFIG_KEYS, Payload
from .messages import (
    CommitStrategy,
    CommittedTranscript,
    CommittedTranscriptEntities,
    CommittedTranscriptWithTimestamps,
    DiarizedTranscript,
    EditedTranscript,
    ErrorEvent,
    InputAudioChunk,
    PartialTranscript,
    RedactedTranscript,
    ServerWarning,
    SessionConfig,
    SessionStarted,
    SpeakersMerged,
    UnknownEvent,
    Word,
)

__all__ = ["encode", "encode_audio_chunk"]


def _encode_word(word: Word) -> Payload:
    out: Payload = {"text": word.text}
    for key in ("start", "end", "type", "logprob", "speaker_id"):
        value = getattr(word, key)
        if value is not None:
            out[key] = value
    if word.characters is not None:
        out["characters"] = [
            c.text
            if c.start is None and c.end is None
            else {
                "text": c.text,
                **({} if c.start is None else {"start": c.start}),
                **({} if c.end is None else {"end": c.end}),
            }
            for c in word.characters
        ]
    if word.channel_index is not None:
        out["channel_index"] = word.channel_index
    return out


def _encode_config(config: SessionConfig) -> Payload:
    strategy = config.commit_strategy
    out: Payload = {}
    for key in CONFIG_KEYS:
        if key == "vad_commit_strategy":
            # The live form is a bool (docs/protocol.md §7, Q1); only a strategy that a bool cannot
            # express is written with the SDK's spelling.
            if strategy is None or strategy in (CommitStrategy.MANUAL, CommitStrategy.VAD):
                out[key] = None if strategy is None else strategy == CommitStrategy.VAD
            else:
                out["commit_strategy"] = str(strategy)
        elif key == "disable_logging":
            out[key] = None if config.enable_logging is None else not config.enable_logging
        else:
            value = getattr(config, key)
            out[key] = list(value) if isinstance(value, tuple) else value
    for key, value in config.extra.items():
        out.setdefault(key, value)
    return out


def _payload(message: Any) -> Payload:
    if isinstance(message, InputAudioChunk):
        out: Payload = {
            "message_type": "input_audio_chunk",
            "audio_base_64": base64.b64encode(message.audio).decode("ascii"),
            "commit": message.commit,
        }
        if message.sample_rate is not None:
            out["sample_rate"] = message.sample_rate
        if message.previous_text is not None:
            out["previous_text"] = message.previous_text
        return out
    if isinstance(message, SessionStarted):
        return {
            "message_type": message.message_type,
            "session_id": message.session_id,
            "config": _encode_config(message.config),
        }
    if isinstance(message, ErrorEvent):
        return {"message_type": message.error_type, "error": message.message}
    if isinstance(message, UnknownEvent):
        return {**message.payload, "message_type": message.message_type}
    if isinstance(message, CommittedTranscriptWithTimestamps):
        return {
            "message_type": message.message_type,
            "text": message.text,
            "language_code": message.language_code,
            "words": None if message.words is None else [_encode_word(w) for w in message.words],
        }
    if isinstance(message, DiarizedTranscript):
        return {
            "message_type": message.message_type,
            "segment_index": message.segment_index,
            "text": message.text,
            "words": [_encode_word(w) for w in message.words],
        }
    if isinstance(message, CommittedTranscriptEntities):
        return {
            "message_type": message.message_type,
            "text": message.text,
            "entities": [attrs.asdict(e) for e in message.entities],
        }
    if isinstance(
        message,
        (
            PartialTranscript,
            CommittedTranscript,
            RedactedTranscript,
            EditedTranscript,
            SpeakersMerged,
            ServerWarning,
        ),
    ):
        return {"message_type": message.message_type, **attrs.asdict(message)}
    raise TypeError(f"cannot encode {type(message).__name__}")


def encode_audio_chunk(audio: bytes | bytearray | memoryview, commit: bool,
                       sample_rate: int | None,
                       previous_text: str | None = None) -> bytes:
    """``encode(InputAudioChunk(...))`` as UTF-8 bytes, byte for byte, built directly.

    The hot path of every session: base64 text never needs JSON escaping, so it is placed
    between fixed pieces instead of going through ``json.dumps``' escape scan, and the audio is
    read once (by the base64 encoder), never copied first.
    """
    parts = [b'{"message_type":"input_audio_chunk","audio_base_64":"',
             binascii.b2a_base64(audio, newline=False),
             b'","commit":true' if commit else b'","commit":false']
    if sample_rate is not None:
        parts.append(b',"sample_rate":%d' % sample_rate)
    if previous_text is not None:
        parts.append(b',"previous_text":')
        parts.append(json.dumps(previous_text, ensure_ascii=False).encode("utf-8"))
    parts.append(b"}")
    return b"".join(parts)


def encode(message: Any) -> str:
    """Encode any message of :mod:`scribe_sync.messages` as a JSON text frame.

    Raises:
        TypeError: ``message`` is not a protocol message.
        ValueError: a float field is NaN or infinite, which JSON cannot represent.
    """
    # allow_nan=False: json.dumps would otherwise write NaN/Infinity, which are not JSON and
    # which our own decode() (and strict peers) refuse.
    try:
        return json.dumps(
            _payload(message), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except ValueError as exc:
        raise ValueError(f"cannot encode {type(message).__name__} as JSON: {exc}") from None
