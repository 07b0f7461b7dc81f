"""Session rules of the mock (docs/protocol.md §2-§6) through real WebSocket connections."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import websocket

from mock_server import MockServer
from mock_server.testing import Peer, chunk, pcm16_to_ulaw, silence, speech, tone


@pytest.fixture
def server() -> Any:
    with MockServer(idle_timeout_secs=None) as mock:
        yield mock


def _rejection(server: MockServer, params: Any) -> tuple[list[dict[str, Any]], Peer]:
    peer = Peer(server, params)
    return peer.recv_all(), peer


@pytest.mark.parametrize(
    ("params", "text"),
    [
        (
            {"keyterms": ["a" * 25]},
            "Each keyterm must be at most 20 characters. "
            "'aaaaaaaaaaaaaaaaaaaaaaaaa' is 25 characters.",
        ),
        (
            {"keyterms": [f"k{i}" for i in range(51)]},
            "Number of keyterms cannot exceed 50. You provided 51 keyterms.",
        ),
        (
            {"filter_background_audio": True, "include_timestamps": True},
            "filter_background_audio cannot be combined with include_timestamps. "
            "This will be supported in a future update.",
        ),
        (
            {"model_id": None},
            "The model_id '' is invalid. Supported models: 'scribe_v2_realtime', "
            "'scribe_v2_realtime_turbo', 'scribe_v2_realtime_lite'.",
        ),
    ],
)
def test_invalid_params_live_texts(server: MockServer, params: Any, text: str) -> None:
    """Invalid parameters: invalid_request with the live text, close 1008, no session."""
    if params.get("model_id", "") is None:
        params = [("audio_format", "pcm_16000")]
    messages, peer = _rejection(server, params)
    assert messages == [{"message_type": "invalid_request", "error": text}]
    assert (peer.close_code, peer.close_reason) == (1008, "invalid_request")
    assert server.wait_idle()[0].session_id is None


@pytest.mark.parametrize(
    "params",
    [
        {"audio_format": "pcm_11025"},
        {"commit_strategy": "sometimes"},
        {"vad_silence_threshold_secs": "3.5"},
        {"vad_threshold": "0.05"},
        {"min_speech_duration_ms": "40"},
        {"min_silence_duration_ms": "2001"},
        {"include_timestamps": "yes"},
        {"language_code": "english"},
        {"entity_redaction_mode": "blur"},
        {"transcript_edit": "x" * 2001},
    ],
)
def test_other_invalid_params_close_1008(server: MockServer, params: Any) -> None:
    """Out-of-range or unknown values are rejected with invalid_request and close 1008."""
    messages, peer = _rejection(server, params)
    assert [m["message_type"] for m in messages] == ["invalid_request"]
    assert peer.close_code == 1008


def test_config_echo_normalises_and_ignores_unknown(server: MockServer) -> None:
    """eng echoes as en, vad strategy as a bool, sample_rate follows audio_format,
    unknown parameters are ignored, and '+' means a space."""
    query = (
        "model_id=scribe_v2_realtime&audio_format=pcm_24000&commit_strategy=vad"
        "&language_code=eng&encoding=pcm&keyterms=New+York&enable_logging=false"
        "&vad_silence_threshold_secs=0.5&min_speech_duration_ms=250&entity_detection=pii"
    )
    ws = websocket.create_connection(f"{server.ws_url}?{query}", header=["xi-api-key: k"])
    config = json.loads(ws.recv())["config"]
    ws.close()
    assert config["sample_rate"] == 24000
    assert config["audio_format"] == "pcm_24000"
    assert config["language_code"] == "en"
    assert config["vad_commit_strategy"] is True
    assert config["vad_silence_threshold_secs"] == 0.5
    assert config["min_speech_duration_ms"] == 250
    assert config["keyterms"] == ["New York"]
    assert config["disable_logging"] is True
    assert config["entity_detection"] == ["pii"]


def test_partials_wait_for_warmup_and_carry_whole_hypothesis(server: MockServer) -> None:
    """No partial before 2 s of audio; each partial is the whole segment hypothesis."""
    peer = Peer(server)
    peer.recv_until("session_started")
    peer.send_audio(speech(1.9, seed=5))
    peer.commit()
    messages = []
    while (message := peer.recv()) and message["message_type"] != "committed_transcript":
        messages.append(message)
    assert messages == []  # 1.9 s of audio: still warming up
    assert peer.recv() == {"message_type": "partial_transcript", "text": message["text"]}
    peer.send_audio(speech(3.0, seed=6))
    peer.commit()
    partials = []
    while (message := peer.recv()) and message["message_type"] != "committed_transcript":
        partials.append(message["text"])
    committed = message
    assert partials
    for earlier, later in itertools.pairwise(partials):
        assert later.startswith(earlier)
    assert committed is not None
    assert committed["text"].startswith(partials[-1])
    # At most one partial per 0.3 s of audio.
    assert len(partials) <= 3.0 / 0.3 + 1
    peer.close()


def test_echo_partial_after_commit_is_switchable() -> None:
    """The committed text is echoed as a partial by default, not with echo_partial=False."""
    for echo in (True, False):
        with MockServer(echo_partial=echo) as server:
            peer = Peer(server)
            peer.recv_until("session_started")
            peer.send_audio(speech(1.0))
            peer.commit()
            committed = peer.recv_until("committed_transcript")
            peer.send(chunk(speech(0.5), commit=True))
            following = peer.recv()
            assert following is not None
            if echo:
                assert following == {"message_type": "partial_transcript",
                                     "text": committed["text"]}
            else:
                assert following["message_type"] == "committed_transcript"
            peer.close()


def test_timestamps_on_the_session_clock(server: MockServer) -> None:
    """Words start where speech was detected, on the clock of the whole session."""
    peer = Peer(server, {"include_timestamps": True})
    peer.recv_until("session_started")
    peer.send_audio(silence(1.0) + speech(0.8, seed=2) + silence(0.2))
    peer.commit()
    plain = peer.recv_until("committed_transcript")
    stamped = peer.recv()
    assert stamped is not None
    assert stamped["message_type"] == "committed_transcript_with_timestamps"
    words = stamped["words"]
    assert [w["type"] for w in words] == ["word", "spacing", "word"]
    assert words[0]["start"] == 1.0
    assert words[0]["end"] == 1.4
    assert words[2]["start"] == 1.4
    assert words[2]["end"] == 1.8
    assert words[1] == {"text": " ", "start": 1.4, "end": 1.4, "type": "spacing"}
    assert words[0]["characters"] == list(words[0]["text"])
    assert words[0]["logprob"] <= 0
    assert plain["text"] == f"{words[0]['text']} {words[2]['text']}"
    # A second segment continues the session clock.
    peer.send_audio(speech(0.4, seed=9))
    peer.commit()
    peer.recv_until("committed_transcript")
    second = peer.recv_until("committed_transcript_with_timestamps")
    assert second["words"][0]["start"] == 2.0
    peer.close()


def test_language_detection_alone_sends_timestamped_first_with_null_words(
    server: MockServer,
) -> None:
    """include_language_detection alone: timestamped message first, words null."""
    peer = Peer(server, {"include_language_detection": True})
    peer.recv_until("session_started")
    peer.send_audio(speech(0.8))
    peer.commit()
    first = peer.recv()
    second = peer.recv()
    assert first is not None
    assert second is not None
    assert first["message_type"] == "committed_transcript_with_timestamps"
    assert first["words"] is None
    assert first["language_code"] == "en"
    assert second["message_type"] == "committed_transcript"
    peer.close()


def test_enrichment_messages_follow_the_commit() -> None:
    """entity_detection, entity_redaction and transcript_edit add their messages in order."""
    with MockServer(transcript="call alice at bob@example.com today") as server:
        peer = Peer(
            server,
            {"entity_detection": "all", "entity_redaction": "pii",
             "entity_redaction_mode": "entity_type"},
        )
        peer.recv_until("session_started")
        peer.send_audio(speech(2.0))
        peer.commit()
        committed = peer.recv_until("committed_transcript")
        assert committed["text"] == "call alice at bob@example.com today"
        entities = peer.recv()
        redacted = peer.recv()
        assert entities == {
            "message_type": "committed_transcript_entities",
            "text": committed["text"],
            "entities": [
                {"text": "alice", "entity_type": "person_name", "start_char": 5, "end_char": 10},
                {"text": "bob@example.com", "entity_type": "email_address",
                 "start_char": 14, "end_char": 29},
            ],
        }
        assert redacted == {
            "message_type": "redacted_transcript",
            "text": committed["text"],
            "redacted_text": "call {PERSON_NAME} at {EMAIL_ADDRESS} today",
        }
        peer.close()
        edit = Peer(server, {"transcript_edit": "Fix capitalisation."})
        edit.recv_until("session_started")
        edit.send_audio(speech(0.8))
        edit.commit()
        text = edit.recv_until("committed_transcript")["text"]
        assert edit.recv() == {"message_type": "edited_transcript", "text": text,
                               "edited_text": text}
        edit.close()


def test_default_transcript_depends_on_audio_not_chunking(server: MockServer) -> None:
    """The same audio gives the same text whatever the chunk size; other audio differs."""
    texts = []
    for chunk_bytes, seed in ((3200, 11), (1000, 11), (7777, 11), (3200, 12)):
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send_audio(speech(2.0, seed=seed), chunk_bytes=chunk_bytes)
        peer.commit()
        texts.append(peer.recv_until("committed_transcript")["text"])
        peer.close()
    assert texts[0] == texts[1] == texts[2]
    assert len(texts[0].split()) == 5
    assert texts[3] != texts[0]


def test_silence_commits_to_empty_text(server: MockServer) -> None:
    """A commit of silence gives committed_transcript with ''."""
    peer = Peer(server)
    peer.recv_until("session_started")
    peer.send(chunk(silence(0.5), commit=True))
    assert peer.recv() == {"message_type": "committed_transcript", "text": ""}
    peer.close()


def test_auto_commit_after_uncommitted_audio() -> None:
    """The server commits on its own after auto_commit_secs of uncommitted audio."""
    with MockServer(auto_commit_secs=1.0) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send_audio(speech(1.2))
        committed = peer.recv_until("committed_transcript")
        assert len(committed["text"].split()) == 3  # 2.5 words of speech by 1.0 s
        peer.close()
    assert server.sessions()[0].commits == 1


def test_vad_commits_after_silence_threshold() -> None:
    """VAD commits once silence reaches vad_silence_threshold_secs, not before."""
    with MockServer(idle_timeout_secs=None) as server:
        peer = Peer(server, {"commit_strategy": "vad", "vad_silence_threshold_secs": 0.5})
        peer.recv_until("session_started")
        peer.send_audio(speech(0.8) + silence(0.4))
        peer.send_audio(speech(0.8, seed=4) + silence(0.6))
        committed = peer.recv_until("committed_transcript")
        assert len(committed["text"].split()) == 4  # the 0.4 s pause did not commit
        peer.close()
    assert server.sessions()[0].commits == 1


def test_vad_min_silence_duration_bridges_pauses() -> None:
    """A pause shorter than min_silence_duration_ms stays inside the speech: no VAD commit."""
    with MockServer(idle_timeout_secs=None) as server:
        peer = Peer(server, {"commit_strategy": "vad", "vad_silence_threshold_secs": 0.5,
                             "min_silence_duration_ms": 1500})
        peer.recv_until("session_started")
        peer.send_audio(speech(0.8) + silence(1.0) + speech(0.8) + silence(0.2))
        peer.commit()  # manual commits are honoured in VAD mode too
        committed = peer.recv_until("committed_transcript")
        assert len(committed["text"].split()) >= 4
        peer.close()
    assert server.sessions()[0].commits == 1


def test_vad_min_speech_duration_ignores_clicks() -> None:
    """Bursts shorter than min_speech_duration_ms are not speech."""
    clicks = (speech(0.06) + silence(0.3)) * 5
    for min_speech, expect_words in ((100, False), (50, True)):
        with MockServer(idle_timeout_secs=None, word_ms=100) as server:
            peer = Peer(server, {"min_speech_duration_ms": min_speech})
            peer.recv_until("session_started")
            peer.send_audio(clicks)
            peer.commit()
            text = peer.recv_until("committed_transcript")["text"]
            assert bool(text) is expect_words
            peer.close()


def test_vad_threshold_sets_sensitivity() -> None:
    """Quiet speech (-40 dBFS) is speech at vad_threshold 0.1 but not at 0.9."""
    quiet = tone(1.0, level=0.01)
    for threshold, expect_words in (("0.1", True), ("0.9", False)):
        with MockServer(idle_timeout_secs=None) as server:
            peer = Peer(server, {"vad_threshold": threshold})
            peer.recv_until("session_started")
            peer.send_audio(quiet)
            peer.commit()
            assert bool(peer.recv_until("committed_transcript")["text"]) is expect_words
            peer.close()


def test_vad_on_decoded_ulaw() -> None:
    """ulaw_8000 audio is decoded before VAD: speech then silence makes a VAD commit."""
    with MockServer(idle_timeout_secs=None) as server:
        peer = Peer(server, {"audio_format": "ulaw_8000", "commit_strategy": "vad",
                             "vad_silence_threshold_secs": 0.3})
        peer.recv_until("session_started")
        audio = pcm16_to_ulaw(speech(0.8, rate=8000) + silence(0.5, rate=8000))
        peer.send_audio(audio, chunk_bytes=800, sample_rate=8000)
        committed = peer.recv_until("committed_transcript")
        assert len(committed["text"].split()) == 2
        peer.close()


def test_previous_text_first_chunk_only(server: MockServer) -> None:
    """previous_text is accepted on the first chunk, null anywhere; later it is rejected
    with input_error and that frame's audio is dropped."""
    peer = Peer(server)
    peer.recv_until("session_started")
    peer.send(chunk(speech(0.2), previous_text="Earlier we said"))
    peer.send(chunk(speech(0.2), previous_text=None))
    peer.send(chunk(speech(0.2), previous_text="too late"))
    assert peer.recv() == {
        "message_type": "input_error",
        "error": "previous_text can only be set on the first audio chunk",
    }
    peer.close()
    record = server.wait_idle()[0]
    assert record.audio_bytes == 2 * 6400
    assert record.chunks == 2


def test_sample_rate_mismatch_keeps_the_audio_and_warns_once(server: MockServer) -> None:
    """A chunk whose sample_rate contradicts audio_format: one warning, no audio lost."""
    peer = Peer(server, {"include_timestamps": True})
    peer.recv_until("session_started")
    audio = speech(1.0)
    peer.send_audio(audio, sample_rate=44100)  # ten chunks, all mislabelled
    peer.commit()
    committed = peer.recv_until("committed_transcript")
    peer.close()
    warnings = [m for m in peer.received if m["message_type"] == "warning"]
    assert len(warnings) == 1
    assert "44100" in warnings[0]["warning"] and "pcm_16000" in warnings[0]["warning"]
    assert committed["text"] != ""
    assert not any(m["message_type"] == "input_error" for m in peer.received)
    record = server.wait_idle()[0]
    assert record.audio_bytes == len(audio) and record.chunks == 11


def test_chunk_size_limit() -> None:
    """A chunk over max_chunk_bytes gets chunk_size_exceeded and a close."""
    with MockServer(max_chunk_bytes=32000) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send(chunk(silence(1.0)))
        peer.send(chunk(silence(1.5)))
        messages = peer.recv_all()
        assert [m["message_type"] for m in messages] == ["chunk_size_exceeded"]
        assert (peer.close_code, peer.close_reason) == (1000, "chunk_size_exceeded")


def test_session_time_limit() -> None:
    """After max_session_secs the session ends with session_time_limit_exceeded."""
    with MockServer(max_session_secs=0.2) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        messages = peer.recv_all()
        assert [m["message_type"] for m in messages] == ["session_time_limit_exceeded"]
        assert peer.close_code == 1000


@pytest.mark.parametrize("idle_error", [False, True])
def test_idle_close(idle_error: bool) -> None:
    """No audio for idle_timeout_secs: close 1000, with insufficient_audio_activity if asked."""
    with MockServer(idle_timeout_secs=0.2, idle_error=idle_error) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        messages = peer.recv_all()
        expected = ["insufficient_audio_activity"] if idle_error else []
        assert [m["message_type"] for m in messages] == expected
        assert peer.close_code == 1000
        assert peer.close_reason == ("insufficient_audio_activity" if idle_error else "")


def test_concurrent_sessions_per_key_rate_limited() -> None:
    """A key over max_sessions_per_key gets rate_limited; other keys are unaffected."""
    with MockServer(max_sessions_per_key=1, idle_timeout_secs=None) as server:
        first = Peer(server, api_key="a")
        first.recv_until("session_started")
        second = Peer(server, api_key="a")
        assert [m["message_type"] for m in second.recv_all()] == ["rate_limited"]
        other = Peer(server, api_key="b")
        other.recv_until("session_started")
        first.close()
        other.close()
        server.wait_idle(count=3)
        third = Peer(server, api_key="a")
        third.recv_until("session_started")
        third.close()
