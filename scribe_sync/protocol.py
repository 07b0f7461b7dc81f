"""Sans-I/O protocol core: the JSON codec, session options and their validation, URL building.

No sockets, threads or clocks live here, so everything is testable with plain values:

- :func:`encode` turns any message of :mod:`scribe_sync.messages` into a text frame;
  :func:`decode` turns a server frame into a typed event and :func:`decode_client` a client frame
  into an :class:`~scribe_sync.messages.InputAudioChunk`. Decoding raises only
  :class:`~scribe_sync.errors.RemoteProtocolError`, whatever the input.
- :class:`SessionOptions` holds every query parameter of PROTOCOL.md §2 and validates it on
  construction, so an invalid option fails before any connection with a :class:`ConfigError`
  naming the option, the value and what is allowed.
- :func:`build_url` produces the same URL as the official ``elevenlabs`` SDK for the same options.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from ._redact import redact_url
from .errors import SERVER_ERROR_TYPES, ConfigError, RemoteProtocolError
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
    InputAudioChunk,
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

__all__ = [
    "REALTIME_PATH",
    "SessionOptions",
    "auth_headers",
    "build_url",
    "decode",
    "decode_client",
    "encode",
    "encode_audio_chunk",
    "query_params",
    "redact_url",
]

#: Path of the realtime endpoint under the API base URL.
REALTIME_PATH: Final = "/v1/speech-to-text/realtime"

Payload = dict[str, Any]


# =============================================================================================
# Decoding helpers: each raises RemoteProtocolError naming the field.


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
            return float(value)
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
    # PROTOCOL.md Q6: a bare one-character string (DOC-REF) or {text, start, end} (AsyncAPI).
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


# Keys of the live ``config`` object in the order the live service sends them (PROTOCOL.md §4.1),
# mapped to how each is read. Both spellings of the commit strategy and of logging are listed.
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
    # PROTOCOL.md Q10: live payloads use "error"; some fixtures and LiveKit read "message".
    message = _opt_str(obj, "error")
    if message is None:
        message = _opt_str(obj, "message")
    return ErrorEvent(error_type=obj["message_type"], message=message or "")


# The literal decode table: wire message_type -> decoder. The legacy ``final_transcript*`` names
# (renamed before 2025-11-11, PROTOCOL.md §4.9) decode to the committed classes.
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

#: Every message class the server side of the codec produces.
SERVER_EVENT_CLASSES: Final = (
    SessionStarted,
    PartialTranscript,
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    CommittedTranscriptEntities,
    RedactedTranscript,
    EditedTranscript,
    DiarizedTranscript,
    SpeakersMerged,
    ServerWarning,
    ErrorEvent,
    UnknownEvent,
)


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
_JSON: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _load_object(data: str | bytes) -> Payload:
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"frame is not valid UTF-8: {exc.reason}") from None
    try:
        obj = _JSON.decode(data)
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


def decode(data: str | bytes) -> ServerEvent:
    """Decode one server frame into a typed event.

    Extra fields are ignored; an unknown ``message_type`` gives :class:`UnknownEvent`.

    Raises:
        RemoteProtocolError: for anything malformed, and nothing else.
    """
    obj = _load_object(data)
    decoder = _DECODERS.get(obj["message_type"])
    if decoder is None:
        return UnknownEvent(obj["message_type"], obj)
    try:
        return decoder(obj)
    except RemoteProtocolError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # pragma: no cover
        # Belt and braces: the field helpers should have caught every shape problem.
        raise RemoteProtocolError(f"{obj['message_type']}: {exc}") from None


def decode_client(data: str | bytes) -> InputAudioChunk:
    """Decode one client frame (the mock server's side of the codec).

    ``commit`` defaults to false and ``sample_rate`` to ``None`` when absent, as several
    integrators omit them (PROTOCOL.md Q18). ``previous_text: null`` is accepted.

    Raises:
        RemoteProtocolError: malformed frame, wrong ``message_type``, or invalid base64.
    """
    obj = _load_object(data)
    if obj["message_type"] != InputAudioChunk.message_type:
        raise RemoteProtocolError(f"Unexpected message type: {obj['message_type']}")
    audio = _str(obj, "audio_base_64")
    try:
        raw = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise RemoteProtocolError("audio_base_64 is not valid base64") from None
    return InputAudioChunk(
        audio=raw,
        commit=bool(_opt_bool(obj, "commit")),
        sample_rate=_opt_int(obj, "sample_rate"),
        previous_text=_opt_str(obj, "previous_text"),
    )


# =============================================================================================
# Encoding


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
    for key in _CONFIG_KEYS:
        if key == "vad_commit_strategy":
            # The live form is a bool (PROTOCOL.md Q1); only a strategy that a bool cannot
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


def encode_audio_chunk(audio: bytes | memoryview, commit: bool, sample_rate: int | None,
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


# =============================================================================================
# Session options


_LANGUAGE_RE: Final = re.compile(r"[a-z]{2,3}\Z")
_ENTITY_RE: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
_MODEL_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")

#: Entity categories (PROTOCOL.md §2); specific types such as ``email_address`` are also valid.
ENTITY_CATEGORIES: Final = ("all", "pii", "phi", "pci", "other", "offensive_language")
ENTITY_REDACTION_MODES: Final = ("redacted", "entity_type", "enumerated_entity_type")
MAX_KEYTERMS: Final = 50
MAX_KEYTERM_LENGTH: Final = 20
MAX_TRANSCRIPT_EDIT_LENGTH: Final = 2000


def _fail(option: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"invalid {option}={value!r}: {allowed}", option=option)


def _enum(option: str, enum_type: Any, allowed: Iterable[Any]) -> Callable[[Any], Any]:
    allowed = tuple(allowed)

    def convert(value: Any) -> Any:
        try:
            result = enum_type(value)
        except ValueError:
            result = None
        if result not in allowed:
            names = ", ".join(repr(str(a)) for a in allowed)
            raise _fail(option, value, f"allowed values are {names}")
        return result

    return convert


def _strings(option: str) -> Callable[[Any], tuple[str, ...] | None]:
    def convert(value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        try:
            items = tuple(value)
        except TypeError:
            raise _fail(option, value, "expected a string or a list of strings") from None
        if not all(isinstance(item, str) for item in items):
            raise _fail(option, value, "expected a string or a list of strings")
        return items

    return convert


def _check_bool(option: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise _fail(option, value, "expected True or False")


def _check_number(option: str, value: Any, low: float, high: float, *, integer: bool) -> None:
    if value is None:
        return
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int if integer else (int, float))):
        raise _fail(option, value, f"expected {kind} from {low} to {high} inclusive")
    # Compare directly: math.isfinite() raises OverflowError for ints beyond the float range,
    # and the chained comparison is already False for NaN and the infinities.
    if not low <= value <= high:
        raise _fail(option, value, f"must be from {low} to {high} inclusive")


def _check_language(option: str, value: str) -> None:
    if not _LANGUAGE_RE.match(value):
        raise _fail(
            option,
            value,
            "expected a lowercase ISO 639-1 or ISO 639-3 code such as 'en' or 'eng' "
            "(region tags such as 'en-US' are refused by the service)",
        )


def _check_entities(option: str, values: tuple[str, ...] | None) -> None:
    if values is None:
        return
    if not values:
        raise _fail(option, list(values), "expected at least one entity category or type")
    for value in values:
        if not _ENTITY_RE.match(value):
            raise _fail(
                option,
                value,
                f"expected {', '.join(map(repr, ENTITY_CATEGORIES))} "
                "or a specific entity type such as 'email_address'",
            )


_FIELDS_DOC: Final = "see SessionOptions for the list"

# Named converters: mypy's attrs plugin only understands named functions as converters.
_audio_format_converter = _enum("audio_format", AudioFormat, AudioFormat)
# turn_prediction is in the SDK's generated enum only (PROTOCOL.md Q14): not offered.
_commit_strategy_converter = _enum(
    "commit_strategy", CommitStrategy, (CommitStrategy.MANUAL, CommitStrategy.VAD)
)
_secondary_languages_converter = _strings("secondary_languages")
_keyterms_converter = _strings("keyterms")
_entity_detection_converter = _strings("entity_detection")
_entity_redaction_converter = _strings("entity_redaction")


def _to_audio_format(value: Any) -> AudioFormat:
    result: AudioFormat = _audio_format_converter(value)
    return result


def _to_commit_strategy(value: Any) -> CommitStrategy:
    result: CommitStrategy = _commit_strategy_converter(value)
    return result


def _to_secondary_languages(value: Any) -> tuple[str, ...] | None:
    return _secondary_languages_converter(value)


def _to_keyterms(value: Any) -> tuple[str, ...] | None:
    return _keyterms_converter(value)


def _to_entity_detection(value: Any) -> tuple[str, ...] | None:
    return _entity_detection_converter(value)


def _to_entity_redaction(value: Any) -> tuple[str, ...] | None:
    return _entity_redaction_converter(value)


@attrs.frozen(kw_only=True)
class SessionOptions:
    """Every query parameter of a realtime session (PROTOCOL.md §2), validated on construction.

    Options left as ``None`` are not sent, so the server applies its own default; this matches
    what the official SDK sends for the same options. ``include_timestamps`` is always sent.

    Raises:
        ConfigError: an option is out of range, of the wrong type, or combined with an option it
            cannot be combined with. The message names the option, the value and what is allowed.
    """

    model_id: str = "scribe_v2_realtime"
    audio_format: AudioFormat = attrs.field(
        default=AudioFormat.PCM_16000, converter=_to_audio_format
    )
    commit_strategy: CommitStrategy = attrs.field(
        default=CommitStrategy.MANUAL, converter=_to_commit_strategy
    )
    vad_silence_threshold_secs: float | None = None
    vad_threshold: float | None = None
    min_speech_duration_ms: int | None = None
    min_silence_duration_ms: int | None = None
    language_code: str | None = None
    secondary_languages: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_secondary_languages
    )
    include_timestamps: bool = False
    include_language_detection: bool | None = None
    keyterms: tuple[str, ...] | None = attrs.field(default=None, converter=_to_keyterms)
    no_verbatim: bool | None = None
    filter_background_audio: bool | None = None
    enable_logging: bool | None = None
    entity_detection: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_entity_detection
    )
    entity_redaction: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_entity_redaction
    )
    entity_redaction_mode: str | None = None
    transcript_edit: str | None = None
    # Speaker diarization: the parameter name is from SDK 2.78 docstrings only (PROTOCOL.md
    # §4.7, Q15), not exposed by the SDK helper and unverified against the live service.
    diarize: bool | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.model_id, str) or not _MODEL_RE.match(self.model_id):
            # Model ids are not checked against a list: the service adds models faster than
            # clients ship (PROTOCOL.md Q13) and answers an unknown one with invalid_request.
            raise _fail(
                "model_id", self.model_id, "expected a model id such as 'scribe_v2_realtime'"
            )
        _check_number(
            "vad_silence_threshold_secs", self.vad_silence_threshold_secs, 0.3, 3.0, integer=False
        )
        _check_number("vad_threshold", self.vad_threshold, 0.1, 0.9, integer=False)
        _check_number("min_speech_duration_ms", self.min_speech_duration_ms, 50, 2000, integer=True)
        _check_number(
            "min_silence_duration_ms", self.min_silence_duration_ms, 50, 2000, integer=True
        )
        if self.language_code is not None:
            if not isinstance(self.language_code, str):
                raise _fail("language_code", self.language_code, "expected a string")
            _check_language("language_code", self.language_code)
        for language in self.secondary_languages or ():
            _check_language("secondary_languages", language)
        for option in (
            "include_language_detection",
            "no_verbatim",
            "filter_background_audio",
            "enable_logging",
            "diarize",
        ):
            _check_bool(option, getattr(self, option))
        _check_bool("include_timestamps", self.include_timestamps, optional=False)
        self._check_keyterms()
        _check_entities("entity_detection", self.entity_detection)
        _check_entities("entity_redaction", self.entity_redaction)
        self._check_redaction_and_edit()

    def _check_keyterms(self) -> None:
        if self.keyterms is None:
            return
        if len(self.keyterms) > MAX_KEYTERMS:
            raise _fail(
                "keyterms",
                f"<{len(self.keyterms)} terms>",
                f"at most {MAX_KEYTERMS} keyterms are allowed",
            )
        for term in self.keyterms:
            if not 0 < len(term) <= MAX_KEYTERM_LENGTH:
                raise _fail(
                    "keyterms",
                    term,
                    f"each keyterm must be 1 to {MAX_KEYTERM_LENGTH} characters "
                    f"(this one is {len(term)})",
                )

    def _check_redaction_and_edit(self) -> None:
        mode = self.entity_redaction_mode
        if mode is not None:
            if mode not in ENTITY_REDACTION_MODES:
                raise _fail(
                    "entity_redaction_mode",
                    mode,
                    f"allowed values are {', '.join(map(repr, ENTITY_REDACTION_MODES))}",
                )
            if self.entity_redaction is None:
                raise _fail("entity_redaction_mode", mode, "only valid with entity_redaction set")
        edit = self.transcript_edit
        if edit is not None:
            if not isinstance(edit, str) or not 0 < len(edit) <= MAX_TRANSCRIPT_EDIT_LENGTH:
                raise _fail(
                    "transcript_edit",
                    edit if not isinstance(edit, str) else f"<{len(edit)} characters>",
                    f"expected an instruction of 1 to {MAX_TRANSCRIPT_EDIT_LENGTH} characters",
                )
            for other in ("entity_detection", "entity_redaction"):
                if getattr(self, other) is not None:
                    raise _fail("transcript_edit", "<set>", f"cannot be combined with {other}")
        if self.filter_background_audio and self.include_timestamps:
            # The live service refuses this pair with invalid_request (PROTOCOL.md §2, CAP-C).
            raise _fail(
                "filter_background_audio",
                True,
                "cannot be combined with include_timestamps=True "
                "(the service does not support it yet)",
            )

    @classmethod
    def from_kwargs(cls, **options: Any) -> SessionOptions:
        """Build options from keyword arguments, refusing unknown names with a suggestion."""
        known = attrs.fields_dict(cls)
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; {_FIELDS_DOC}"
                raise ConfigError(f"unknown session option {name!r}{hint}", option=name)
        return cls(**options)

    @property
    def sample_rate(self) -> int:
        """The sample rate implied by ``audio_format``."""
        return self.audio_format.sample_rate

    @property
    def expects_timestamped_twin(self) -> bool:
        """Whether each commit is also answered with ``committed_transcript_with_timestamps``."""
        return bool(self.include_timestamps or self.include_language_detection)


def query_params(options: SessionOptions, *, token: str | None = None) -> list[tuple[str, str]]:
    """The query parameters, in the order and spelling the official SDK uses.

    Lists are repeated keys and booleans lowercase; ``include_timestamps`` is always present.
    """

    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    params = [
        ("model_id", options.model_id),
        ("audio_format", options.audio_format.value),
        ("commit_strategy", options.commit_strategy.value),
    ]
    for key in (
        "vad_silence_threshold_secs",
        "vad_threshold",
        "min_speech_duration_ms",
        "min_silence_duration_ms",
        "language_code",
        "secondary_languages",
        "include_timestamps",
        "include_language_detection",
        "keyterms",
        "no_verbatim",
        "entity_detection",
        "entity_redaction",
        "entity_redaction_mode",
        "transcript_edit",
        "filter_background_audio",
        "enable_logging",
        "diarize",
    ):
        value = getattr(options, key)
        if isinstance(value, tuple):
            params.extend((key, item) for item in value)
        elif value is not None:
            params.append((key, text(value)))
    if token is not None:
        params.append(("token", token))
    return params


_WS_SCHEMES: Final = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}


def build_url(base_url: str, options: SessionOptions, *, token: str | None = None) -> str:
    """The WebSocket URL for a session: http→ws, https→wss, path ``/v1/speech-to-text/realtime``
    appended to the base path, query percent-encoded with ``%20`` as the SDK does.

    Raises:
        ConfigError: ``base_url`` is not an http, https, ws or wss URL.
    """
    parsed = urllib.parse.urlparse(base_url)
    scheme = _WS_SCHEMES.get(parsed.scheme)
    if scheme is None or not parsed.netloc:
        raise _fail("base_url", base_url, "expected an http://, https://, ws:// or wss:// URL")
    return urllib.parse.urlunparse(
        (
            scheme,
            parsed.netloc,
            parsed.path.rstrip("/") + REALTIME_PATH,
            "",
            urllib.parse.urlencode(
                query_params(options, token=token), quote_via=urllib.parse.quote
            ),
            "",
        )
    )


def auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    """Handshake headers: ``xi-api-key``, or none when a token authenticates the session.

    A token takes priority on the server and the SDK sends no key alongside it (PROTOCOL.md §1);
    not sending the key also keeps it off a connection that does not need it.

    Raises:
        ConfigError: neither credential is given, or the one given is empty.
    """
    if token is not None:
        if not token:
            # An empty token is always a caller bug (often an unset environment variable). The
            # SDK treats it as absent and sends the key, yet still puts "token=" in the URL;
            # refusing it here fails before any traffic instead of with a server auth_error.
            raise ConfigError("token must be a non-empty string", option="token")
        return {}
    if not api_key:
        # None or "": the SDK refuses an empty key too (ValueError; ConfigError is one).
        raise ConfigError(
            "no credentials: pass api_key=, set ELEVENLABS_API_KEY, or pass token=",
            option="api_key",
        )
    return {"xi-api-key": api_key}


