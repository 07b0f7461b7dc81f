"""Transcript: pairing committed events, and the text, JSON, SRT and WebVTT writers."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from scribe_sync import (
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    ConfigError,
    PartialTranscript,
    Word,
)
from scribe_sync.transcript import (
    CueOptions,
    MissingTimestampsError,
    Segment,
    Transcript,
    format_timestamp,
)


def timed(text: str, start: float, word_seconds: float = 0.4, gap: float = 0.1) -> tuple[Word, ...]:
    """Words of ``text`` with spacing items between them, as the server sends them."""
    items: list[Word] = []
    t = start
    for i, token in enumerate(text.split()):
        if i:
            items.append(Word(" ", t, t + gap, type="spacing"))
            t += gap
        items.append(Word(token, t, t + word_seconds, logprob=-0.2))
        t += word_seconds
    return tuple(items)


FIRST = "Hello there."
SECOND = "The quick brown fox jumps over the lazy dog and keeps on running far away."


def two_segments() -> Transcript:
    return Transcript.from_events(
        [
            PartialTranscript("Hello"),
            CommittedTranscript(FIRST),
            CommittedTranscriptWithTimestamps(FIRST, "en", timed(FIRST, 0.5)),
            # The twin of the second commit arrives first (docs/protocol.md §4.4).
            CommittedTranscriptWithTimestamps(SECOND, "en", timed(SECOND, 3.0)),
            CommittedTranscript(SECOND),
        ]
    )


# -- building ---------------------------------------------------------------------------------


def test_each_commit_is_counted_once_in_either_order() -> None:
    """A plain commit and its timestamped twin form one segment whichever comes first."""
    transcript = two_segments()
    assert [s.text for s in transcript.segments] == [FIRST, SECOND]
    assert all(s.words is not None for s in transcript.segments)
    assert transcript.text == f"{FIRST} {SECOND}"
    assert transcript.language_code == "en"
    assert transcript.has_timestamps


def test_plain_commits_only() -> None:
    """Without timestamps, segments have text and no words; partials are ignored."""
    transcript = Transcript()
    assert transcript.add(PartialTranscript("a")) is False
    assert transcript.add(CommittedTranscript("One.")) is True
    transcript.add(CommittedTranscript("Two."))
    assert [(s.text, s.words) for s in transcript.segments] == [("One.", None), ("Two.", None)]
    assert not transcript.has_timestamps
    assert transcript.language_code is None


def test_language_detection_twin_carries_language_without_words() -> None:
    """With language detection only, the twin (first, words None) sets the language."""
    transcript = Transcript.from_events(
        [CommittedTranscriptWithTimestamps("Hola.", "es", None), CommittedTranscript("Hola.")]
    )
    assert transcript.segments == (Segment("Hola.", None, "es"),)
    assert transcript.language_code == "es"


def test_empty_commits_keep_pairing_but_are_not_segments() -> None:
    """An empty commit still pairs with its twin, and later commits stay aligned."""
    transcript = Transcript.from_events(
        [
            CommittedTranscript(""),
            CommittedTranscript("Words."),
            CommittedTranscriptWithTimestamps("", None, ()),
            CommittedTranscriptWithTimestamps("Words.", "en", timed("Words.", 2.0)),
        ]
    )
    assert len(transcript) == 1
    assert transcript.segments[0].start == 2.0


def test_segment_times_exclude_spacing() -> None:
    """A segment starts at its first word and ends at its last, ignoring spacing items."""
    words = (
        Word(" ", 0.0, 0.9, type="spacing"),
        Word("Hi", 1.0, 1.5),
        Word(" ", 1.5, 3.0, type="spacing"),
    )
    segment = Segment("Hi", words)
    assert (segment.start, segment.end) == (1.0, 1.5)
    assert segment.timed_words == (Word("Hi", 1.0, 1.5),)


# -- text and JSON ----------------------------------------------------------------------------


def test_text_output_is_one_line_per_segment() -> None:
    """to_text() writes each committed segment on its own line."""
    assert two_segments().to_text() == f"{FIRST}\n{SECOND}\n"
    assert Transcript().to_text() == ""


def test_json_output_round_trips_words_and_times() -> None:
    """to_json() holds the text, language, and every segment's words with times."""
    data = json.loads(two_segments().to_json())
    assert data["text"] == f"{FIRST} {SECOND}"
    assert data["language_code"] == "en"
    first = data["segments"][0]
    assert first["start"] == 0.5
    assert first["end"] == pytest.approx(1.4)
    assert first["words"][0] == {
        "text": "Hello",
        "start": 0.5,
        "end": 0.9,
        "type": "word",
        "logprob": -0.2,
    }
    assert first["words"][1]["type"] == "spacing"


# -- subtitles --------------------------------------------------------------------------------

SRT_TIME = r"(\d{2}):(\d{2}):(\d{2}),(\d{3})"
VTT_TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"


def _seconds(match: tuple[str, ...]) -> float:
    h, m, s, ms = (int(x) for x in match)
    return h * 3600 + m * 60 + s + ms / 1000


def parse_srt(text: str) -> list[tuple[int, float, float, list[str]]]:
    """A strict SRT parser: numbered blocks separated by one blank line."""
    cues = []
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        timing = re.fullmatch(f"{SRT_TIME} --> {SRT_TIME}", lines[1])
        assert timing, lines[1]
        groups = timing.groups()
        assert len(lines) >= 3
        assert all(line.strip() for line in lines[2:])
        cues.append((int(lines[0]), _seconds(groups[:4]), _seconds(groups[4:]), lines[2:]))
    return cues


def parse_vtt(text: str) -> list[tuple[float, float, list[str]]]:
    """A strict WebVTT parser for the subset we write: header, then timed cues."""
    header, _, body = text.partition("\n\n")
    assert header == "WEBVTT"
    cues = []
    for block in body.rstrip("\n").split("\n\n"):
        lines = block.split("\n")
        timing = re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}", lines[0])
        assert timing, lines[0]
        groups = timing.groups()
        assert all(line.strip() and "-->" not in line for line in lines[1:])
        cues.append((_seconds(groups[:4]), _seconds(groups[4:]), lines[1:]))
    return cues


def test_srt_parses_and_times_match_the_words() -> None:
    """Every SRT cue spans exactly its words (first start to last end) and segments stay apart."""
    transcript = two_segments()
    cues = parse_srt(transcript.to_srt(max_chars_per_line=20, max_lines=2, max_duration=10))
    assert [n for n, *_ in cues] == list(range(1, len(cues) + 1))
    words = list(transcript.words)
    position = 0
    for _, start, end, lines in cues:
        tokens = " ".join(lines).split()
        cue_words = words[position : position + len(tokens)]
        assert [w.text for w in cue_words] == tokens
        assert start == pytest.approx(cue_words[0].start, abs=5e-4)
        assert end == pytest.approx(cue_words[-1].end, abs=5e-4)
        assert all(len(line) <= 20 for line in lines)
        assert len(lines) <= 2
        position += len(tokens)
    assert position == len(words)
    assert cues[0][3] == ["Hello there."]  # the first segment is a cue of its own


def test_vtt_parses_and_times_match_the_srt() -> None:
    """WebVTT has the same cues as SRT, with '.' before the milliseconds."""
    transcript = two_segments()
    srt = parse_srt(transcript.to_srt())
    vtt = parse_vtt(transcript.to_vtt())
    assert [(s, e, lines) for _, s, e, lines in srt] == vtt


def test_cues_split_by_maximum_duration() -> None:
    """No cue lasts longer than max_duration."""
    transcript = two_segments()
    cues = transcript.cues(max_duration=1.5, max_chars_per_line=100, max_lines=1)
    assert all(c.end - c.start <= 1.5 for c in cues)
    assert sum(len(c.text.split()) for c in cues) == len(transcript.words)
    assert len(cues) > 3


def test_long_word_gets_its_own_line() -> None:
    """A word longer than the line width is not broken, just placed alone."""
    words = timed("a supercalifragilisticexpialidocious b", 0.0)
    cues = Transcript([Segment("x", words)]).cues(max_chars_per_line=10, max_lines=3)
    assert cues[0].lines == ("a", "supercalifragilisticexpialidocious", "b")


def test_words_without_spacing_join_without_spaces() -> None:
    """Languages written without spaces (no spacing items) are not given spaces."""
    words = (Word("今日は", 0.0, 0.5), Word("晴れ", 0.5, 1.0))
    assert Transcript([Segment("今日は晴れ", words)]).to_srt().splitlines()[2] == "今日は晴れ"


def test_vtt_escapes_markup() -> None:
    """&, < and > in cue text are escaped in WebVTT (so '-->' cannot appear)."""
    words = timed("a<b && c --> d", 0.0)
    vtt = Transcript([Segment("x", words)]).to_vtt()
    assert "a&lt;b &amp;&amp; c --&gt; d" in vtt


def test_subtitles_without_timestamps_are_a_clear_error() -> None:
    """SRT/VTT from a transcript without word timestamps raises MissingTimestampsError."""
    transcript = Transcript.from_events([CommittedTranscript("No times here.")])
    with pytest.raises(MissingTimestampsError, match="include_timestamps=True"):
        transcript.to_srt()
    with pytest.raises(MissingTimestampsError):
        transcript.to_vtt()
    assert transcript.to_text() == "No times here.\n"


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0, "00:00:00,000", "00:00:00.000"),
        (1.234, "00:00:01,234", "00:00:01.234"),
        (59.9996, "00:01:00,000", "00:01:00.000"),
        (3725.5, "01:02:05,500", "01:02:05.500"),
        (-0.2, "00:00:00,000", "00:00:00.000"),
    ],
)
def test_timestamp_format(seconds: float, srt: str, vtt: str) -> None:
    """Times are HH:MM:SS,mmm for SRT and HH:MM:SS.mmm for WebVTT, rounded to the ms."""
    assert format_timestamp(seconds) == srt
    assert format_timestamp(seconds, separator=".") == vtt


@pytest.mark.parametrize("option", ["max_duration", "max_chars_per_line", "max_lines"])
def test_invalid_cue_options(option: str) -> None:
    """Non-positive cue options raise ConfigError naming the option."""
    with pytest.raises(ConfigError) as caught:
        CueOptions(**{option: 0})
    assert caught.value.option == option


def test_write_picks_the_format_from_the_suffix(tmp_path: pathlib.Path) -> None:
    """write() infers text/json/srt/vtt from the file name and rejects unknown suffixes."""
    transcript = two_segments()
    for suffix, marker in [
        (".txt", FIRST),
        (".json", '"segments"'),
        (".srt", "00:00:00,500 --> "),
        (".vtt", "WEBVTT"),
    ]:
        path = tmp_path / f"out{suffix}"
        transcript.write(path)
        assert marker in path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="suffix"):
        transcript.write(tmp_path / "out.docx")
    with pytest.raises(ConfigError, match="unknown transcript format"):
        transcript.render("pdf")


@pytest.mark.parametrize("index", [-1, -2, 1, 99])
def test_a_diarized_transcript_naming_no_segment_changes_nothing(index: int) -> None:
    """A diarized_transcript whose segment_index names no segment (negative, or ahead of the
    answers) is kept aside, never raises and never moves another segment's speakers (it used to
    raise IndexError on the reader thread and end the session)."""
    from scribe_sync.messages import DiarizedTranscript

    empty = Transcript()
    assert empty.add(DiarizedTranscript(segment_index=index, text="", words=())) is False
    assert empty.segments == ()
    transcript = Transcript()
    transcript.add(CommittedTranscript("hello"))
    word = Word(text="x", start=0.0, end=0.1, type="word", speaker_id="speaker_9")
    transcript.add(DiarizedTranscript(segment_index=index, text="x", words=(word,)))
    assert [s.text for s in transcript.segments] == ["hello"]
    assert transcript.segments[0].words is None
