"""A straightforward reference decoder for server frames: the oracle of the fast one.

It reads every field through one generic checker and builds every instance with its public
constructor, as the codec did before it was made fast. ``tests/test_decode_reference.py``
checks that :func:`scribe_sync.protocol.decode` agrees with it on arbitrary input: the same
event, or RemoteProtocolError from both. Keep it simple rather than fast.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from scribe_sync.errors import SERVER_ERROR_TYPES, RemoteProtocolError
from scribe_sync.messages import (
    Character,
    CommitStrategy,
    CommittedTranscript,
    CommittedTranscriptEntities,
    CommittedTranscriptWithTimestamps,
    DiarizedTranscript,
    EditedTranscript,
    Entity,
    ErrorEvent,
    PartialTranscript,
    RedactedTranscript,
    ServerEvent,
    ServerWarning,
    SessionConfig,
    SessionStarted,
    SpeakersMerged,
    UnknownEvent,
    Word,
)

__all__ = ["reference_decode"]

Payload = dict[str, Any]


class _Missing:
    pass


_MISSING: Final = _Missing()


def _field(obj: Mapping[str, Any], key: str, kind: str, *, optional: bool) -> Any:
    value = obj.get(key, _MISSING)
    if value is _MISSING or (value is None and optional):
        if optional:
            return None
        raise RemoteProtocolError(f"{obj.get('message_type')!s}: missing field {key!r}")
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        # bool is an int subclass in Python; JSON true is not a number.
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "list": isinstance(value, list),
        "dict": isinstance(value, dict),
    }[kind]
    if not ok:
        raise RemoteProtocolError(
            f"{obj.get('message_type')!s}: field {key!r} should be {kind}, "
            f"got {type(value).__name__}"
        )
    if kind == "float":
        try:
            number = float(value)
            if not math.isfinite(number):  # an overflowing literal, parsed as infinite
                raise OverflowError
            return number
        except OverflowError:
            # An integer beyond the double range (JSON ints are unbounded) would otherwise
            # escape decode() as OverflowError, breaking its only-RemoteProtocolError contract.
            raise RemoteProtocolError(
                f"{obj.get('message_type')!s}: field {key!r} is out of range"
            ) from None
    return value


def _str(obj: Mapping[str, Any], key: str) -> str:
    result: str = _field(obj, key, "str", optional=False)
    return result


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    result: str | None = _field(obj, key, "str", optional=True)
    return result


def _opt_float(obj: Mapping[str, Any], key: str) -> float | None:
    result: float | None = _field(obj, key, "float", optional=True)
    return result


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    result: int | None = _field(obj, key, "int", optional=True)
    return result


def _opt_bool(obj: Mapping[str, Any], key: str) -> bool | None:
    result: bool | None = _field(obj, key, "bool", optional=True)
    return result


def _str_list(obj: Mapping[str, Any], key: str, *, optional: bool) -> tuple[str, ...] | None:
    value = _field(obj, key, "list", optional=optional)
    if value is None:
        return None
    if not all(isinstance(item, str) for item in value):
        raise RemoteProtocolError(f"{obj.get('message_type')!s}: {key!r} must hold strings")
    return tuple(value)


def _objects(obj: Mapping[str, Any], key: str, *, optional: bool) -> list[dict[str, Any]] | None:
    value = _field(obj, key, "list", optional=optional)
    if value is None:
        return None
    if not all(isinstance(item, dict) for item in value):
        raise RemoteProtocolError(f"{obj.get('message_type')!s}: {key!r} must hold objects")
    return value  # type: ignore[no-any-return]


def _decode_character(item: Any) -> Character:
    # docs/protocol.md §7, Q6: a bare one-character string (DOC-REF) or {text, start, end}
    # (AsyncAPI).
    if isinstance(item, str):
        return Character(item)
    if isinstance(item, dict):
        return Character(_str(item, "text"), _opt_float(item, "start"), _opt_float(item, "end"))
    raise RemoteProtocolError("words[].characters must hold strings or objects")


def _decode_word(item: Mapping[str, Any]) -> Word:
    characters = item.get("characters")
    if characters is not None and not isinstance(characters, list):
        raise RemoteProtocolError("words[].characters must be a list")
    # Only an absent (or null) type defaults: `or "word"` also rewrote an explicit "", so
    # decode(encode(word)) was not word for Word(type="") (found by the round-trip property).
    word_type = _opt_str(item, "type")
    return Word(
        text=_str(item, "text"),
        start=_opt_float(item, "start"),
        end=_opt_float(item, "end"),
        # The type is always present on the wire; "word" is the only sensible reading if not.
        type="word" if word_type is None else word_type,
        logprob=_opt_float(item, "logprob"),
        speaker_id=_opt_str(item, "speaker_id"),
        characters=None if characters is None else tuple(map(_decode_character, characters)),
        channel_index=_opt_int(item, "channel_index"),
    )


def _decode_words(obj: Mapping[str, Any], *, optional: bool) -> tuple[Word, ...] | None:
    items = _objects(obj, "words", optional=optional)
    return None if items is None else tuple(map(_decode_word, items))


# Keys of the live ``config`` object in the order the live service sends them
# (docs/protocol.md §4.1), mapped to how each is read. Both spellings of the commit strategy
# and of logging are listed.
_CONFIG_KEYS: Final = (
    "sample_rate",
    "audio_format",
    "language_code",
    "secondary_languages",
    "timestamps_granularity",
    "vad_commit_strategy",
    "vad_silence_threshold_secs",
    "vad_threshold",
    "min_speech_duration_ms",
    "min_silence_duration_ms",
    "max_tokens_to_recompute",
    "model_id",
    "disable_logging",
    "include_timestamps",
    "include_language_detection",
    "filter_background_audio",
    "keyterms",
    "no_verbatim",
    "entity_detection",
)
_CONFIG_ALIASES: Final = frozenset({"commit_strategy", "enable_logging"})


def _commit_strategy(value: str) -> CommitStrategy | str:
    try:
        return CommitStrategy(value)
    except ValueError:
        return value  # a strategy newer than this version; kept rather than refused


def _decode_config(config: Mapping[str, Any]) -> SessionConfig:
    commit_strategy: CommitStrategy | str | None = None
    vad = config.get("vad_commit_strategy")
    if isinstance(vad, bool):
        commit_strategy = CommitStrategy.VAD if vad else CommitStrategy.MANUAL
    elif isinstance(vad, str):  # the AsyncAPI file types it as an enum string
        commit_strategy = _commit_strategy(vad)
    elif vad is not None:
        raise RemoteProtocolError("config: 'vad_commit_strategy' should be bool")
    elif config.get("commit_strategy") is not None:
        commit_strategy = _commit_strategy(_str(config, "commit_strategy"))

    enable_logging = _opt_bool(config, "enable_logging")
    disable_logging = _opt_bool(config, "disable_logging")
    if disable_logging is not None:
        enable_logging = not disable_logging

    known = set(_CONFIG_KEYS) | _CONFIG_ALIASES
    return SessionConfig(
        sample_rate=_opt_int(config, "sample_rate"),
        audio_format=_opt_str(config, "audio_format"),
        language_code=_opt_str(config, "language_code"),
        secondary_languages=_str_list(config, "secondary_languages", optional=True) or (),
        timestamps_granularity=_opt_str(config, "timestamps_granularity"),
        commit_strategy=commit_strategy,
        vad_silence_threshold_secs=_opt_float(config, "vad_silence_threshold_secs"),
        vad_threshold=_opt_float(config, "vad_threshold"),
        min_speech_duration_ms=_opt_int(config, "min_speech_duration_ms"),
        min_silence_duration_ms=_opt_int(config, "min_silence_duration_ms"),
        max_tokens_to_recompute=_opt_int(config, "max_tokens_to_recompute"),
        model_id=_opt_str(config, "model_id"),
        enable_logging=enable_logging,
        include_timestamps=_opt_bool(config, "include_timestamps"),
        include_language_detection=_opt_bool(config, "include_language_detection"),
        filter_background_audio=_opt_bool(config, "filter_background_audio"),
        keyterms=_str_list(config, "keyterms", optional=True) or (),
        no_verbatim=_opt_bool(config, "no_verbatim"),
        entity_detection=_str_list(config, "entity_detection", optional=True),
        extra={key: value for key, value in config.items() if key not in known},
    )


def _decode_session_started(obj: Payload) -> SessionStarted:
    config = _field(obj, "config", "dict", optional=True)
    return SessionStarted(_str(obj, "session_id"), _decode_config(config or {}))


def _decode_timestamps(obj: Payload) -> CommittedTranscriptWithTimestamps:
    return CommittedTranscriptWithTimestamps(
        text=_str(obj, "text"),
        language_code=_opt_str(obj, "language_code"),
        words=_decode_words(obj, optional=True),
    )


def _decode_entities(obj: Payload) -> CommittedTranscriptEntities:
    items = _objects(obj, "entities", optional=True) or []
    entities = tuple(
        Entity(
            text=_str(item, "text"),
            entity_type=_str(item, "entity_type"),
            start_char=_field(item, "start_char", "int", optional=False),
            end_char=_field(item, "end_char", "int", optional=False),
        )
        for item in items
    )
    return CommittedTranscriptEntities(_str(obj, "text"), entities)


def _decode_diarized(obj: Payload) -> DiarizedTranscript:
    return DiarizedTranscript(
        segment_index=_field(obj, "segment_index", "int", optional=False),
        text=_str(obj, "text"),
        words=_decode_words(obj, optional=True) or (),
    )


def _decode_error(obj: Payload) -> ErrorEvent:
    # docs/protocol.md §7, Q10: live payloads use "error"; some fixtures and LiveKit read
    # "message".
    message = _opt_str(obj, "error")
    if message is None:
        message = _opt_str(obj, "message")
    return ErrorEvent(error_type=obj["message_type"], message=message or "")


# The literal decode table: wire message_type -> decoder. The legacy ``final_transcript*`` names
# (renamed before 2025-11-11, docs/protocol.md §4.9) decode to the committed classes.
_DECODERS: Final[dict[str, Callable[[Payload], ServerEvent]]] = {
    "session_started": _decode_session_started,
    "partial_transcript": lambda obj: PartialTranscript(_str(obj, "text")),
    "committed_transcript": lambda obj: CommittedTranscript(_str(obj, "text")),
    "final_transcript": lambda obj: CommittedTranscript(_str(obj, "text")),
    "committed_transcript_with_timestamps": _decode_timestamps,
    "final_transcript_with_timestamps": _decode_timestamps,
    "committed_transcript_entities": _decode_entities,
    "redacted_transcript": lambda obj: RedactedTranscript(
        _str(obj, "text"), _str(obj, "redacted_text")
    ),
    "edited_transcript": lambda obj: EditedTranscript(_str(obj, "text"), _str(obj, "edited_text")),
    "diarized_transcript": _decode_diarized,
    "speakers_merged": lambda obj: SpeakersMerged(
        _str(obj, "from_speaker_id"), _str(obj, "to_speaker_id")
    ),
    "warning": lambda obj: ServerWarning(_str(obj, "warning")),
    **dict.fromkeys(SERVER_ERROR_TYPES, _decode_error),
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not JSON")


def _finite_float(text: str) -> float:
    # json parses 1e400 to inf without consulting parse_constant; such a value would decode
    # into a field (or UnknownEvent payload) that encode() cannot write back as JSON.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


# One decoder for every frame: json.loads(..., parse_float=...) builds a new JSONDecoder (and
# its scanner) per call, which was a third of the decode time of a partial transcript.
# Strict (every number finite) for the frames whose values are kept unread: an UnknownEvent's
# payload, the config's extra keys. Elsewhere an overflowing number is refused where a field
# is read, and ignored under a key nobody reads, as any other extra field.
_STRICT: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_JSON: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _load_object(data: str | bytes, decoder: json.JSONDecoder = _JSON) -> Payload:
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"frame is not valid UTF-8: {exc.reason}") from None
    try:
        obj = decoder.decode(data)
    # RecursionError: deeply nested arrays exhaust the parser's stack; ValueError covers
    # JSONDecodeError, huge integers and the non-finite constants refused above.
    except (ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"frame is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"frame is a JSON {type(obj).__name__}, not an object")
    message_type = obj.get("message_type")
    if not isinstance(message_type, str):
        raise RemoteProtocolError("frame has no string 'message_type'")
    return obj


def reference_decode(data: str | bytes) -> ServerEvent:
    """Decode one server frame into a typed event.

    Extra fields are ignored; an unknown ``message_type`` gives :class:`UnknownEvent`.

    Raises:
        RemoteProtocolError: for anything malformed, and nothing else.
    """
    obj = _load_object(data)
    decoder = _DECODERS.get(obj["message_type"])
    if decoder is None:
        return UnknownEvent(obj["message_type"], _load_object(data, _STRICT))
    if obj["message_type"] == "session_started":
        obj = _load_object(data, _STRICT)
    try:
        return decoder(obj)
    except RemoteProtocolError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # pragma: no cover
        raise RemoteProtocolError(f"{obj['message_type']}: {exc}") from None
