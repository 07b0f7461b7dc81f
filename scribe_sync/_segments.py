"""The model of a transcript's segments and their subtitle cues: :class:`Segment`,
:class:`CueOptions`, :class:`Cue`, and cutting a segment's timed words into cues.

Public through :mod:`scribe_sync.transcript`, which assembles segments and writes files.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from typing import Any, TypeGuard

import attrs

from .errors import ConfigError
from .messages import Word

__all__ = [
    "Cue",
    "CueOptions",
    "Segment",
    "clean_line",
    "cue_options",
    "format_timestamp",
    "is_time",
    "monotone",
    "segment_cues",
]

# About 31 years: a later "time" is garbage (and a float this big times 1000 is still finite,
# which keeps format_timestamp exact).
_MAX_SECONDS = 1e9


def is_time(value: float | None) -> TypeGuard[float]:
    """Whether a word time is usable: a finite number of at most 10^9 seconds.

    NaN, infinities and absurdly large values (a hostile or broken peer) make a word untimed,
    like a missing time; negative times are usable and clamp to zero when written.
    """
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value <= _MAX_SECONDS
    )


def clean_line(text: str) -> str:
    """``text`` folded onto one line: control characters and line or paragraph separators
    (CR, LF, NEL, U+2028, ...) become spaces, so no text can end a cue or forge another."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text
    )


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
            w for w in self.words if w.type != "spacing" and is_time(w.start) and is_time(w.end)
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


def _positive(option: str, *, integer: bool = False) -> Any:
    kind = "a positive whole number" if integer else "a positive number"

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or (integer and not isinstance(value, int)) or not value > 0):
            raise ConfigError(f"{option} must be {kind}, got {value!r}", option=option)

    return check


def _boolean(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{attribute.name} must be True or False, got {value!r}",
                          option=attribute.name)


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
    max_chars_per_line: int = attrs.field(
        default=42, validator=_positive("max_chars_per_line", integer=True)
    )
    max_lines: int = attrs.field(default=2, validator=_positive("max_lines", integer=True))
    speaker_labels: bool = attrs.field(default=True, validator=_boolean)


_OPTION_NAMES = tuple(attrs.fields_dict(CueOptions))


def cue_options(options: object, kwargs: dict[str, Any]) -> CueOptions:
    """``options`` updated with ``kwargs``; a ConfigError naming an unknown keyword."""
    for name in kwargs:
        if name not in _OPTION_NAMES:
            raise ConfigError(
                f"unknown cue option {name!r}; expected one of {', '.join(_OPTION_NAMES)}",
                option=name,
            )
    if options is None:
        return CueOptions(**kwargs)
    if not isinstance(options, CueOptions):
        raise ConfigError(f"options must be a CueOptions or None, got {options!r}",
                          option="options")
    return attrs.evolve(options, **kwargs) if kwargs else options


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
    """``HH:MM:SS,mmm`` (SRT; pass ``separator="."`` for WebVTT), rounded to the millisecond.

    Negative and NaN times are written as zero, times beyond 10^9 seconds as 10^9 seconds.
    """
    if math.isnan(seconds):
        seconds = 0.0
    total_ms = round(min(max(seconds, 0.0), _MAX_SECONDS) * 1000)
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
    # last. Untimed or blank items are folded into the separator too; so are items whose times
    # are not numbers (NaN, inf: see is_time). Text is folded onto one line (clean_line).
    tokens: list[_Token] = []
    gap = ""
    for item in words:
        start, end = item.start, item.end
        text = clean_line(item.text).strip()
        if item.type == "spacing" or not text or not (is_time(start) and is_time(end)):
            gap += clean_line(item.text)
        else:
            speaker = None if item.speaker_id is None else clean_line(item.speaker_id)
            tokens.append(_Token(gap, text, start, max(end, start), speaker))
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


def monotone(cues: Iterable[Cue]) -> list[Cue]:
    """The cues with times clamped so that none starts before zero or before the previous cue,
    and none ends before it starts (words may arrive out of order or with negative times;
    subtitle players expect cues in time order)."""
    result: list[Cue] = []
    floor = 0.0
    for cue in cues:
        start = max(cue.start, floor)
        result.append(attrs.evolve(cue, start=start, end=max(cue.end, start)))
        floor = start
    return result


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
