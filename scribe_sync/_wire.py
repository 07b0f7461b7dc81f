"""What both halves of the codec share: strict JSON loading, typed field readers, the config
keys, and building message instances from values that are already checked.

Every reader raises :class:`~scribe_sync.errors.RemoteProtocolError` naming the field, so the
decoders built on them keep ``decode``'s contract: that error and nothing else, whatever the
input. Values come from :func:`load_object` only, so their types are exact (``str``, never a
subclass), which lets the readers test ``type(value) is str`` instead of ``isinstance``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs

from .errors import RemoteProtocolError

__all__ = [
    "CONFIG_ALIASES",
    "CONFIG_KEYS",
    "STRICT_JSON",
    "Payload",
    "load_object",
    "opt_bool",
    "opt_float",
    "opt_int",
    "opt_str",
    "read",
    "req_str",
    "slot_setters",
    "str_list",
    "to_float",
    "trusted_factory",
]

Payload = dict[str, Any]
T = TypeVar("T")

# Keys of the live ``config`` object in the order the live service sends them
# (docs/protocol.md §4.1), mapped to how each is read. Both spellings of the commit strategy and
# of logging are listed: the encoder writes the first, the decoder reads both.
CONFIG_KEYS: Final = (
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
CONFIG_ALIASES: Final = frozenset({"commit_strategy", "enable_logging"})


# =============================================================================================
# Strict JSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not JSON")


def _finite_float(text: str) -> float:
    # json parses 1e400 to inf without consulting parse_constant; such a value would decode
    # into a field (or UnknownEvent payload) that encode() cannot write back as JSON.
    value = float(text)
    if value - value:  # inf - inf is NaN, which is true; a finite float gives 0.0
        raise ValueError(f"number {text[:40]} is out of range")
    return value


#: For frames whose JSON values are kept unread (an ``UnknownEvent``'s payload, the config's
#: extra keys): every float it returns is finite; NaN and Infinity are refused.
STRICT_JSON: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
#: For every other frame: floats are parsed in C (a Python ``parse_float`` per number was a
#: tenth of a timestamped answer's decode), and each reader of a float checks it is finite
#: (:func:`to_float`). NaN and Infinity are still refused here. One decoder for every frame:
#: ``json.loads(..., parse_float=...)`` would build a new decoder (and scanner) per call.
_FAST_JSON: Final = json.JSONDecoder(parse_constant=_reject_constant)
_SCANS: Final[dict[bool, tuple[Callable[[str, int], tuple[Any, int]], json.JSONDecoder]]] = {
    # scan_once: set by __init__, not in the stubs
    False: (_FAST_JSON.scan_once, _FAST_JSON),  # type: ignore[attr-defined]
    True: (STRICT_JSON.scan_once, STRICT_JSON),  # type: ignore[attr-defined]
}


def load_object(data: str | bytes | bytearray | memoryview, *, strict: bool = False) -> Payload:
    """Parse one frame into a dict with a string ``message_type``, or raise RemoteProtocolError.

    Floats may be infinite (an overflowing literal such as ``1e400``) unless ``strict``: the
    field readers refuse them where they are read.
    """
    if not isinstance(data, str):
        try:
            # A text frame may arrive as bytes; only other buffers need the copy bytes() makes.
            data = (data if isinstance(data, bytes) else bytes(data)).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"frame is not valid UTF-8: {exc.reason}") from None
    scan, decoder = _SCANS[strict]
    try:
        # The scanner alone, as JSONDecoder.decode calls it, minus two whitespace regex passes
        # (a tenth of a small frame's decode). Anything else, including surrounding whitespace,
        # takes the full path, which also words the error.
        try:
            obj, end = scan(data, 0)
        except StopIteration:
            end = -1
        if end != len(data):
            obj = decoder.decode(data)
    # RecursionError: deeply nested arrays exhaust the parser's stack; ValueError covers
    # JSONDecodeError, huge integers and the non-finite numbers refused above.
    except (ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"frame is not valid JSON: {str(exc)[:200]}") from None
    if type(obj) is not dict:
        raise RemoteProtocolError(f"frame is a JSON {type(obj).__name__}, not an object")
    if type(obj.get("message_type")) is not str:
        raise RemoteProtocolError("frame has no string 'message_type'")
    return obj


# =============================================================================================
# Field readers: each raises RemoteProtocolError naming the field.

_KINDS: Final[dict[str, tuple[type, ...]]] = {
    "str": (str,),
    "bool": (bool,),
    "int": (int,),  # exact types: JSON true is a bool, never an int
    "float": (float, int),
    "list": (list,),
    "dict": (dict,),
}


def read(obj: Mapping[str, Any], key: str, kind: str, *, optional: bool) -> Any:
    """``obj[key]`` if it is of JSON ``kind`` (ints widened to float for "float")."""
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise RemoteProtocolError(f"{obj.get('message_type')!s}: missing field {key!r}")
    if type(value) not in _KINDS[kind]:
        raise RemoteProtocolError(
            f"{obj.get('message_type')!s}: field {key!r} should be {kind}, "
            f"got {type(value).__name__}"
        )
    return to_float(value, key) if kind == "float" else value


def to_float(value: float | int, key: str) -> float:
    """A JSON number as a finite float; an overflowing float literal (``1e400``, parsed as
    infinite) or an int beyond the double range is a RemoteProtocolError."""
    if type(value) is float:
        if value - value:  # inf - inf is NaN, which is true; a finite float gives 0.0
            raise RemoteProtocolError(f"field {key!r} is out of range")
        return value
    try:
        return float(value)
    except OverflowError:
        # JSON ints are unbounded; OverflowError would break decode's only-one-error contract.
        raise RemoteProtocolError(f"field {key!r} is out of range") from None


def req_str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if type(value) is str:  # the common case, without read()'s table
        return value
    result: str = read(obj, key, "str", optional=False)
    return result  # pragma: no cover - read() raised


def opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    result: str | None = read(obj, key, "str", optional=True)
    return result


def opt_float(obj: Mapping[str, Any], key: str) -> float | None:
    result: float | None = read(obj, key, "float", optional=True)
    return result


def opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    result: int | None = read(obj, key, "int", optional=True)
    return result


def opt_bool(obj: Mapping[str, Any], key: str) -> bool | None:
    result: bool | None = read(obj, key, "bool", optional=True)
    return result


def str_list(obj: Mapping[str, Any], key: str, *, optional: bool) -> tuple[str, ...] | None:
    value = read(obj, key, "list", optional=optional)
    if value is None:
        return None
    if not all(type(item) is str for item in value):
        raise RemoteProtocolError(f"{obj.get('message_type')!s}: {key!r} must hold strings")
    return tuple(value)


# =============================================================================================
# Building instances from checked values


def slot_setters(cls: type) -> dict[str, Callable[[Any, Any], None]]:
    """Each field's slot setter, by name: ``setters["text"](instance, value)``.

    For the decoder only: its values are already of the right types, so an instance of
    ``object.__new__(cls)`` is filled by setting its slots directly, about a third faster
    than ``__init__`` (which, for a frozen class, goes through ``object.__setattr__`` once per
    field). ``cls`` must be a slotted attrs class whose fields have no converter or validator
    and which has no ``__attrs_post_init__``, so that every field set this way gives exactly
    what ``cls(...)`` would: this is checked here, once.
    """
    fields = attrs.fields(cls)
    if "__slots__" not in vars(cls) or any(f.converter or f.validator for f in fields):
        raise TypeError(f"{cls.__name__} is not a slotted attrs class without converters")
    if "__attrs_post_init__" in vars(cls):
        raise TypeError(f"{cls.__name__} has __attrs_post_init__")
    return {field.name: vars(cls)[field.name].__set__ for field in fields}


def trusted_factory(cls: type[T]) -> Callable[..., T]:
    """A function building ``cls`` from every field's value, positionally, without ``__init__``.

    The values must already be what ``cls``'s fields hold (see :func:`slot_setters`).
    """
    setters = slot_setters(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(setters)}):", "    self = _new(_cls)"]
    for name, setter in setters.items():
        namespace[f"_set_{name}"] = setter
        lines.append(f"    _set_{name}(self, {name})")
    lines.append("    return self")
    exec("\n".join(lines), namespace)  # the code is built from attrs field names only
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"trusted_factory.<{cls.__name__}>"
    return make
