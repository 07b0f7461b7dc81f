"""The replay buffer's rules, sans I/O: which retained audio a committed transcript covers,
and what a new connection must be sent again.

The buffer holds the audio no committed transcript has covered yet, in order, with ``None``
marking where each unanswered commit was sent.
"""

from __future__ import annotations

import collections
from typing import Final

import attrs

__all__ = ["CONTEXT_CHARS", "Chunk", "Retained", "context", "release", "replay"]

Retained = collections.deque[bytes | memoryview | None]
#: previous_text sent with replayed audio: the end of the committed text (docs: best under 50).
CONTEXT_CHARS: Final = 50


@attrs.frozen
class Chunk:
    """One ``input_audio_chunk`` to send, in order. ``audio`` is a view: it is not copied."""

    audio: bytes | memoryview
    commit: bool = False
    previous_text: str | None = None


def release(retained: Retained, *, through_commit: bool, margin: int, sample: int) -> int:
    """Forget audio a committed transcript now covers; returns the bytes released.

    The answer to one of our commits covers everything up to its mark. An unsolicited commit
    covers an unknown prefix: everything older than the last ``margin`` bytes before the first
    unanswered mark is released (whole samples of ``sample`` bytes).
    """
    released = 0
    if through_commit:
        while retained:
            item = retained.popleft()
            if item is None:
                break
            released += len(item)
        return released
    prefix = 0
    for item in retained:
        if item is None:
            break
        prefix += len(item)
    due = prefix - margin
    while due > 0 and retained and retained[0] is not None:
        head = retained[0]
        assert head is not None
        if len(head) <= due:
            retained.popleft()
            cut = len(head)
        else:
            cut = due - due % sample
            retained[0] = head[cut:]
        released += cut
        due -= cut
        if cut == 0:
            break
    return released


def replay(retained: Retained, context: str | None, max_chunk: int
           ) -> tuple[list[Chunk], int, int, list[int]]:
    """What a new connection is sent: the chunks (``context`` as ``previous_text`` on the
    first), the bytes replayed, the bytes left uncommitted after the last mark, and the size
    of each commit's audio (one per mark)."""
    chunks: list[Chunk] = []
    replayed = uncommitted = 0
    sizes: list[int] = []
    for item in retained:
        if item is None:
            chunks.append(Chunk(b"", commit=True))
            sizes.append(uncommitted)
            uncommitted = 0
            continue
        view = memoryview(item)
        for start in range(0, len(item), max_chunk):
            chunks.append(Chunk(view[start : start + max_chunk], previous_text=context))
            context = None
        replayed += len(item)
        uncommitted += len(item)
    if context is not None:  # nothing to replay: give the context with no audio
        chunks.append(Chunk(b"", previous_text=context))
    return chunks, replayed, uncommitted, sizes


def context(segments: list[str], first_previous_text: str | None, *,
            first_segment: bool) -> str | None:
    """previous_text for the first replayed chunk: the end of the committed text; while still
    in the first segment, the caller's own context, if it gave one."""
    if not segments:
        return first_previous_text if first_segment else None
    text = " ".join(segments)[-CONTEXT_CHARS:]
    if " " in text and len(text) == CONTEXT_CHARS:
        text = text.split(" ", 1)[1]  # start at a word boundary
    return text or None
