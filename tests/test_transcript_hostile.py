"""Transcript writers against hostile words: non-numeric times, control characters, lone
surrogates, bad options, and failures while writing a file."""

from __future__ import annotations

import json
import os
import pathlib
import re
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scribe_sync import CommittedTranscriptWithTimestamps, ConfigError, Word
from scribe_sync.transcript import CueOptions, Transcript, format_timestamp

NAN, INF = float("nan"), float("inf")
SRT_SPAN = re.compile(r"^(\d\d+):(\d\d):(\d\d),(\d\d\d) --> (\d\d+):(\d\d):(\d\d),(\d\d\d)$")


def transcript_of(*words: Word) -> Transcript:
    text = "".join(w.text for w in words)
    return Transcript.from_events([CommittedTranscriptWithTimestamps(text=text, words=words)])


def strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def srt_cues(srt: str) -> list[tuple[float, float, list[str]]]:
    """Parse SRT the way simple readers do: blocks separated by blank lines."""
    cues = []
    for number, block in enumerate(srt.split("\n\n"), 1):
        lines = block.strip("\n").split("\n")
        assert lines[0] == str(number)
        match = SRT_SPAN.match(lines[1])
        assert match, lines[1]
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        assert lines[2:] and all(line.strip() for line in lines[2:])
        assert not any("-->" in line for line in lines[2:])
        cues.append((start, end, lines[2:]))
    return cues


@pytest.mark.parametrize("bad", [NAN, INF, -INF, 1e306])
def test_a_non_numeric_word_time_makes_the_word_untimed(bad: float) -> None:
    """NaN, inf and absurd times never crash SRT/VTT; the word is untimed; JSON stays strict."""
    transcript = transcript_of(
        Word("one", 0.0, 0.5), Word(" ", 0.5, 0.6, type="spacing"),
        Word("two", bad, bad, logprob=bad), Word(" ", 0.9, 1.0, type="spacing"),
        Word("three", 1.0, 1.5),
    )
    srt = transcript.to_srt()
    assert srt == "1\n00:00:00,000 --> 00:00:01,500\none two three\n"
    assert "one two three" in transcript.to_vtt()
    data = strict_json(transcript.to_json())
    assert isinstance(data, dict)
    two = data["segments"][0]["words"][2]
    assert two["start"] is None and two["end"] is None and "logprob" not in two
    assert data["segments"][0]["end"] == 1.5


def test_a_segment_of_only_non_numeric_times_gives_no_cue_and_strict_json() -> None:
    transcript = transcript_of(Word("lost", NAN, INF))
    assert transcript.to_srt() == ""
    assert transcript.to_vtt() == "WEBVTT\n"
    segment = strict_json(transcript.to_json())["segments"][0]  # type: ignore[index]
    assert segment["start"] is None and segment["end"] is None


FORGED = "a\n\n5\n00:00:00,000 --> 00:01:00,000\nX"


def test_a_speaker_id_with_line_breaks_cannot_forge_a_cue() -> None:
    """Line breaks and control characters in speakers and words fold to spaces."""
    transcript = transcript_of(
        Word("hi\r\n\nthere\x00\x85\u2028", 0.0, 1.0, speaker_id=FORGED),
        Word("bye", 2.0, 2.5, speaker_id="b"),
    )
    cues = srt_cues(transcript.to_srt())
    assert len(cues) == 2
    assert cues[0][2][0].startswith("[a  5 00:00:00,000 -> 00:01:00,000 X] hi   there")
    vtt = transcript.to_vtt()
    blocks = vtt.split("\n\n")
    assert len(blocks) == 3
    for block in blocks[1:]:
        span, *text = block.strip("\n").split("\n")
        assert "-->" in span
        assert text and not any("-->" in line for line in text)


def test_word_text_with_line_breaks_stays_in_its_cue() -> None:
    transcript = transcript_of(Word("x\n\n2\n00:00:09,000 --> 00:00:10,000\ny", 0.0, 1.0))
    cues = srt_cues(transcript.to_srt())
    assert len(cues) == 1
    assert "-->" not in transcript.to_vtt().split("\n", 3)[3]


def test_a_lone_surrogate_is_written_as_replacement_character(tmp_path: pathlib.Path) -> None:
    transcript = transcript_of(Word("caf\ud800", 0.0, 1.0, speaker_id="s\udfff"))
    for suffix in (".txt", ".json", ".srt", ".vtt"):
        path = tmp_path / f"out{suffix}"
        path.write_text("previous content\n", encoding="utf-8")
        transcript.write(path)
        written = path.read_text(encoding="utf-8")
        assert "caf\ufffd" in written
    assert "[s\ufffd] caf\ufffd" in (tmp_path / "out.srt").read_text(encoding="utf-8")


def test_write_never_destroys_the_file_on_failure(tmp_path: pathlib.Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The old content stays when writing fails; no temporary file is left behind."""
    path = tmp_path / "out.txt"
    path.write_text("previous content\n", encoding="utf-8")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    transcript = transcript_of(Word("new", 0.0, 1.0))
    with pytest.raises(OSError, match="No space"):
        transcript.write(path)
    assert path.read_text(encoding="utf-8") == "previous content\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_keeps_permissions_and_follows_symlinks(tmp_path: pathlib.Path) -> None:
    real = tmp_path / "real.srt"
    real.write_text("old", encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "link.srt"
    link.symlink_to(real)
    transcript_of(Word("new", 0.0, 1.0)).write(link)
    assert link.is_symlink()
    assert "new" in real.read_text(encoding="utf-8")
    assert real.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("method", ["to_srt", "to_vtt", "cues"])
def test_an_unknown_keyword_is_a_config_error_naming_it(method: str) -> None:
    transcript = transcript_of(Word("a", 0.0, 1.0))
    with pytest.raises(ConfigError, match=r"max_line.*max_duration, max_chars_per_line") as info:
        getattr(transcript, method)(max_line=3)
    assert info.value.option == "max_line"


@pytest.mark.parametrize("fmt", ["text", "json", "srt", "vtt"])
def test_render_refuses_an_unknown_keyword_for_every_format(fmt: str) -> None:
    with pytest.raises(ConfigError, match="speaker_label") as info:
        transcript_of(Word("a", 0.0, 1.0)).render(fmt, speaker_label=False)
    assert info.value.option == "speaker_label"


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_chars_per_line", 1.5), ("max_lines", 2.0), ("max_lines", True),
     ("max_duration", NAN), ("speaker_labels", "no")],
)
def test_an_invalid_option_value_is_a_config_error(option: str, value: object) -> None:
    with pytest.raises(ConfigError, match=option) as info:
        transcript_of(Word("a", 0.0, 1.0)).to_srt(**{option: value})
    assert info.value.option == option
    with pytest.raises(ConfigError, match=option):
        CueOptions(**{option: value})  # type: ignore[arg-type]


def test_options_must_be_cue_options() -> None:
    with pytest.raises(ConfigError, match="CueOptions") as info:
        transcript_of(Word("a", 0.0, 1.0)).to_srt({"max_lines": 1})  # type: ignore[arg-type]
    assert info.value.option == "options"


def test_cues_never_go_back_in_time() -> None:
    """Out-of-order and negative word times give cues in time order, none below zero."""
    transcript = transcript_of(
        Word("late", 5.0, 6.0, speaker_id="a"), Word("early", -3.0, -2.0, speaker_id="b"),
    )
    cues = transcript.cues()
    assert [(c.start, c.end) for c in cues] == [(5.0, 6.0), (5.0, 5.0)]


ANY_TEXT = st.text(st.characters(codec=None), max_size=12)
ANY_TIME = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                     st.floats(-10, 100))
ANY_WORD = st.builds(
    Word, text=ANY_TEXT, start=ANY_TIME, end=ANY_TIME,
    type=st.sampled_from(["word", "spacing", "audio_event"]),
    logprob=st.one_of(st.none(), st.floats()),
    speaker_id=st.one_of(st.none(), ANY_TEXT),
)


@given(segments=st.lists(st.lists(ANY_WORD, max_size=8), min_size=1, max_size=4),
       max_chars=st.integers(1, 50), max_lines=st.integers(1, 3))
def test_any_words_render_to_valid_srt_vtt_and_strict_json(
    segments: list[list[Word]], max_chars: int, max_lines: int
) -> None:
    """Whatever the words, every format renders; JSON parses strictly, SRT parses back into
    as many cues as there are, with times that never go backwards."""
    transcript = Transcript.from_events(
        CommittedTranscriptWithTimestamps(text="".join(w.text for w in words) or "x",
                                          words=tuple(words))
        for words in segments
    )
    options = CueOptions(max_chars_per_line=max_chars, max_lines=max_lines)
    srt = transcript.render("srt", options)
    vtt = transcript.render("vtt", options)
    strict_json(transcript.render("json"))
    transcript.render("text").encode("utf-8")
    for rendered in (srt, vtt):
        rendered.encode("utf-8")
    cues = transcript.cues(options)
    parsed = srt_cues(srt) if srt else []
    assert len(parsed) == len(cues)
    previous = 0.0
    for start, end, _ in parsed:
        assert previous <= start <= end
        previous = start
    vtt_blocks = vtt.split("\n\n")
    assert len(vtt_blocks) == len(cues) + 1
    for block in vtt_blocks[1:]:
        _, *text = block.strip("\n").split("\n")
        assert text and not any("-->" in line for line in text)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(NAN, "00:00:00,000"), (-INF, "00:00:00,000"), (-1.0, "00:00:00,000"),
     (INF, "277777:46:40,000"), (1e300, "277777:46:40,000"), (3723.4567, "01:02:03,457")],
)
def test_format_timestamp_never_raises(seconds: float, expected: str) -> None:
    assert format_timestamp(seconds) == expected


def test_write_in_place_when_the_directory_is_read_only(tmp_path: pathlib.Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A writable file in a directory where no temporary file can be made is still written."""
    path = tmp_path / "out.txt"
    path.write_text("previous content\n", encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    transcript_of(Word("new", 0.0, 1.0)).write(path)
    assert path.read_text(encoding="utf-8") == "new\n"
