"""Properties of the sans-I/O core: codec round trips, decode robustness, option validation."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scribe_sync import protocol
from scribe_sync.errors import ConfigError, RemoteProtocolError
from scribe_sync.messages import (
    AudioFormat,
    CommitStrategy,
    CommittedTranscriptWithTimestamps,
    InputAudioChunk,
    ServerEvent,
    ServerWarning,
    Word,
)
from scribe_sync.protocol import SessionOptions
from tests import strategies as sst

GOLDEN = Path(__file__).parent / "golden"

# =============================================================================================
# Round trips


@pytest.mark.parametrize("cls", list(sst.SERVER_EVENT_STRATEGIES), ids=lambda c: c.__name__)
@given(data=st.data())
def test_server_event_round_trips(cls: type[ServerEvent], data: st.DataObject) -> None:
    """decode(encode(m)) == m for every server message class."""
    message = data.draw(sst.SERVER_EVENT_STRATEGIES[cls])
    decoded = protocol.decode(protocol.encode(message))
    assert type(decoded) is cls
    assert decoded == message


@given(sst.audio_chunks)
def test_client_chunk_round_trips(chunk: InputAudioChunk) -> None:
    """decode_client(encode(chunk)) == chunk."""
    assert protocol.decode_client(protocol.encode(chunk)) == chunk


@given(sst.server_events | sst.audio_chunks)
def test_encoding_is_strict_json_object(message: Any) -> None:
    """encode() gives one single-line JSON object, valid to a strict parser, with message_type."""
    text = protocol.encode(message)

    def refuse(name: str) -> None:
        raise AssertionError(f"non-JSON constant {name}")

    obj = json.loads(text, parse_constant=refuse)
    assert isinstance(obj, dict)
    assert obj["message_type"] == message.message_type
    assert "\n" not in text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_encode_refuses_non_finite_floats(value: float) -> None:
    """A NaN or infinite float is refused by encode() rather than written as invalid JSON."""
    message = CommittedTranscriptWithTimestamps("a", None, (Word("a", start=value),))
    with pytest.raises(ValueError, match="JSON"):
        protocol.encode(message)


def test_encode_refuses_non_messages() -> None:
    """encode() of something that is not a protocol message is a TypeError naming the type."""
    with pytest.raises(TypeError, match="dict"):
        protocol.encode({"message_type": "partial_transcript", "text": "x"})


# =============================================================================================
# Decoding never raises anything but RemoteProtocolError


def decode_is_total(data: str | bytes) -> ServerEvent | None:
    """Decode ``data``; return the event, or None if it raised RemoteProtocolError."""
    try:
        event = protocol.decode(data)
    except RemoteProtocolError:
        return None
    assert isinstance(event, ServerEvent)
    return event


def decode_client_is_total(data: str | bytes) -> InputAudioChunk | None:
    try:
        chunk = protocol.decode_client(data)
    except RemoteProtocolError:
        return None
    assert isinstance(chunk, InputAudioChunk)
    return chunk


@given(st.text())
@example("")
@example("null")
@example("\ufeff{}")
@example('{"message_type": "\\ud800"}')
def test_arbitrary_text_gives_only_remote_protocol_error(text: str) -> None:
    """Any text frame decodes or raises RemoteProtocolError, on both sides of the codec."""
    decode_is_total(text)
    decode_client_is_total(text)


@given(st.binary())
@example(b"\xff\xfe")
@example(b'{"message_type": "warning", "warning": "\xc3"}')
def test_arbitrary_bytes_give_only_remote_protocol_error(data: bytes) -> None:
    """Any binary frame decodes or raises RemoteProtocolError, on both sides of the codec."""
    decode_is_total(data)
    decode_client_is_total(data)


# Values that stress the decoder: every JSON type, huge ints, floats at the edges.
HOSTILE_SCALARS = st.sampled_from(
    [10**400, -(10**400), 10**4000, 2**63, 1e308, -1e308, 5e-324, -0.0, True, False, None, ""]
)
hostile_json = st.recursive(
    st.none() | st.booleans() | st.integers() | sst.finite | st.text() | HOSTILE_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
known_types = st.sampled_from(sorted(sst.KNOWN_TYPES))


@given(hostile_json)
def test_arbitrary_json_values_give_only_remote_protocol_error(value: Any) -> None:
    """Any JSON value (not only objects) decodes or raises RemoteProtocolError."""
    text = json.dumps(value)
    decode_is_total(text)
    decode_client_is_total(text)


@given(known_types, st.dictionaries(st.text(max_size=20), hostile_json, max_size=6))
def test_known_type_with_arbitrary_fields_gives_only_remote_protocol_error(
    message_type: str, fields: dict[str, Any]
) -> None:
    """A known message_type with arbitrary fields decodes or raises RemoteProtocolError."""
    text = json.dumps({**fields, "message_type": message_type})
    decode_is_total(text)
    decode_client_is_total(text)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a node below the root of a JSON value."""
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return copy


@given(st.data())
def test_any_field_of_a_valid_message_replaced_gives_only_remote_protocol_error(
    data: st.DataObject,
) -> None:
    """Replacing any node of a valid message by any JSON value never raises another error."""
    message = data.draw(sst.server_events)
    obj = json.loads(protocol.encode(message))
    candidates = list(paths(obj))
    if not candidates:
        return
    path = data.draw(st.sampled_from(candidates))
    decode_is_total(json.dumps(replaced(obj, path, data.draw(hostile_json))))


def wrong_values(value: Any) -> list[Any]:
    """JSON values of a type the field cannot have (ints stand in for floats on the wire)."""
    if isinstance(value, bool):
        return [0, "true", [], {}]
    if isinstance(value, int):
        return ["1", 1.5, True, [], {}]
    if isinstance(value, float):
        return ["1.0", True, [], {}]
    if isinstance(value, str):
        return [0, 1.5, True, [], {}]
    if isinstance(value, list):
        return ["x", 1, {}]
    if isinstance(value, dict):
        return ["x", 1, []]
    return []


# Nodes whose type is deliberately open: payloads of unknown types, config keys this version
# does not know, the two spellings of vad_commit_strategy (bool live, enum string in the
# AsyncAPI file), and characters items (one-char strings or {text,start,end} objects, Q6).
def type_is_open(name: str, path: tuple[Any, ...], new: Any) -> bool:
    if name == "unknown_type.json":
        return True
    if path[:2] == ("config", "diarize"):
        return True
    if path == ("config", "vad_commit_strategy") and isinstance(new, str):
        return True
    return len(path) == 4 and path[2] == "characters" and isinstance(new, (str, dict))


def wrong_type_cases() -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    for file in sorted(GOLDEN.glob("*.json")):
        if file.name.startswith("client_"):
            continue
        obj = json.loads(file.read_text(encoding="utf-8"))
        for path in paths(obj):
            node: Any = obj
            for key in path:
                node = node[key]
            for new in wrong_values(node):
                if not type_is_open(file.name, path, new):
                    yield file.name, path, new


@pytest.mark.parametrize(("name", "path", "new"), list(wrong_type_cases()))
def test_wrong_field_type_in_golden_message_is_remote_protocol_error(
    name: str, path: tuple[Any, ...], new: Any
) -> None:
    """Every field of every known message, given a value of the wrong JSON type, is refused."""
    obj = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    with pytest.raises(RemoteProtocolError):
        protocol.decode(json.dumps(replaced(obj, path, new)))


REQUIRED = {
    "session_started": ["session_id"],
    "partial_transcript": ["text"],
    "committed_transcript": ["text"],
    "final_transcript": ["text"],
    "committed_transcript_with_timestamps": ["text"],
    "final_transcript_with_timestamps": ["text"],
    "committed_transcript_entities": ["text"],
    "redacted_transcript": ["text", "redacted_text"],
    "edited_transcript": ["text", "edited_text"],
    "diarized_transcript": ["segment_index", "text"],
    "speakers_merged": ["from_speaker_id", "to_speaker_id"],
    "warning": ["warning"],
}


@pytest.mark.parametrize(
    ("message_type", "field"), [(t, f) for t, fields in REQUIRED.items() for f in fields]
)
@pytest.mark.parametrize("absent", ["missing", "null"])
def test_missing_required_field_is_remote_protocol_error(
    message_type: str, field: str, absent: str
) -> None:
    """A required field that is absent or null is refused, naming the field."""
    obj = {f: ("x" if f != "segment_index" else 0) for f in REQUIRED[message_type]}
    obj["message_type"] = message_type
    if absent == "missing":
        del obj[field]
    else:
        obj[field] = None
    with pytest.raises(RemoteProtocolError, match=field):
        protocol.decode(json.dumps(obj))


NESTED = 100_000


@pytest.mark.parametrize(
    "text",
    [
        "[" * NESTED,
        "[" * NESTED + "]" * NESTED,
        '{"message_type": "warning", "warning": ' + "[" * NESTED + "]" * NESTED + "}",
        '{"message_type": "x", "a": ' + '{"a": ' * NESTED + "1" + "}" * NESTED + "}",
        '{"message_type": "partial_transcript", "text": NaN}',
        '{"message_type": "partial_transcript", "text": "x", "n": Infinity}',
        '{"message_type": "x", "n": -Infinity}',
        '{"message_type": "x", "n": 1e400}',
        '{"message_type": "committed_transcript_with_timestamps", "text": "",'
        ' "words": [{"text": "a", "start": 1e400}]}',
        '{"message_type": "committed_transcript_with_timestamps", "text": "",'
        ' "words": [{"text": "a", "end": -1e400}]}',
        '{"message_type": "committed_transcript_with_timestamps", "text": "",'
        ' "words": [{"text": "a", "logprob": -1E+999}]}',
        '{"message_type": "committed_transcript_with_timestamps", "text": "",'
        ' "words": [{"text": "a", "characters": [{"text": "a", "start": 1e400}]}]}',
        '{"message_type": "session_started", "session_id": "s",'
        ' "config": {"vad_threshold": 1e400}}',
        '{"message_type": "session_started", "session_id": "s",'
        ' "config": {"some_new_key": [1e400]}}',
        '{"message_type": "x", "n": ' + "9" * 5000 + "}",
        '{"message_type": "committed_transcript_with_timestamps", "text": "",'
        ' "words": [{"text": "a", "start": ' + "9" * 400 + "}]}",
        '{"message_type": "session_started", "session_id": "s",'
        ' "config": {"vad_threshold": ' + "9" * 400 + "}}",
        '{"message_type": "diarized_transcript", "segment_index": 1e400, "text": ""}',
        '{"message_type": "input_audio_chunk", "audio_base_64": "", "commit": true,'
        ' "sample_rate": 1e400}',
    ],
    ids=lambda t: t[:60],
)
def test_hostile_frames_are_remote_protocol_errors(text: str) -> None:
    """Deep nesting, NaN/Infinity, overflowing numbers and huge ints in float fields are refused."""
    with pytest.raises(RemoteProtocolError):
        protocol.decode(text)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "9" * 400 + ".0"])
def test_an_overflowing_number_under_an_ignored_key_is_ignored(number: str) -> None:
    """Extra fields are ignored whatever they hold; only a kept value must be finite."""
    frame = '{"message_type": "warning", "warning": "x", "n": NUMBER}'.replace("NUMBER", number)
    assert protocol.decode(frame) == ServerWarning("x")
    with pytest.raises(RemoteProtocolError, match="out of range"):
        protocol.decode(frame.replace('"warning"', '"some_new_type"', 1))


def test_huge_int_in_int_field_is_kept_exactly() -> None:
    """Arbitrary-precision ints in int fields decode exactly (nothing overflows)."""
    event = protocol.decode(
        json.dumps({"message_type": "diarized_transcript", "segment_index": 10**400, "text": ""})
    )
    assert event.segment_index == 10**400  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "obj",
    [
        {"message_type": "partial_transcript", "audio_base_64": ""},
        {"message_type": "input_audio_chunk"},
        {"message_type": "input_audio_chunk", "audio_base_64": "not base64!"},
        {"message_type": "input_audio_chunk", "audio_base_64": "AAA"},
        {"message_type": "input_audio_chunk", "audio_base_64": "é"},
        {"message_type": "input_audio_chunk", "audio_base_64": "", "commit": "true"},
        {"message_type": "input_audio_chunk", "audio_base_64": "", "sample_rate": 16000.0},
        {"message_type": "input_audio_chunk", "audio_base_64": "", "previous_text": 1},
        {"input_audio_chunk": {"audio_base_64": ""}},
        {"audio": "AAAA"},
    ],
)
def test_malformed_client_frames_are_remote_protocol_errors(obj: dict[str, Any]) -> None:
    """Client frames that the live server answers with input_error are refused by decode_client."""
    with pytest.raises(RemoteProtocolError):
        protocol.decode_client(json.dumps(obj))


def test_decode_client_names_an_unexpected_message_type() -> None:
    """decode_client's error for another message_type uses the live service's wording."""
    with pytest.raises(RemoteProtocolError, match="Unexpected message type: commit"):
        protocol.decode_client('{"message_type": "commit"}')


def test_decode_client_defaults_for_omitted_commit_and_sample_rate() -> None:
    """A chunk omitting commit and sample_rate (as some integrators send) is a non-commit."""
    chunk = protocol.decode_client('{"message_type": "input_audio_chunk", "audio_base_64": "AA=="}')
    assert chunk == InputAudioChunk(b"\x00", commit=False, sample_rate=None)


# =============================================================================================
# Session options: bounds, enums, combinations


BOUNDS = [
    ("vad_silence_threshold_secs", 0.3, 3.0, False),
    ("vad_threshold", 0.1, 0.9, False),
    ("min_speech_duration_ms", 50, 2000, True),
    ("min_silence_duration_ms", 50, 2000, True),
]


def config_error(**kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        SessionOptions(**kwargs)
    return info.value


@pytest.mark.parametrize(("option", "low", "high", "integer"), BOUNDS)
def test_numeric_option_accepts_its_inclusive_bounds(
    option: str, low: float, high: float, integer: bool
) -> None:
    """Both ends of every documented range are accepted and kept."""
    for value in (low, high):
        assert getattr(SessionOptions(**{option: value}), option) == value


@pytest.mark.parametrize(("option", "low", "high", "integer"), BOUNDS)
def test_numeric_option_refuses_just_beyond_bounds(
    option: str, low: float, high: float, integer: bool
) -> None:
    """The values just beyond each bound are refused, naming option, value and range."""
    if integer:
        beyond = [int(low) - 1, int(high) + 1]
    else:
        beyond = [math.nextafter(low, -math.inf), math.nextafter(high, math.inf)]
    for value in beyond:
        error = config_error(**{option: value})
        assert error.option == option
        assert option in str(error)
        assert repr(value) in str(error)
        assert f"{low} to {high}" in str(error)


@pytest.mark.parametrize(("option", "low", "high", "integer"), BOUNDS)
@given(value=st.floats(allow_nan=True) | st.integers() | st.sampled_from([10**400, -(10**400)]))
def test_numeric_option_in_range_iff_accepted(
    option: str, low: float, high: float, integer: bool, value: float
) -> None:
    """Any number is accepted exactly when it is in range (and an int for ms options)."""
    valid = (isinstance(value, int) or not integer) and low <= value <= high
    if valid:
        assert getattr(SessionOptions(**{option: value}), option) == value
    else:
        error = config_error(**{option: value})
        assert error.option == option


@pytest.mark.parametrize(("option", "low", "high", "integer"), BOUNDS)
@pytest.mark.parametrize("value", ["0.5", True, [1], math.nan, math.inf])
def test_numeric_option_refuses_non_numbers(
    option: str, low: float, high: float, integer: bool, value: Any
) -> None:
    """Strings, bools, lists and non-finite floats are refused with a ConfigError."""
    assert config_error(**{option: value}).option == option


def test_ms_options_refuse_floats() -> None:
    """The millisecond options are integers on the wire; 100.0 is refused."""
    error = config_error(min_speech_duration_ms=100.0)
    assert "integer" in str(error)


def test_keyterms_at_the_limits_are_accepted() -> None:
    """50 keyterms of 20 characters each are accepted and kept in order."""
    terms = [f"{i:02d}" + "k" * 18 for i in range(50)]
    assert SessionOptions(keyterms=terms).keyterms == tuple(terms)


def test_too_many_keyterms_are_refused() -> None:
    """51 keyterms are refused; the message names keyterms, the count and the limit."""
    error = config_error(keyterms=["k"] * 51)
    assert error.option == "keyterms"
    assert "51" in str(error)
    assert "50" in str(error)


@pytest.mark.parametrize("term", ["k" * 21, ""])
def test_keyterm_length_out_of_range_is_refused(term: str) -> None:
    """A keyterm of 21 characters (or none) is refused, naming the term and the limit."""
    error = config_error(keyterms=["ok", term])
    assert error.option == "keyterms"
    assert repr(term) in str(error)
    assert "20" in str(error)
    assert f"is {len(term)}" in str(error)


def test_transcript_edit_at_the_limit_is_accepted() -> None:
    """A 2000-character transcript_edit instruction is accepted."""
    assert SessionOptions(transcript_edit="e" * 2000).transcript_edit == "e" * 2000


@pytest.mark.parametrize("length", [0, 2001])
def test_transcript_edit_out_of_range_is_refused(length: int) -> None:
    """An empty or 2001-character transcript_edit is refused, naming length and limit."""
    error = config_error(transcript_edit="e" * length)
    assert error.option == "transcript_edit"
    assert f"<{length} characters>" in str(error)
    assert "2000" in str(error)


@pytest.mark.parametrize("audio_format", list(AudioFormat) + [f.value for f in AudioFormat])
def test_every_audio_format_is_accepted(audio_format: Any) -> None:
    """Every documented audio_format, as enum or string, is accepted and normalised."""
    assert SessionOptions(audio_format=audio_format).audio_format == AudioFormat(audio_format)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("audio_format", "pcm_11025"),
        ("audio_format", "PCM_16000"),
        ("audio_format", ["pcm_16000"]),
        ("commit_strategy", "turn_prediction"),
        ("commit_strategy", CommitStrategy.TURN_PREDICTION),
        ("commit_strategy", "auto"),
        ("entity_redaction_mode", "masked"),
    ],
)
def test_enum_option_refuses_unknown_values(option: str, value: Any) -> None:
    """An enum option refuses other values, listing the allowed ones."""
    kwargs: dict[str, Any] = {option: value}
    if option == "entity_redaction_mode":
        kwargs["entity_redaction"] = ["pii"]
    error = config_error(**kwargs)
    assert error.option == option
    assert repr(value) in str(error)
    assert "allowed values are" in str(error)


@pytest.mark.parametrize("mode", protocol.ENTITY_REDACTION_MODES)
def test_every_redaction_mode_is_accepted_with_redaction(mode: str) -> None:
    """Each documented entity_redaction_mode is accepted alongside entity_redaction."""
    assert SessionOptions(entity_redaction=["pii"], entity_redaction_mode=mode)


@pytest.mark.parametrize("strategy", ["manual", "vad", CommitStrategy.VAD])
def test_documented_commit_strategies_are_accepted(strategy: Any) -> None:
    """manual and vad, as strings or enum members, are accepted and normalised."""
    assert SessionOptions(commit_strategy=strategy).commit_strategy == CommitStrategy(strategy)


@pytest.mark.parametrize(
    ("kwargs", "option", "other"),
    [
        (
            {"filter_background_audio": True, "include_timestamps": True},
            "filter_background_audio",
            "include_timestamps",
        ),
        (
            {"transcript_edit": "Fix names", "entity_detection": ["pii"]},
            "transcript_edit",
            "entity_detection",
        ),
        (
            {"transcript_edit": "Fix names", "entity_redaction": ["pii"]},
            "transcript_edit",
            "entity_redaction",
        ),
        ({"entity_redaction_mode": "redacted"}, "entity_redaction_mode", "entity_redaction"),
    ],
)
def test_incompatible_combinations_are_refused(
    kwargs: dict[str, Any], option: str, other: str
) -> None:
    """Each documented incompatible combination is refused, naming both options."""
    error = config_error(**kwargs)
    assert error.option == option
    assert option in str(error)
    assert other in str(error)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter_background_audio": True, "include_timestamps": False},
        {"filter_background_audio": False, "include_timestamps": True},
        {"filter_background_audio": True, "include_language_detection": True},
        {"entity_detection": ["pii"], "entity_redaction": ["pci"]},
        {"transcript_edit": "Fix names"},
    ],
)
def test_compatible_neighbours_of_incompatible_combinations_are_accepted(
    kwargs: dict[str, Any],
) -> None:
    """The combinations next to the forbidden ones stay allowed."""
    options = SessionOptions(**kwargs)
    for key, value in kwargs.items():
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(options, key) == expected


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("model_id", ""),
        ("model_id", "scribe v2"),
        ("model_id", None),
        ("language_code", "en-US"),
        ("language_code", "EN"),
        ("language_code", 1),
        ("secondary_languages", ["en", "english"]),
        ("secondary_languages", [1]),
        ("keyterms", [1]),
        ("keyterms", 5),
        ("entity_detection", []),
        ("entity_detection", ["PII"]),
        ("entity_redaction", ["email address"]),
        ("include_timestamps", None),
        ("include_timestamps", "true"),
        ("no_verbatim", 1),
        ("enable_logging", "false"),
        ("transcript_edit", 5),
    ],
)
def test_malformed_option_values_are_config_errors(option: str, value: Any) -> None:
    """Wrongly typed or shaped values are ConfigErrors (also ValueErrors) naming the option."""
    error = config_error(**{option: value})
    assert isinstance(error, ValueError)
    assert error.option == option
    assert option in str(error)


@given(sst.session_options())
def test_drawn_options_are_valid_and_evolve_to_themselves(options: SessionOptions) -> None:
    """Every drawn combination validates, and re-validation through evolve() is idempotent."""
    assert attrs.evolve(options) == options
    assert options.sample_rate == options.audio_format.sample_rate


def test_single_string_list_options_become_one_element_tuples() -> None:
    """A bare string for a list option is one item, not a list of its characters."""
    options = SessionOptions(keyterms="Scribe", entity_detection="pii", secondary_languages="de")
    assert options.keyterms == ("Scribe",)
    assert options.entity_detection == ("pii",)
    assert options.secondary_languages == ("de",)


def test_from_kwargs_suggests_the_closest_option_name() -> None:
    """A misspelt option is refused with a suggestion of the right name."""
    with pytest.raises(ConfigError, match=r"'vad_treshold'.*did you mean 'vad_threshold'") as info:
        SessionOptions.from_kwargs(vad_treshold=0.5)
    assert info.value.option == "vad_treshold"


def test_from_kwargs_without_a_close_match_points_at_the_class() -> None:
    """An unrelated unknown name is refused without a bogus suggestion."""
    with pytest.raises(ConfigError, match="unknown session option 'qqqq'; see SessionOptions"):
        SessionOptions.from_kwargs(qqqq=1)


@given(sst.session_options())
def test_from_kwargs_with_known_names_equals_constructor(options: SessionOptions) -> None:
    """from_kwargs() with every field name builds the same options as the constructor."""
    assert SessionOptions.from_kwargs(**attrs.asdict(options, recurse=False)) == options


def test_from_kwargs_still_validates_values() -> None:
    """Known names with bad values still raise the value's ConfigError."""
    with pytest.raises(ConfigError, match="vad_threshold"):
        SessionOptions.from_kwargs(vad_threshold=2)


def test_word_without_type_reads_as_word() -> None:
    """A words[] item with no (or a null) type is a word; an explicit type is kept verbatim."""
    frame = {
        "message_type": "committed_transcript_with_timestamps",
        "text": "a",
        "words": [{"text": "a"}, {"text": "b", "type": None}, {"text": "c", "type": ""}],
    }
    event = protocol.decode(json.dumps(frame))
    assert [w.type for w in event.words] == ["word", "word", ""]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("audio_format", "rate", "width"),
    [
        (AudioFormat.PCM_8000, 8000, 2),
        (AudioFormat.PCM_16000, 16000, 2),
        (AudioFormat.PCM_22050, 22050, 2),
        (AudioFormat.PCM_24000, 24000, 2),
        (AudioFormat.PCM_44100, 44100, 2),
        (AudioFormat.PCM_48000, 48000, 2),
        (AudioFormat.ULAW_8000, 8000, 1),
    ],
)
def test_audio_format_rate_and_sample_width(
    audio_format: AudioFormat, rate: int, width: int
) -> None:
    """Each format knows its sample rate and bytes per sample (16-bit PCM, 8-bit mu-law)."""
    assert audio_format.sample_rate == rate
    assert audio_format.bytes_per_sample == width
    assert audio_format.is_ulaw is (width == 1)
    assert audio_format.duration(rate * width) == 1.0
    assert str(audio_format) == audio_format.value
