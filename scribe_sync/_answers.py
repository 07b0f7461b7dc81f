"""The answer filter of a session, sans I/O: what the server's transcripts become before the
session counts and delivers them.

- Word times of a reconnected connection are shifted onto the session's one clock.
- ``segment_index`` of diarized transcripts is rebased by the answers of earlier connections.
- A committed transcript sent twice (a server bug the mock models as ``duplicate_commit``) is
  dropped: with timestamps on, a plain answer whose text repeats the previous one is held until
  its twin shows whether it is a repeat, whose first word starts before the previous answer's
  last word ends (a new segment starts at or after it on the session clock).
"""

from __future__ import annotations

import attrs

from .messages import (
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    DiarizedTranscript,
    ServerEvent,
    Word,
)

__all__ = ["AnswerFilter"]


class AnswerFilter:
    """Shifts, rebases and de-duplicates answers (see the module docstring)."""

    def __init__(self, *, twin_expected: bool) -> None:
        self._twin_expected = twin_expected
        self._offset = 0.0  # seconds where the current connection's clock starts
        self._segment_base = 0  # answers of earlier connections
        self._held: CommittedTranscript | None = None
        self._last_text: str | None = None  # the previous plain answer's text
        self._last_end: float | None = None  # its twin's last word end, on the session clock
        self._twin_due = False  # a plain answer came and its twin has not yet
        self._repeats = 0

    @property
    def repeats_dropped(self) -> int:
        """Answers recognised as repeats and dropped."""
        return self._repeats

    def filter(self, event: ServerEvent) -> tuple[ServerEvent, ...]:
        """What ``event`` becomes, in order: usually itself (shifted, rebased); nothing for a
        held plain answer or a repeat; a held answer with its twin."""
        if self._offset:
            event = _shift_words(event, self._offset)
        if isinstance(event, DiarizedTranscript) and self._segment_base:
            event = attrs.evolve(event, segment_index=event.segment_index + self._segment_base)
        held = self._held
        if held is not None:
            self._held = None
            if isinstance(event, CommittedTranscriptWithTimestamps):
                first = next((w.start for w in event.words or () if w.start is not None), None)
                if (first is not None and self._last_end is not None
                        and first < self._last_end):
                    self._repeats += 1  # the same answer again: neither is delivered
                    return ()
            return self._note(held) + self._note(event)
        if (isinstance(event, CommittedTranscript) and self._twin_expected and event.text
                and event.text == self._last_text and not self._twin_due):
            self._held = event
            return ()
        return self._note(event)

    def _note(self, event: ServerEvent) -> tuple[ServerEvent, ...]:
        if isinstance(event, CommittedTranscript):
            self._last_text = event.text
            self._twin_due = self._twin_expected
        elif isinstance(event, CommittedTranscriptWithTimestamps):
            ends = [w.end for w in event.words or () if w.end is not None]
            if ends:
                self._last_end = max(ends)
            self._twin_due = False
        return (event,)

    def resume(self, offset_seconds: float, answers: int) -> None:
        """A new connection: its clock starts at ``offset_seconds`` of the session's, its
        segments after ``answers``. A held answer's twin will not come on it (the replay
        answers it)."""
        self._offset = offset_seconds
        self._segment_base = answers
        self._held = None


def _shift_words(event: ServerEvent, offset: float) -> ServerEvent:
    """Put a reconnected connection's word times on the session's one clock."""
    if isinstance(event, (CommittedTranscriptWithTimestamps, DiarizedTranscript)) and (
        event.words
    ):
        return attrs.evolve(event, words=tuple(_shift(w, offset) for w in event.words))
    return event


def _shift(word: Word, offset: float) -> Word:
    def moved(t: float | None) -> float | None:
        return None if t is None else round(t + offset, 6)

    characters = word.characters
    if characters is not None:
        characters = tuple(attrs.evolve(c, start=moved(c.start), end=moved(c.end))
                           for c in characters)
    return attrs.evolve(word, start=moved(word.start), end=moved(word.end), characters=characters)
