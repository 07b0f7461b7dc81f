"""The fast decoder agrees with a straightforward reference decoder on any input.

``protocol.decode`` checks each message once and builds instances without ``__init__``; the
reference (``tests/reference_decoder.py``) reads every field through one generic checker and
uses the public constructors. On any input both give the same event (same class, same field
values and field types: ``repr`` tells ``1`` from ``1.0``), or both raise RemoteProtocolError.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scribe_sync import protocol
from scribe_sync.errors import RemoteProtocolError
from scribe_sync.messages import Character, Word
from tests import strategies as sst
from tests.reference_decoder import reference_decode

# Every JSON type, with the values a decoder gets wrong: huge ints (beyond the double range and
# beyond int parsing), edge floats, bools where numbers go, empty strings and containers.
EDGE_SCALARS = st.sampled_from(
    [10**400, -(10**400), 2**63, 1e308, -1e308, 5e-324, -0.0, 0, 1, True, False, None, "", "x"]
)
json_ish = st.recursive(
    st.none() | st.booleans() | st.integers() | sst.finite | st.text(max_size=3) | EDGE_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["text", "start", "end", "type", "logprob", "speaker_id",
                             "characters", "channel_index", "words", "x"]) | st.text(max_size=4),
            children, max_size=5,
        )
    ),
    max_leaves=12,
)
# Number spellings that only text can carry: overflowing, non-finite, huge.
RAW_NUMBERS = ["1e400", "-1e400", "1E+999", "9" * 400 + ".0", "NaN", "Infinity", "-Infinity",
               "9" * 5000, "1e-400", "0.5", "7"]


def same(data: str | bytes) -> None:
    """Assert both decoders give the same event, or both raise RemoteProtocolError."""
    try:
        expected = reference_decode(data)
    except RemoteProtocolError:
        with pytest.raises(RemoteProtocolError):
            protocol.decode(data)
        return
    actual = protocol.decode(data)
    assert type(actual) is type(expected)
    assert actual == expected
    assert repr(actual) == repr(expected)


def nodes(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path below the root of a JSON value."""
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, child in items:
        yield (*prefix, key)
        yield from nodes(child, (*prefix, key))


def edited(value: Any, path: tuple[Any, ...], new: Any, *, delete: bool) -> Any:
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = new
    return copy


@given(sst.server_events)
def test_valid_messages_decode_the_same(message: Any) -> None:
    """Every valid server message decodes to the same event with both decoders."""
    same(protocol.encode(message))


@given(st.data())
def test_any_node_replaced_or_deleted_decodes_the_same(data: st.DataObject) -> None:
    """A valid message with any node replaced by any JSON value, or deleted, decodes the same."""
    obj = json.loads(protocol.encode(data.draw(sst.server_events)))
    candidates = [path for path in nodes(obj) if path != ("message_type",)]
    if not candidates:
        return
    path = data.draw(st.sampled_from(candidates))
    delete = data.draw(st.booleans())
    same(json.dumps(edited(obj, path, data.draw(json_ish), delete=delete)))


@given(st.sampled_from(sorted(sst.KNOWN_TYPES)),
       st.dictionaries(st.text(max_size=12), json_ish, max_size=6))
def test_known_type_with_arbitrary_fields_decodes_the_same(
    message_type: str, fields: dict[str, Any]
) -> None:
    """A known message_type with arbitrary fields decodes the same with both decoders."""
    same(json.dumps({**fields, "message_type": message_type}))


@given(st.lists(json_ish, max_size=4), st.sampled_from(RAW_NUMBERS),
       st.sampled_from(["start", "end", "logprob", "channel_index", "unknown"]))
def test_raw_numbers_in_words_decode_the_same(
    words: list[Any], number: str, key: str
) -> None:
    """Overflowing, non-finite and huge numbers anywhere in a word decode the same."""
    frame = json.dumps({"message_type": "committed_transcript_with_timestamps", "text": "",
                        "words": [*words, {"text": "a", key: "NUMBER"}]})
    same(frame.replace('"NUMBER"', number))


@given(st.lists(st.one_of(st.text(max_size=5), json_ish), max_size=8))
def test_characters_decode_the_same(characters: list[Any]) -> None:
    """Any ``characters`` list (bare strings, objects, anything else) decodes the same."""
    same(json.dumps({"message_type": "committed_transcript_with_timestamps", "text": "",
                     "words": [{"text": "a", "characters": characters}]}))


def test_cached_characters_are_equal_to_fresh_ones() -> None:
    """A bare character decoded twice is equal to Character(text) and to itself, and frozen."""
    frame = json.dumps({"message_type": "committed_transcript_with_timestamps", "text": "ab",
                        "words": [{"text": "ab", "characters": ["a", "b", "a"]}]})
    first = protocol.decode(frame).words[0]  # type: ignore[attr-defined]
    second = protocol.decode(frame).words[0]  # type: ignore[attr-defined]
    assert first == second == Word("ab", characters=(Character("a"), Character("b"),
                                                     Character("a")))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.characters[0].text = "z"  # type: ignore[misc]


def test_user_construction_still_runs_init() -> None:
    """Building a Word by hand still goes through attrs' __init__ (defaults applied)."""
    assert Word("a") == Word(text="a", start=None, end=None, type="word")


def test_instances_are_only_built_without_init_for_classes_that_allow_it() -> None:
    """The decoder's fast construction refuses a class whose __init__ converts or validates."""
    from scribe_sync._wire import slot_setters
    from scribe_sync.messages import SessionConfig

    with pytest.raises(TypeError, match="converters"):
        slot_setters(SessionConfig)  # its list fields are converted to tuples by __init__
    assert set(slot_setters(Word)) == set(attrs.fields_dict(Word))
