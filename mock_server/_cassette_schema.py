"""The schema check of a cassette's lines: each line's fields and their types (docs/cassettes.md).

Checked line by line on load, so that a damaged or hand-edited cassette fails with one line
naming the file, the line number and the field, never with a ``KeyError`` deep in a replay.
Pure data checks: no I/O, no JSON parsing (the caller parses each line).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["FORMAT", "KINDS", "VERSION", "SchemaError", "check_line", "shown"]

#: The ``format`` field of a cassette's first line.
FORMAT: Final = "scribe-cassette"
#: The newest format version this code reads and the one it writes.
VERSION: Final = 1

_NUMBER: Final = (int, float)
_OPT_STR: Final = (str, type(None))
_OPT_INT: Final = (int, type(None))

# kind -> {field: allowed types}; every field listed is required, others are refused, so
# that a typo in a hand-edited cassette is caught rather than ignored.
_REQUIRED: Final[Mapping[str, Mapping[str, tuple[type, ...]]]] = {
    "cassette": {"format": (str,), "version": (int,), "keep_audio": (bool,)},
    "session": {"n": (int,), "path": (str,), "query": (dict,), "auth": (str,)},
    "refused": {"t": _NUMBER, "status": (int,), "body": (str,)},
    "client": {
        "t": _NUMBER, "audio_s": _NUMBER, "commits": (int,), "message_type": _OPT_STR,
        "samples": (int,), "sha256": (str,), "commit": (bool,), "sample_rate": _OPT_INT,
        "previous_text": _OPT_STR,
    },
    "server": {"t": _NUMBER, "audio_s": _NUMBER, "commits": (int,), "after": (int,)},
    "close": {
        "t": _NUMBER, "audio_s": _NUMBER, "commits": (int,), "after": (int,), "by": (str,),
        "code": (int,), "reason": (str,),
    },
}
# Optional fields per kind: a client frame's audio (``--keep-audio``) or the JSON of a frame
# that is not an audio chunk; a server frame's JSON, its exact text when the JSON does not
# re-encode to it, or a binary frame.
_OPTIONAL: Final[Mapping[str, Mapping[str, tuple[type, ...]]]] = {
    "cassette": {"note": (str,)},
    "session": {},
    "refused": {},
    "client": {"audio": (str,), "other": (dict, str)},
    "server": {"frame": (dict, list, str, int, float, bool), "raw": (str,), "binary": (str,)},
    "close": {"dropped": (bool,)},
}
#: Every kind of line, in the order a session's lines may use them.
KINDS: Final = tuple(_REQUIRED)
_CLOSERS: Final = ("server", "client", "proxy")
# Bounds of the numbers: a time or position that is negative, NaN or past ~4 months would
# never be reached by a replaying client (a silent stall) or make a ``recorded`` replay wait
# for ever; a count past 2**53 overflows a float in ``cassette show``.
_MAX_SECONDS: Final = 1e7
_MAX_COUNT: Final = 2**53
_RANGES: Final[Mapping[str, tuple[int, int]]] = {"code": (1000, 4999), "status": (100, 599)}
_SHA256: Final = re.compile(r"(?:[0-9a-f]{64})?")
# Close codes no close frame may carry (RFC 6455 §7.4): 1005 and 1006 are recorded (no code,
# no close frame) and replayed as what the proxy did, the others cannot be replayed at all.
_UNSENDABLE: Final = frozenset({1004, 1015, *range(1016, 3000)})
_MAX_REASON: Final = 123  # bytes of UTF-8 a close frame's reason holds


class SchemaError(ValueError):
    """One line of a cassette breaks the schema; ``str(exc)`` names the field."""


def shown(value: Any, width: int = 40) -> str:
    """``repr(value)`` cut to ``width`` characters: an error names a hostile value, and stays
    one short line, however long the value."""
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= width else text[: width - 1] + "…"


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "integer", float: "number", str: "string", bool: "boolean", dict: "object",
             list: "array", type(None): "null"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def check_line(obj: Any) -> str:
    """Check one parsed line; return its ``kind``.

    Raises:
        SchemaError: naming the field that is missing, unknown or of the wrong type.
    """
    if not isinstance(obj, dict):
        raise SchemaError("a line must be a JSON object")
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _REQUIRED:
        raise SchemaError(f"unknown kind {shown(kind)} (expected one of {', '.join(KINDS)})")
    required, optional = _REQUIRED[kind], _OPTIONAL[kind]
    for name, types in required.items():
        if name not in obj:
            raise SchemaError(f"{kind} line lacks the field {name!r}")
        _check_type(kind, name, obj[name], types)
    for name, value in obj.items():
        if name == "kind" or name in required:
            continue
        if name not in optional:
            raise SchemaError(f"{kind} line has an unknown field {shown(name)}")
        _check_type(kind, name, value, optional[name])
    if kind == "close" and obj["by"] not in _CLOSERS:
        raise SchemaError(f"close line: 'by' must be one of {', '.join(_CLOSERS)}")
    if kind == "session" and not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in obj["query"].values()
    ):
        raise SchemaError("session line: every 'query' value must be an array of strings")
    if kind == "server" and sum(k in obj for k in ("frame", "binary")) != 1:
        raise SchemaError("server line needs exactly one of 'frame' or 'binary'")
    _check_values(kind, obj)
    return str(kind)


def _check_values(kind: str, obj: Mapping[str, Any]) -> None:
    """Numbers within bounds, digests that are digests, base64 that decodes: what would
    otherwise fail, or stall, in the middle of a replay."""
    for name, value in obj.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        low, high = _RANGES.get(name, (0, _MAX_COUNT))
        if isinstance(value, float) or name in ("t", "audio_s"):
            low, high = 0, int(_MAX_SECONDS)
            if not math.isfinite(value):
                raise SchemaError(f"{kind} line: {name!r} must be a finite number, not {value}")
        if not low <= value <= high:
            shown = value if isinstance(value, float) or value < 10**20 else "a huge number"
            raise SchemaError(f"{kind} line: {name!r} must be between {low} and {high}, "
                              f"not {shown}")
    if kind == "close" and obj["code"] in _UNSENDABLE:
        raise SchemaError(f"close line: 'code' {obj['code']} cannot be sent in a close frame")
    if kind == "close" and len(obj["reason"].encode("utf-8", "replace")) > _MAX_REASON:
        raise SchemaError(f"close line: 'reason' is longer than a close frame holds "
                          f"({_MAX_REASON} bytes of UTF-8)")
    if kind == "client" and not _SHA256.fullmatch(obj["sha256"]):
        raise SchemaError("client line: 'sha256' must be 64 lowercase hex digits or empty")
    for name in ("audio", "binary"):
        if isinstance(obj.get(name), str):
            try:
                data = base64.b64decode(obj[name], validate=True)
            except (binascii.Error, ValueError):
                raise SchemaError(f"{kind} line: {name!r} is not valid base64") from None
            if name == "audio" and hashlib.sha256(data).hexdigest() != obj["sha256"]:
                raise SchemaError("client line: 'audio' does not match its 'sha256'")


def _check_type(kind: str, name: str, value: Any, types: tuple[type, ...]) -> None:
    # bool is an int in Python: a boolean is accepted only where it is listed.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise SchemaError(f"{kind} line: {name!r} must be {_type_names(types)}, not {shown(value)}")
