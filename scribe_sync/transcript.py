"""Committed transcripts: assembling segments from session events, and writing text, JSON, SRT
and WebVTT.

A :class:`Transcript` is built from the events of a session (:meth:`Transcript.add` or
:meth:`Transcript.from_events`). Each commit produces one ``committed_transcript`` and, when
timestamps or language detection were requested, one ``committed_transcript_with_timestamps``
twin. The twin usually arrives after its plain message but sometimes first (docs/protocol.md §4.4),
so the two are paired by order, the n-th of each kind forming the n-th segment, and every
commit is counted once whichever kind arrives first.

Subtitles (SRT, WebVTT) are timed from word timestamps and need a session started with
``include_timestamps=True``; without them :class:`MissingTimestampsError` explains that.

Diarization (docs/protocol.md §4.7, SDK 2.78 only, unverified live): a ``diarized_transcript``
attributes the words of the ``segment_index``-th commit (0-based, empty commits counted) to
speakers, whenever it arrives; ``speakers_merged`` renames a speaker everywhere before it.
Cues never mix speakers: SRT cues start with ``[speaker_id]``, WebVTT cues with a voice span
``<v speaker_id>``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import IO, Any

import attrs

from scribe_sync._atomic import write_atomically
from scribe_sync._segments import (
    Cue,
    CueOptions,
    Segment,
    clean_line,
    cue_options,
    format_timestamp,
    is_time,
    monotone,
    segment_cues,
)
from scribe_sync.errors import ConfigError, ScribeError
from scribe_sync.messages import (
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    DiarizedTranscript,
    Event,
    SpeakersMerged,
    Word,
)

__all__ = [
    "Cue",
    "CueOptions",
    "MissingTimestampsError",
    "Segment",
    "Transcript",
    "format_timestamp",
]


class MissingTimestampsError(ScribeError, ValueError):
    """Subtitles were requested but the transcript has no word timestamps.

    Start the session with ``include_timestamps=True`` to get them.
    """


def _number(value: float | None) -> float | None:
    """A time or log-probability for JSON: None unless a usable number (JSON has no NaN)."""
    return value if is_time(value) else None


def _word_dict(word: Word) -> dict[str, Any]:
    data: dict[str, Any] = {
        "text": word.text,
        "start": _number(word.start),
        "end": _number(word.end),
        "type": word.type,
    }
    if _number(word.logprob) is not None:
        data["logprob"] = word.logprob
    if word.speaker_id is not None:
        data["speaker_id"] = word.speaker_id
    return data


_FORMATS = {".txt": "text", ".text": "text", ".json": "json", ".srt": "srt", ".vtt": "vtt"}
# A lone surrogate (a "\ud800" escape in JSON on the wire) cannot be encoded as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


class Transcript:
    """The committed segments of a session, in commit order, and ways to write them out.

    Not thread-safe: feed it from one thread (a session callback or the event loop).

    Args:
        segments: initial segments, for building a transcript by hand.
    """

    def __init__(self, segments: Iterable[Segment] = ()) -> None:
        # Every commit, empty ones included, so that plain messages and their twins pair by
        # index; the public view leaves out segments with no text.
        self._all: list[Segment] = list(segments)
        self._plain = len(self._all)
        self._twins = len(self._all)
        # segment index -> its diarized transcript (re-applied when the segment changes).
        self._diarized: dict[int, DiarizedTranscript] = {}

    # -- building ---------------------------------------------------------------------------

    def add(self, event: Event) -> bool:
        """Take one session event; returns True when it was a committed transcript.

        ``diarized_transcript`` and ``speakers_merged`` set the words' speakers (returning
        False); other events (partials, session_started, errors, ...) are ignored.
        """
        if isinstance(event, DiarizedTranscript):
            self._diarized[event.segment_index] = event
            self._attribute(event.segment_index)
            return False
        if isinstance(event, SpeakersMerged):
            self._merge(event.from_speaker_id, event.to_speaker_id)
            return False
        # Each change of _all is one atomic step (an append, an item replaced, the list swapped
        # whole) and the counters move after it, so that :meth:`copy` from another thread sees
        # the state after some whole step.
        if isinstance(event, CommittedTranscriptWithTimestamps):
            index = self._twins
            if index < len(self._all):
                # The plain message came first; its text stays, the twin adds words and
                # language.
                old = self._all[index]
                self._all[index] = attrs.evolve(
                    old, words=event.words, language_code=event.language_code
                )
            else:
                self._all.append(
                    Segment(text=event.text, words=event.words, language_code=event.language_code)
                )
            self._twins += 1
            self._attribute(index)
            return True
        if isinstance(event, CommittedTranscript):
            index = self._plain
            if index < len(self._all):
                self._all[index] = attrs.evolve(self._all[index], text=event.text)
            else:
                self._all.append(Segment(text=event.text))
            self._plain += 1
            self._attribute(index)
            return True
        return False

    def _attribute(self, index: int) -> None:
        """Give segment ``index`` the speakers of its diarized transcript, if both arrived."""
        diarized = self._diarized.get(index)
        # A segment_index the session never had (negative, or ahead of the answers) names no
        # segment: a hostile or confused server must not move another segment's speakers.
        if diarized is None or not 0 <= index < len(self._all):
            return
        segment = self._all[index]
        if segment.words is None:
            # Only the diarized words carry times for this segment: use them.
            self._all[index] = attrs.evolve(segment, words=diarized.words)
            return
        speakers = iter([w.speaker_id for w in diarized.words if w.type == "word"])
        words = tuple(
            attrs.evolve(w, speaker_id=next(speakers, w.speaker_id)) if w.type == "word" else w
            for w in segment.words
        )
        self._all[index] = attrs.evolve(segment, words=words)

    def _merge(self, old: str, new: str) -> None:
        """``speakers_merged``: every earlier word of ``old`` is ``new``'s."""

        def rename(words: tuple[Word, ...]) -> tuple[Word, ...]:
            return tuple(
                attrs.evolve(w, speaker_id=new) if w.speaker_id == old else w for w in words
            )

        self._diarized = {index: attrs.evolve(diarized, words=rename(diarized.words))
                          for index, diarized in self._diarized.items()}
        # Swapped whole, so that a copy taken meanwhile never mixes old and new names.
        self._all = [segment if segment.words is None
                     else attrs.evolve(segment, words=rename(segment.words))
                     for segment in self._all]

    def copy(self) -> Transcript:
        """An independent copy. Safe while another thread feeds this transcript (a session's
        reader thread does): it takes no lock and costs nothing to the feeding thread, and it
        sees the transcript as it was after some whole event."""
        other = Transcript()
        # Counters first: they move after the list, so they never run ahead of the copy.
        plain, twins = self._plain, self._twins
        other._all = list(self._all)  # one C-level step: no change can land inside it
        other._plain, other._twins = min(plain, len(other._all)), min(twins, len(other._all))
        other._diarized = dict(self._diarized)
        return other

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> Transcript:
        """A transcript of every committed segment in ``events``."""
        transcript = cls()
        for event in events:
            transcript.add(event)
        return transcript

    # -- reading ----------------------------------------------------------------------------

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The committed segments with text, in order (empty commits left out)."""
        return tuple(s for s in self._all if s.text.strip())

    @property
    def text(self) -> str:
        """All committed text, segments joined by a space."""
        return " ".join(s.text.strip() for s in self.segments)

    @property
    def language_code(self) -> str | None:
        """The most recently detected language, when language detection was on."""
        for segment in reversed(self._all):
            if segment.language_code:
                return segment.language_code
        return None

    @property
    def has_timestamps(self) -> bool:
        """True when every segment with text has word timestamps (subtitles can be written)."""
        segments = self.segments
        return bool(segments) and all(s.words is not None for s in segments)

    @property
    def words(self) -> tuple[Word, ...]:
        """Every timed word of every segment (spacing excluded), in order."""
        return tuple(w for s in self.segments for w in s.timed_words)

    def __len__(self) -> int:
        return len(self.segments)

    def __repr__(self) -> str:
        return f"<Transcript {len(self)} segments, {len(self.text)} characters>"

    # -- writing ----------------------------------------------------------------------------

    def to_text(self) -> str:
        """One line per segment, newline-terminated ("" when empty)."""
        return "".join(s.text.strip() + "\n" for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: text, language_code, and segments with their words."""
        return {
            "text": self.text,
            "language_code": self.language_code,
            "segments": [
                {
                    "text": s.text,
                    "start": s.start,
                    "end": s.end,
                    "language_code": s.language_code,
                    "words": None if s.words is None else [_word_dict(w) for w in s.words],
                }
                for s in self.segments
            ],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (UTF-8, not ASCII-escaped).

        Strict JSON: a word time or log-probability that is NaN or infinite is written as
        ``null`` (the word is untimed, see :meth:`cues`).
        """
        data = self.to_dict()
        return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"

    def cues(self, options: CueOptions | None = None, **kwargs: Any) -> list[Cue]:
        """The subtitle cues: per segment, cut by duration, line width and line count.

        A word whose start or end is NaN, infinite or beyond 10^9 seconds counts as untimed:
        its text joins the cue as spacing would, it never times one. Cue times never go below
        zero or back in time (a cue starts no earlier than the one before it). Cue text and
        speakers are single lines: control characters and line breaks become spaces.

        Args:
            options: a :class:`CueOptions`; or pass its fields as keywords.

        Raises:
            MissingTimestampsError: some segment has no word timestamps.
            ConfigError: an option or keyword is invalid (named in the error).
        """
        options = cue_options(options, kwargs)
        for number, segment in enumerate(self.segments, 1):
            if segment.words is None:
                raise MissingTimestampsError(
                    f"subtitles need word timestamps, but segment {number} ({segment.text!r:.40}) "
                    "has none; start the session with include_timestamps=True"
                )
        return monotone(cue for segment in self.segments for cue in segment_cues(segment, options))

    def to_srt(self, options: CueOptions | None = None, **kwargs: Any) -> str:
        """SubRip subtitles (``00:00:01,234 --> 00:00:02,000``). See :meth:`cues`."""
        blocks = []
        for number, cue in enumerate(self.cues(options, **kwargs), 1):
            # A blank line ends an SRT cue, so the text must not contain one (cue lines are
            # single lines already); some readers take any line with "-->" for a timing line.
            text = "\n".join(line for line in cue.lines if line.strip())
            if cue.speaker is not None:
                text = f"[{clean_line(cue.speaker)}] {text}"
            text = text.replace("-->", "->")
            span = f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}"
            blocks.append(f"{number}\n{span}\n{text}\n")
        return "\n".join(blocks)

    def to_vtt(self, options: CueOptions | None = None, **kwargs: Any) -> str:
        """WebVTT subtitles (``00:00:01.234 --> 00:00:02.000``). See :meth:`cues`."""
        blocks = ["WEBVTT\n"]
        for cue in self.cues(options, **kwargs):
            # WebVTT cue text is markup: escape &, < and >, which also rules out "-->".
            text = "\n".join(
                line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                for line in cue.lines
                if line.strip()
            )
            if cue.speaker is not None:
                # A voice span; its annotation cannot hold ">" or a line break.
                speaker = clean_line(cue.speaker)
                voice = " ".join(speaker.replace("&", "&amp;").replace(">", "&gt;").split())
                text = f"<v {voice}>{text}"
            start = format_timestamp(cue.start, separator=".")
            end = format_timestamp(cue.end, separator=".")
            blocks.append(f"{start} --> {end}\n{text}\n")
        return "\n".join(blocks)

    def render(self, format: str, options: CueOptions | None = None, **kwargs: Any) -> str:
        """The transcript as ``"text"``, ``"json"``, ``"srt"`` or ``"vtt"``.

        Cue options are checked for every format. Lone surrogates (which UTF-8 cannot encode)
        are replaced by U+FFFD, so the result can always be written.
        """
        checked = cue_options(options, kwargs)
        if format == "text":
            content = self.to_text()
        elif format == "json":
            content = self.to_json()
        elif format == "srt":
            content = self.to_srt(checked)
        elif format == "vtt":
            content = self.to_vtt(checked)
        else:
            content = None
        if content is not None:
            return _SURROGATE.sub("\ufffd", content)
        raise ConfigError(
            f"unknown transcript format {format!r}; expected text, json, srt or vtt",
            option="format",
        )

    def write(
        self,
        file: str | os.PathLike[str] | IO[str],
        format: str | None = None,
        options: CueOptions | None = None,
        **kwargs: Any,
    ) -> None:
        """Write the transcript to a path or text file object.

        Args:
            file: where to write; a path's suffix (.txt, .json, .srt, .vtt) picks the format
                when ``format`` is None.
            format: ``"text"``, ``"json"``, ``"srt"`` or ``"vtt"``.
            options, kwargs: cue options for subtitles (see :meth:`cues`).

        A path is written atomically: the whole content is rendered first, then written to a
        temporary file in the same directory that replaces the target, so a failure never
        leaves a truncated or emptied file behind (a path that is not a regular file, such as
        ``/dev/stdout``, is written directly).
        """
        if format is None:
            if not isinstance(file, (str, os.PathLike)):
                raise ConfigError(
                    "format is required when writing to a file object", option="format"
                )
            suffix = os.path.splitext(os.fspath(file))[1].lower()
            if suffix not in _FORMATS:
                raise ConfigError(
                    f"cannot tell the format from the suffix {suffix!r}; pass format=",
                    option="format",
                )
            format = _FORMATS[suffix]
        content = self.render(format, options, **kwargs)
        if isinstance(file, (str, os.PathLike)):
            write_atomically(os.fspath(file), content.encode("utf-8"))
        else:
            file.write(content)
