"""Scripted utterances: partials reveal, the commit after the speech delivers the whole
utterance, a commit in the middle of it only what the word clock reached (G1)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from mock_server import MockServer, Scenario
from mock_server.__main__ import build_parser, settings_from_args
from mock_server.script import Utterance, load_script, parse_script
from mock_server.testing import Peer, chunk, silence, speech

SCRIPT = ["the quick brown fox jumps over the lazy dog", "S2|fr: bonjour tout le monde"]


def _segment(peer: Peer, audio: bytes) -> tuple[list[str], dict[str, Any]]:
    """Send audio, commit; the partials seen and the committed transcript."""
    start = len(peer.received)
    peer.send_audio(audio)
    peer.commit()
    committed = peer.recv_until("committed_transcript")
    partials = [m["text"] for m in peer.received[start:]
                if m.get("message_type") == "partial_transcript"]
    return partials, committed


def test_commit_delivers_the_whole_utterance_and_partials_reveal_it() -> None:
    """2.4 s of speech reveals 6 words at most, yet the commit gives all nine."""
    with MockServer(transcript=SCRIPT, echo_partial=False, warmup_secs=0.0) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        partials, committed = _segment(peer, speech(2.4) + silence(0.2))
        assert committed["text"] == SCRIPT[0]
        assert partials and all(SCRIPT[0].startswith(p) for p in partials)
        assert len(partials[-1].split()) <= 6
        peer.close()


def test_word_times_spread_over_the_committed_speech() -> None:
    """Word times cover the speech of the segment, in order, on the session clock."""
    with MockServer(transcript=SCRIPT, echo_partial=False) as server:
        peer = Peer(server, {"include_timestamps": True})
        peer.recv_until("session_started")
        peer.send_audio(silence(0.5) + speech(2.0) + silence(0.5))
        peer.commit()
        words = [w for w in peer.recv_until("committed_transcript_with_timestamps")["words"]
                 if w["type"] == "word"]
        assert [w["text"] for w in words] == SCRIPT[0].split()
        assert words[0]["start"] == pytest.approx(0.5, abs=0.03)
        assert words[-1]["end"] == pytest.approx(2.5, abs=0.03)
        assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(words))
        peer.close()


def test_silence_commit_consumes_nothing_and_the_script_runs_out() -> None:
    """A commit over silence is ""; speech takes the next utterance; then nothing is left."""
    with MockServer(transcript=SCRIPT, echo_partial=False) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        assert _segment(peer, silence(0.5))[1]["text"] == ""
        assert _segment(peer, speech(0.6) + silence(0.1))[1]["text"] == SCRIPT[0]
        assert _segment(peer, silence(0.5))[1]["text"] == ""
        assert _segment(peer, speech(0.6) + silence(0.1))[1]["text"] == "bonjour tout le monde"
        assert _segment(peer, speech(1.0))[1]["text"] == ""  # the script is used up
        peer.close()


def test_vad_commit_delivers_the_utterance() -> None:
    """The VAD commit ending the speech gives the whole utterance, then the next one."""
    with MockServer(transcript=SCRIPT, echo_partial=False) as server:
        peer = Peer(server, {"commit_strategy": "vad", "vad_silence_threshold_secs": 0.5})
        peer.recv_until("session_started")
        peer.send_audio(speech(0.8) + silence(0.7) + speech(0.8) + silence(0.7))
        first = peer.recv_until("committed_transcript")
        second = peer.recv_until("committed_transcript")
        assert [first["text"], second["text"]] == [SCRIPT[0], "bonjour tout le monde"]
        peer.close()


def test_script_forms() -> None:
    """A string is one utterance; prefixes and JSON fields give speaker and language."""
    assert parse_script("note: hello world") == (Utterance("note: hello world"),)
    assert parse_script(SCRIPT) == (
        Utterance(SCRIPT[0]), Utterance("bonjour tout le monde", "S2", "fr"))
    assert parse_script([{"text": "hallo", "language": "de"}, "S1: hi", "|es: hola"]) == (
        Utterance("hallo", language="de"), Utterance("hi", "S1"), Utterance("hola", None, "es"))
    assert load_script("one\n\n S3|en: two \n") == (Utterance("one"), Utterance("two", "S3", "en"))
    assert load_script('["a b", {"text": "c", "speaker": "S1"}]') == (
        Utterance("a b"), Utterance("c", "S1"))
    with pytest.raises(ValueError, match="needs a string 'text'"):
        parse_script([{"words": "x"}])
    scenario = Scenario(transcript=SCRIPT)
    assert Scenario.from_dict(json.loads(json.dumps(scenario.to_dict()))) == scenario


def test_cli_transcript_file_is_one_utterance_per_line(tmp_path: Path) -> None:
    """scribe-mock --transcript @FILE reads one utterance per line (or a JSON list)."""
    lines = tmp_path / "lines.txt"
    lines.write_text("hello world\nS1|fr: bonjour\n")
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(["a b", {"text": "c", "speaker": "S2"}]))
    parser = build_parser()
    for value, expected in [
        (f"@{lines}", (Utterance("hello world"), Utterance("bonjour", "S1", "fr"))),
        (f"@{listed}", (Utterance("a b"), Utterance("c", "S2"))),
        ("just one utterance", (Utterance("just one utterance"),)),
    ]:
        settings = settings_from_args(parser.parse_args(["--transcript", value]))
        assert settings["transcript"] == expected


def test_empty_chunk_commit_after_speech_is_the_same_as_with_audio() -> None:
    """Commit in its own empty chunk or on the last audio chunk: the same utterance."""
    with MockServer(transcript=SCRIPT, echo_partial=False) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send(chunk(speech(0.6) + silence(0.1), commit=True))
        assert peer.recv_until("committed_transcript")["text"] == SCRIPT[0]
        peer.close()


@pytest.mark.parametrize(("previous_text", "expected"), [
    (None, "one two"),  # a new session starts the script
    ("one two", "three"),  # a replacement connection resumes after what was committed
    ("  one   two ", "three"),  # whitespace-normalised
    ("two three", "four"),  # the client's context is the end of the committed text
    ("unrelated words", "one two"),  # no match: no change
    ("wo", "one two"),  # only at a word boundary
])
def test_previous_text_on_the_first_chunk_resumes_the_script(
    previous_text: str | None, expected: str
) -> None:
    """How a reconnecting client continues a scripted transcript: its first chunk's
    previous_text says what was already committed."""
    with MockServer(transcript=["one two", "three", "four"], echo_partial=False) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        extra = {} if previous_text is None else {"previous_text": previous_text}
        peer.send(chunk(b"", **extra))
        _, committed = _segment(peer, speech(0.8) + silence(0.2))
        assert committed["text"] == expected
        peer.close()


def test_resuming_a_script_with_repeated_utterances_takes_the_first_match() -> None:
    """("alpha", "alpha", "beta") after one "alpha" resumes at the second one."""
    with MockServer(transcript=["alpha", "alpha", "beta"], echo_partial=False) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send(chunk(b"", previous_text="alpha"))
        texts = [_segment(peer, speech(0.5, seed=i) + silence(0.2))[1]["text"] for i in (1, 2)]
        assert texts == ["alpha", "beta"]
        peer.close()


def test_an_inline_json_list_is_a_script(tmp_path: Any) -> None:
    """--transcript '["a", "b"]' gives two utterances, as @FILE with that list does (G13)."""
    args = build_parser().parse_args(["--transcript", '["hello there", "S2|fr: bonjour"]'])
    script = settings_from_args(args)["transcript"]
    assert [u.text for u in script] == ["hello there", "bonjour"]
    assert script[1].speaker == "S2" and script[1].language == "fr"
    path = tmp_path / "script.json"
    path.write_text('["hello there", "S2|fr: bonjour"]')
    from_file = settings_from_args(build_parser().parse_args(["--transcript", f"@{path}"]))
    assert from_file["transcript"] == script


def test_a_commit_in_the_middle_of_an_utterance_returns_the_words_reached() -> None:
    """1.0 s of speech and a commit gives the two words the clock reached; 1.8 s more gives
    the next four; the rest comes with the next speech, and only then the next utterance."""
    with MockServer(transcript=SCRIPT, echo_partial=False) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        texts = []
        for seconds in (1.0, 1.8):
            peer.send_audio(speech(seconds, seed=int(seconds * 10)))
            peer.commit()
            texts.append(peer.recv_until("committed_transcript")["text"])
        assert texts == ["the quick", "brown fox jumps over"]
        _, committed = _segment(peer, speech(0.8, seed=3) + silence(0.5))
        assert committed["text"] == "the lazy dog"  # speech ended: the rest, whole
        _, committed = _segment(peer, speech(0.8, seed=4) + silence(0.5))
        assert committed["text"] == "bonjour tout le monde"
        peer.close()


def test_a_cut_carries_the_word_times_on_the_session_clock() -> None:
    """The words after a cut start after the cut's words end (no text moves back)."""
    with MockServer(transcript=SCRIPT, echo_partial=False) as server:
        peer = Peer(server, {"include_timestamps": True})
        peer.recv_until("session_started")
        peer.send_audio(speech(1.2))
        peer.commit()
        first = peer.recv_until("committed_transcript_with_timestamps")["words"]
        peer.send_audio(speech(1.0, seed=1) + silence(0.5))
        peer.commit()
        second = peer.recv_until("committed_transcript_with_timestamps")["words"]
        first_words = [w for w in first if w["type"] == "word"]
        second_words = [w for w in second if w["type"] == "word"]
        assert [w["text"] for w in first_words + second_words] == SCRIPT[0].split()
        assert first_words[-1]["end"] <= second_words[0]["start"]
        peer.close()
