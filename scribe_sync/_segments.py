"""The model of a transcript's segments and their subtitle cues: :class:`Segment`,
:class:`CueOptions`, :class:`Cue`, and cutting a segment's timed words into cues.

Public through :mod:`scribe_sync.transcript`, which assembles segments and writes files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from .errors import ConfigError
from .messages import Word

__all__ = ["Cue", "CueOptions", "Segment", "format_timestamp", "segment_cues"]


@attrs.frozen
class Segment:
    """One committed segment: its text, its words with times (or None), its language.

    Times are on the session clock: seconds since the first audio sent (docs/protocol.md §4.4).
    """

    text: str
    words: tuple[Word, ...] | None = None
    language_code: str | None = None

    @property
    def timed_words(self) -> tuple[Word, ...]:
        """The words and audio events that carry times; spacing items excluded."""
        if not self.words:
            return ()
        return tuple(
            w
            for w in self.words
            if w.type != "spacing" and w.start is not None and w.end is not None
        )

    @property
    def speakers(self) -> tuple[str, ...]:
        """The speakers of the timed words, in order of first appearance (diarization)."""
        seen: dict[str, None] = {}
        for word in self.timed_words:
            if word.speaker_id is not None:
                seen.setdefault(word.speaker_id)
        return tuple(seen)

    @property
    def start(self) -> float | None:
        """When the first word starts, or None without timestamps."""
        timed = self.timed_words
        return timed[0].start if timed else None

    @property
    def end(self) -> float | None:
        """When the last word ends, or None without timestamps."""
        timed = self.timed_words
        return max(w.end for w in timed if w.end is not None) if timed else None


def _positive(option: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{option} must be a positive number, got {value!r}", option=option)

    return check


@attrs.frozen
class CueOptions:
    """How subtitles are cut into cues.

    Attributes:
        max_duration: a cue never lasts longer than this many seconds (unless a single word
            does).
        max_chars_per_line: lines are wrapped at spaces to at most this many characters (a
            single longer word gets a line of its own).
        max_lines: a cue holds at most this many lines; the next word starts a new cue.
        speaker_labels: label cues with their speaker when words carry one (diarization).
    """

    max_duration: float = attrs.field(default=6.0, validator=_positive("max_duration"))
    max_chars_per_line: int = attrs.field(default=42, validator=_positive("max_chars_per_line"))
    max_lines: int = attrs.field(default=2, validator=_positive("max_lines"))
    speaker_labels: bool = True


@attrs.frozen
class Cue:
    """One subtitle cue: a time span, its lines of text, and its speaker (diarization)."""

    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None

    @property
    def text(self) -> str:
        """The lines joined with newlines."""
        return "\n".join(self.lines)


def format_timestamp(seconds: float, *, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT; pass ``separator="."`` for WebVTT), rounded to the millisecond."""
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


@attrs.frozen
class _Token:
    """A timed word with the text of the spacing items before it."""

    separator: str
    text: str
    start: float
    end: float
    speaker: str | None = None


def _tokens(words: Iterable[Word]) -> list[_Token]:
    # Spacing items only shape the text (normally " ", nothing for languages written without
    # spaces); their times are ignored, so a cue starts with its first word and ends with its
    # last. Untimed or blank items are folded into the separator too.
    tokens: list[_Token] = []
    gap = ""
    for item in words:
        start, end = item.start, item.end
        if item.type == "spacing" or start is None or end is None or not item.text.strip():
            gap += item.text
        else:
            tokens.append(
                _Token(gap, item.text.strip(), start, max(end, start), item.speaker_id)
            )
            gap = ""
    return tokens


def _wrap(tokens: list[_Token], width: int) -> list[str]:
    """Greedy line filling; lines break only where the separator is whitespace."""
    lines: list[str] = []
    line = ""
    for token in tokens:
        breakable = bool(token.separator) and not token.separator.strip()
        if not line:
            line = token.text
        elif breakable and len(line) + 1 + len(token.text) > width:
            lines.append(line)
            line = token.text
        else:
            line += (" " if breakable else token.separator) + token.text
    if line:
        lines.append(line)
    return lines


def _cue(tokens: list[_Token], options: CueOptions) -> Cue:
    lines = _wrap(tokens, options.max_chars_per_line)
    speaker = tokens[0].speaker if options.speaker_labels else None
    return Cue(
        start=tokens[0].start, end=max(t.end for t in tokens), lines=tuple(lines), speaker=speaker
    )


def segment_cues(segment: Segment, options: CueOptions) -> list[Cue]:
    cues: list[Cue] = []
    current: list[_Token] = []
    for token in _tokens(segment.words or ()):
        if current:
            too_long = token.end - current[0].start > options.max_duration
            lines = _wrap([*current, token], options.max_chars_per_line)
            turn = options.speaker_labels and token.speaker != current[-1].speaker
            if too_long or turn or len(lines) > options.max_lines:
                cues.append(_cue(current, options))
                current = []
        current.append(token)
    if current:
        cues.append(_cue(current, options))
    return cues


# Documented where they are public.
for _cls in (Segment, CueOptions, Cue):
    _cls.__module__ = "scribe_sync.transcript"
