"""Language detection and diarization, from the mock's messages to Transcript and SRT/VTT."""

from __future__ import annotations

import threading
from typing import Any

from mock_server import MockServer
from mock_server.languages import format_language
from mock_server.testing import Peer, silence, speech
from scribe_sync import ScribeClient
from scribe_sync.messages import DiarizedTranscript, SpeakersMerged, Word
from scribe_sync.transcript import Transcript

SCRIPT = ["S1|en: hello there", "S2|fr: bonjour tout le monde", "S1: goodbye"]


def _stamped(server: MockServer, params: dict[str, Any], segments: int) -> list[dict[str, Any]]:
    """The timestamped answer of each of `segments` spoken-and-committed segments."""
    peer = Peer(server, params)
    peer.recv_until("session_started")
    answers = []
    for k in range(segments):
        peer.send_audio(speech(0.6, seed=k) + silence(0.1))
        peer.commit()
        answers.append(peer.recv_until("committed_transcript_with_timestamps"))
    peer.close()
    return answers


def test_language_detection_reports_the_utterance_language() -> None:
    """Each commit reports its utterance's language; an unlabelled one the session's."""
    with MockServer(transcript=SCRIPT) as server:
        answers = _stamped(server, {"include_language_detection": True}, 3)
    assert [a["language_code"] for a in answers] == ["en", "fr", "en"]
    assert all(a["words"] is None for a in answers)  # detection alone: no words (§4.4)


def test_three_letter_codes_on_request() -> None:
    """language_format="iso639-3" gives the "eng" form integrators saw live."""
    with MockServer(transcript=SCRIPT, language_format="iso639-3") as server:
        answers = _stamped(server, {"include_language_detection": True}, 2)
    assert [a["language_code"] for a in answers] == ["eng", "fra"]
    assert format_language("eng", "iso639-1") == "en"
    assert format_language("xx", "iso639-3") == "xx"


def test_without_a_scripted_language_the_candidates_cycle() -> None:
    """language_code, then each secondary language, commit after commit."""
    with MockServer() as server:
        params = {"include_language_detection": True, "language_code": "en",
                  "secondary_languages": ["fr", "deu"]}
        answers = _stamped(server, params, 4)
    assert [a["language_code"] for a in answers] == ["en", "fr", "de", "en"]


def test_diarize_sends_diarized_transcripts_with_speaker_ids() -> None:
    """diarize=true: after each commit's pair, a diarized_transcript with speaker_id on words."""
    with MockServer(transcript=SCRIPT, echo_partial=False) as server:
        peer = Peer(server, {"diarize": True, "include_timestamps": True})
        peer.recv_until("session_started")
        for k in range(2):
            peer.send_audio(speech(0.6, seed=k) + silence(0.1))
            peer.commit()
            peer.recv_until("diarized_transcript")
        peer.close()
    types = [m["message_type"] for m in peer.received[1:]]
    assert types == ["committed_transcript", "committed_transcript_with_timestamps",
                     "diarized_transcript"] * 2
    diarized = [m for m in peer.received if m["message_type"] == "diarized_transcript"]
    assert [d["segment_index"] for d in diarized] == [0, 1]
    assert [d["text"] for d in diarized] == ["hello there", "bonjour tout le monde"]
    speakers = [{w["speaker_id"] for w in d["words"] if w["type"] == "word"} for d in diarized]
    assert speakers == [{"speaker_1"}, {"speaker_2"}]
    assert all(w["speaker_id"] is None for d in diarized for w in d["words"]
               if w["type"] == "spacing")


def test_client_transcript_and_subtitles_carry_speakers_and_languages() -> None:
    """End to end: scribe-sync asks for diarization; Transcript, SRT and WebVTT show speakers."""
    with MockServer(transcript=SCRIPT) as server:
        client = ScribeClient("key", base_url=server.base_url)
        session = client.connect(diarize=True, include_timestamps=True,
                                 include_language_detection=True)

        def sender() -> None:
            for k in range(3):
                session.send_audio(speech(0.8, seed=k) + silence(0.2))
                session.commit()
            session.finish()

        thread = threading.Thread(target=sender, name="test-diarize-sender")
        thread.start()
        events = list(session)
        thread.join(10)
    transcript = Transcript.from_events(events)
    assert [s.speakers for s in transcript.segments] == [
        ("speaker_1",), ("speaker_2",), ("speaker_1",)]
    assert [s.language_code for s in transcript.segments] == ["en", "fr", "en"]
    srt = transcript.to_srt()
    assert "[speaker_1] hello there" in srt and "[speaker_2] bonjour tout le monde" in srt
    vtt = transcript.to_vtt()
    assert "<v speaker_2>bonjour tout le monde" in vtt
    assert transcript.to_dict()["segments"][1]["words"][0]["speaker_id"] == "speaker_2"


def _word(text: str, start: float, speaker: str | None = None) -> Word:
    return Word(text, start, start + 0.4, speaker_id=speaker)


def test_transcript_applies_late_diarization_and_merges_in_arrival_order() -> None:
    """A diarized transcript labels its segment whenever it arrives; merges rename earlier
    uses, chained; cues never mix two speakers."""
    from scribe_sync.messages import CommittedTranscript, CommittedTranscriptWithTimestamps

    words = (_word("yes", 0.0), Word(" ", 0.4, 0.5, type="spacing"), _word("no", 0.5))
    transcript = Transcript.from_events([
        DiarizedTranscript(1, "later", (_word("later", 2.0, "speaker_3"),)),  # before its commit
        CommittedTranscript("yes no"),
        CommittedTranscriptWithTimestamps("yes no", words=words),
        DiarizedTranscript(0, "yes no", (_word("yes", 0.0, "speaker_1"), words[1],
                                         _word("no", 0.5, "speaker_2"))),
        CommittedTranscript("later"),
    ])
    assert [s.speakers for s in transcript.segments] == [("speaker_1", "speaker_2"),
                                                         ("speaker_3",)]
    cues = transcript.cues()
    assert [(c.speaker, c.text) for c in cues] == [
        ("speaker_1", "yes"), ("speaker_2", "no"), ("speaker_3", "later")]
    for event in (SpeakersMerged("speaker_2", "speaker_1"), SpeakersMerged("speaker_1", "x")):
        transcript.add(event)
    assert [s.speakers for s in transcript.segments] == [("x",), ("speaker_3",)]
    assert transcript.to_srt().startswith("1\n00:00:00,000 --> 00:00:00,900\n[x] yes no\n")
    assert "[" not in transcript.to_srt(speaker_labels=False)


def test_cli_writes_speaker_labelled_subtitles() -> None:
    """scribe-sync transcribe --diarize --format vtt labels each cue with its speaker."""
    from tests.test_cli import KEY, SAMPLE, run

    script = ["S1: welcome", "S2: this short recording", "S1: it is streamed", "S2: words"]
    with MockServer(transcript=script) as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "--diarize", "--commit-strategy", "vad",
                   "--vad-silence-threshold-secs", "0.4", "--format", "vtt")
    assert proc.returncode == 0, proc.stderr
    assert "<v speaker_1>welcome" in proc.stdout
    assert "<v speaker_2>this short recording" in proc.stdout
