"""Decoding frames into the message classes of :mod:`scribe_sync.messages`.

Raises only :class:`~scribe_sync.errors.RemoteProtocolError`, whatever the input. Each message
is checked once, by the decoder that reads it; instances are then built from the checked values
without running ``__init__`` again (:func:`~scribe_sync._wire.trusted_factory`). Words are the
hot path (one timestamped answer carries dozens), so their loop is written out by hand.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._wire import (
    CONFIG_ALIASES,
    CONFIG_KEYS,
    Payload,
    load_object,
    opt_bool,
    opt_float,
    opt_int,
    opt_str,
    read,
    req_str,
    slot_setters,
    str_list,
    to_float,
    trusted_factory,
)
from .errors import SERVER_ERROR_TYPES, RemoteProtocolError
from .messages import (
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

__all__ = ["DECODERS", "SERVER_EVENT_CLASSES", "decode", "decode_client"]

_new: Final = object.__new__
_WORD_SETTERS: Final = slot_setters(Word)
_set_text: Final = _WORD_SETTERS["text"]
_set_start: Final = _WORD_SETTERS["start"]
_set_end: Final = _WORD_SETTERS["end"]
_set_type: Final = _WORD_SETTERS["type"]
_set_logprob: Final = _WORD_SETTERS["logprob"]
_set_speaker_id: Final = _WORD_SETTERS["speaker_id"]
_set_characters: Final = _WORD_SETTERS["characters"]
_set_channel_index: Final = _WORD_SETTERS["channel_index"]
_character: Final = trusted_factory(Character)
_timestamped: Final = trusted_factory(CommittedTranscriptWithTimestamps)
_partial: Final = trusted_factory(PartialTranscript)
_committed: Final = trusted_factory(CommittedTranscript)

# Bare one-character strings (docs/protocol.md §4.4) decode to shared Character instances: they
# are immutable, and a dict lookup per character is what makes `characters` cheap. Bounded, so
# a hostile server cannot grow it: past the bound, new strings get fresh instances.
_CHARACTERS: dict[str, Character] = {}
_CHARACTERS_MAX: Final = 4096


_known_character: Final = _CHARACTERS.__getitem__


def _character_list(items: list[Any]) -> tuple[Character, ...]:
    """``words[].characters`` with a character that is not cached yet: bare strings or
    ``{text, start, end}`` objects (docs/protocol.md §7, Q6)."""
    out: list[Character] = []
    for item in items:
        if type(item) is str:
            character = _CHARACTERS.get(item)
            if character is None:
                character = _character(item, None, None)
                if len(_CHARACTERS) < _CHARACTERS_MAX and len(item) <= 4:
                    _CHARACTERS[item] = character
            out.append(character)
        elif type(item) is dict:
            out.append(_character(req_str(item, "text"), opt_float(item, "start"),
                                  opt_float(item, "end")))
        else:
            raise RemoteProtocolError("words[].characters must hold strings or objects")
    return tuple(out)


def _bad_word(key: str, value: Any) -> RemoteProtocolError:
    if value is None:
        return RemoteProtocolError(f"words[]: missing field {key!r}")
    return RemoteProtocolError(f"words[]: field {key!r} has the wrong type "
                               f"({type(value).__name__})")


def _out_of_range(key: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"words[]: field {key!r} is out of range")


def _decode_words(items: Any) -> tuple[Word, ...]:
    """``words[]``: every field checked once, then each Word built without ``__init__``."""
    if type(items) is not list:
        raise RemoteProtocolError(f"'words' should be list, got {type(items).__name__}")
    out: list[Word] = []
    append = out.append
    for item in items:
        if type(item) is not dict:
            raise RemoteProtocolError("'words' must hold objects")
        try:
            # Subscripts (specialised by the interpreter) for the four keys every item has on
            # the wire; the few items without one of them take the gets below.
            text = item["text"]
            start = item["start"]
            end = item["end"]
            kind = item["type"]
        except KeyError:
            get = item.get
            text, start, end, kind = get("text"), get("start"), get("end"), get("type")
        logprob = item.get("logprob")
        characters: Any = item.get("characters")
        # Rare keys (diarization, multichannel): a membership test is cheaper than a get.
        speaker_id = item["speaker_id"] if "speaker_id" in item else None  # noqa: SIM401
        channel_index = item["channel_index"] if "channel_index" in item else None  # noqa: SIM401
        if type(text) is not str:
            raise _bad_word("text", text)
        # A float must be finite (the loader parses 1e400 as infinite; inf - inf is NaN, which
        # is true); ints are widened to float as the plain reader does. The common case, a
        # finite float, costs two tests.
        if type(start) is float:
            if start - start:
                raise _out_of_range("start")
        elif start is not None:
            if type(start) is not int:
                raise _bad_word("start", start)
            start = to_float(start, "start")
        if type(end) is float:
            if end - end:
                raise _out_of_range("end")
        elif end is not None:
            if type(end) is not int:
                raise _bad_word("end", end)
            end = to_float(end, "end")
        if type(logprob) is float:
            if logprob - logprob:
                raise _out_of_range("logprob")
        elif logprob is not None:
            if type(logprob) is not int:
                raise _bad_word("logprob", logprob)
            logprob = to_float(logprob, "logprob")
        # The type is always on the wire; "word" is the only sensible reading if not. Only an
        # absent or null type defaults (an explicit "" is kept: decode(encode(w)) == w).
        if type(kind) is not str:
            if kind is not None:
                raise _bad_word("type", kind)
            kind = "word"
        if speaker_id is not None and type(speaker_id) is not str:
            raise _bad_word("speaker_id", speaker_id)
        if characters is not None:
            if type(characters) is not list:
                raise _bad_word("characters", characters)
            try:
                # Each a cached bare character, mapped in C. Anything else raises (a miss, a
                # dict, which is unhashable, a list) and takes the checked path. The keys are
                # all str and no other JSON value equals a str, so a hit is always a str.
                characters = tuple(map(_known_character, characters))
            except (KeyError, TypeError):
                characters = _character_list(characters)
        if channel_index is not None and type(channel_index) is not int:
            raise _bad_word("channel_index", channel_index)
        # Word(...) without __init__: every value was checked above (slot_setters).
        word = _new(Word)
        _set_text(word, text)
        _set_start(word, start)
        _set_end(word, end)
        _set_type(word, kind)
        _set_logprob(word, logprob)
        _set_speaker_id(word, speaker_id)
        _set_characters(word, characters)
        _set_channel_index(word, channel_index)
        append(word)
    return tuple(out)


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
        commit_strategy = _commit_strategy(req_str(config, "commit_strategy"))

    enable_logging = opt_bool(config, "enable_logging")
    disable_logging = opt_bool(config, "disable_logging")
    if disable_logging is not None:
        enable_logging = not disable_logging

    known = set(CONFIG_KEYS) | CONFIG_ALIASES
    # Once per session: the plain, converting constructor is fine here.
    return SessionConfig(
        sample_rate=opt_int(config, "sample_rate"),
        audio_format=opt_str(config, "audio_format"),
        language_code=opt_str(config, "language_code"),
        secondary_languages=str_list(config, "secondary_languages", optional=True) or (),
        timestamps_granularity=opt_str(config, "timestamps_granularity"),
        commit_strategy=commit_strategy,
        vad_silence_threshold_secs=opt_float(config, "vad_silence_threshold_secs"),
        vad_threshold=opt_float(config, "vad_threshold"),
        min_speech_duration_ms=opt_int(config, "min_speech_duration_ms"),
        min_silence_duration_ms=opt_int(config, "min_silence_duration_ms"),
        max_tokens_to_recompute=opt_int(config, "max_tokens_to_recompute"),
        model_id=opt_str(config, "model_id"),
        enable_logging=enable_logging,
        include_timestamps=opt_bool(config, "include_timestamps"),
        include_language_detection=opt_bool(config, "include_language_detection"),
        filter_background_audio=opt_bool(config, "filter_background_audio"),
        keyterms=str_list(config, "keyterms", optional=True) or (),
        no_verbatim=opt_bool(config, "no_verbatim"),
        entity_detection=str_list(config, "entity_detection", optional=True),
        extra={key: value for key, value in config.items() if key not in known},
    )


def _decode_session_started(obj: Payload) -> SessionStarted:
    config = read(obj, "config", "dict", optional=True)
    return SessionStarted(req_str(obj, "session_id"), _decode_config(config or {}))


def _decode_timestamps(obj: Payload) -> CommittedTranscriptWithTimestamps:
    text = obj.get("text")
    if type(text) is not str:
        text = req_str(obj, "text")  # raises, naming the field
    language_code = obj.get("language_code")
    if language_code is not None and type(language_code) is not str:
        language_code = opt_str(obj, "language_code")  # raises, naming the field
    words = obj.get("words")
    return _timestamped(text, language_code, None if words is None else _decode_words(words))


def _decode_entities(obj: Payload) -> CommittedTranscriptEntities:
    items = read(obj, "entities", "list", optional=True) or []
    if not all(type(item) is dict for item in items):
        raise RemoteProtocolError(f"{obj['message_type']}: 'entities' must hold objects")
    entities = tuple(
        Entity(
            text=req_str(item, "text"),
            entity_type=req_str(item, "entity_type"),
            start_char=read(item, "start_char", "int", optional=False),
            end_char=read(item, "end_char", "int", optional=False),
        )
        for item in items
    )
    return CommittedTranscriptEntities(req_str(obj, "text"), entities)


def _decode_diarized(obj: Payload) -> DiarizedTranscript:
    words = obj.get("words")
    return DiarizedTranscript(
        segment_index=read(obj, "segment_index", "int", optional=False),
        text=req_str(obj, "text"),
        words=() if words is None else _decode_words(words),
    )


def _decode_error(obj: Payload) -> ErrorEvent:
    # docs/protocol.md §7, Q10: live payloads use "error"; some fixtures and LiveKit read
    # "message".
    message = opt_str(obj, "error")
    if message is None:
        message = opt_str(obj, "message")
    return ErrorEvent(error_type=obj["message_type"], message=message or "")


#: The literal decode table: wire message_type -> decoder. The legacy ``final_transcript*``
#: names (renamed before 2025-11-11, docs/protocol.md §4.9) decode to the committed classes.
DECODERS: Final[dict[str, Callable[[Payload], ServerEvent]]] = {
    "session_started": _decode_session_started,
    "partial_transcript": lambda obj: _partial(req_str(obj, "text")),
    "committed_transcript": lambda obj: _committed(req_str(obj, "text")),
    "final_transcript": lambda obj: _committed(req_str(obj, "text")),
    "committed_transcript_with_timestamps": _decode_timestamps,
    "final_transcript_with_timestamps": _decode_timestamps,
    "committed_transcript_entities": _decode_entities,
    "redacted_transcript": lambda obj: RedactedTranscript(
        req_str(obj, "text"), req_str(obj, "redacted_text")
    ),
    "edited_transcript": lambda obj: EditedTranscript(
        req_str(obj, "text"), req_str(obj, "edited_text")
    ),
    "diarized_transcript": _decode_diarized,
    "speakers_merged": lambda obj: SpeakersMerged(
        req_str(obj, "from_speaker_id"), req_str(obj, "to_speaker_id")
    ),
    "warning": lambda obj: ServerWarning(req_str(obj, "warning")),
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


def decode(data: str | bytes) -> ServerEvent:
    """Decode one server frame into a typed event.

    Extra fields are ignored, whatever they hold; an unknown ``message_type`` gives
    :class:`UnknownEvent`. Every number decoded is finite: NaN and Infinity are refused
    anywhere, and an overflowing literal (``1e400``) wherever it is kept.

    Raises:
        RemoteProtocolError: for anything malformed, and nothing else.
    """
    obj = load_object(data)
    decoder = DECODERS.get(obj["message_type"])
    if decoder is None or decoder is _decode_session_started:
        # These keep JSON values unread (the payload; the config's extra keys), which encode()
        # must be able to write back: parse again, refusing any number out of range.
        obj = load_object(data, strict=True)
        if decoder is None:
            return UnknownEvent(obj["message_type"], obj)
    try:
        return decoder(obj)
    except RemoteProtocolError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # pragma: no cover
        # Belt and braces: the field readers should have caught every shape problem.
        raise RemoteProtocolError(f"{obj['message_type']}: {exc}") from None


def decode_client(data: str | bytes) -> InputAudioChunk:
    """Decode one client frame (the mock server's side of the codec).

    ``commit`` defaults to false and ``sample_rate`` to ``None`` when absent, as several
    integrators omit them (docs/protocol.md §7, Q18). ``previous_text: null`` is accepted.

    Raises:
        RemoteProtocolError: malformed frame, wrong ``message_type``, or invalid base64.
    """
    obj = load_object(data)
    if obj["message_type"] != InputAudioChunk.message_type:
        raise RemoteProtocolError(f"Unexpected message type: {obj['message_type']}")
    audio = req_str(obj, "audio_base_64")
    try:
        raw = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise RemoteProtocolError("audio_base_64 is not valid base64") from None
    return InputAudioChunk(
        audio=raw,
        commit=bool(opt_bool(obj, "commit")),
        sample_rate=opt_int(obj, "sample_rate"),
        previous_text=opt_str(obj, "previous_text"),
    )
