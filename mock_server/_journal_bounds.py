"""How much of a frame the journal keeps: a bounded copy of what a client sent.

A client chooses what it sends: a 16 MiB text frame that is not JSON, a valid audio chunk with a
4 MiB extra field, an object nested hundreds deep. The journal keeps up to 1000 frames per
session, so keeping them whole would let one client hold gigabytes (and a deep object would
break every JSON export of the journal). :func:`bounded` returns what is stored instead: about
:data:`FRAME_TEXT_LIMIT` characters of text per frame (besides the audio, which is already
stored as ``"<N bytes>"``), nested at most :data:`MAX_DEPTH` deep, with a note where something
was left out. The usual frame (an audio chunk with its few scalar fields) is returned as is,
after a check of a few fields: this runs for every frame.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["FRAME_TEXT_LIMIT", "MAX_DEPTH", "bounded", "deeper_than", "shorten"]

#: Characters of text (bytes of a binary frame) the journal keeps of one frame.
FRAME_TEXT_LIMIT: Final = 4096
#: How deep a kept object nests; deeper parts are replaced by a note.
MAX_DEPTH: Final = 32
#: The key (in an object) or last item (in a list) that counts what was not kept.
MORE: Final = "…"


def shorten(text: str, limit: int = FRAME_TEXT_LIMIT) -> str:
    """``text``, or its first ``limit`` characters and a note of its length."""
    if len(text) <= limit:
        return text
    return f"{text[:max(limit, 0)]}…<{len(text)} characters>"


def _plain(data: dict[Any, Any]) -> bool:
    """Whether ``data`` is a flat object of short scalars (most frames): kept as is."""
    if len(data) > 8:
        return False
    for name, value in data.items():
        if not isinstance(name, str) or len(name) > 64:
            return False
        if isinstance(value, str):
            if len(value) > 256:
                return False
        # (an int may have thousands of digits: it goes the long way)
        elif not (value is None or isinstance(value, (bool, float))
                  or (isinstance(value, int) and -(2**63) <= value < 2**63)):
            return False
    return True


def bounded(data: Any) -> Any:
    """What the journal keeps of a frame's data (a parsed object or the raw text or bytes)."""
    if isinstance(data, str):
        return shorten(data)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data[:FRAME_TEXT_LIMIT])  # the record's size says how long it was
    if isinstance(data, dict) and _plain(data):
        return data
    return _Budget(FRAME_TEXT_LIMIT).keep(data, 0)


def deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects or lists more than ``limit`` deep. A loop, not a
    recursion: it must not fail on the very values it is there to find."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class _Budget:
    """A walk over a value that spends ``room`` characters (about its JSON length)."""

    def __init__(self, room: int) -> None:
        self.room = room

    def keep(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            kept = shorten(value, self.room)
            self.room -= len(kept) + 2
            return kept
        if value is None or isinstance(value, (bool, float)):
            self.room -= 5
            return value
        if isinstance(value, int):
            digits = len(str(value)) if -(10**18) < value < 10**18 else self.room + 1
            if digits > self.room:
                self.room -= 10
                return "<a long number>"
            self.room -= digits
            return value
        if isinstance(value, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                self.room -= 20
                return f"<nested over {MAX_DEPTH} deep>"
            self.room -= 2
            if isinstance(value, dict):
                return self._object(value, depth + 1)
            return self._list(value, depth + 1)
        return shorten(repr(value), max(self.room, 0))

    def _object(self, value: dict[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for left, (name, item) in enumerate(value.items()):
            if self.room <= 0:
                out[MORE] = f"<{len(value) - left} more fields not kept>"
                break
            key = shorten(str(name), max(self.room, 16))
            self.room -= len(key) + 4
            out[key] = self.keep(item, depth)
        return out

    def _list(self, value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
        out: list[Any] = []
        for left, item in enumerate(value):
            if self.room <= 0:
                out.append(f"{MORE}<{len(value) - left} more items not kept>")
                break
            self.room -= 1
            out.append(self.keep(item, depth))
        return out
