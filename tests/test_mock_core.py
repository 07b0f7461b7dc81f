"""Core behaviour of the mock server through real WebSocket connections."""

from __future__ import annotations

import hashlib
import re

import pytest

from mock_server import MockServer
from mock_server.testing import Peer, chunk, silence, speech

CONFIG_KEYS = [
    "sample_rate", "audio_format", "language_code", "secondary_languages",
    "timestamps_granularity", "vad_commit_strategy", "vad_silence_threshold_secs",
    "vad_threshold", "min_speech_duration_ms", "min_silence_duration_ms",
    "max_tokens_to_recompute", "model_id", "disable_logging", "include_timestamps",
    "include_language_detection", "filter_background_audio", "keyterms", "no_verbatim",
    "entity_detection",
]


def test_session_started_live_form(scribe_mock: MockServer) -> None:
    """session_started has a 32-hex id and the live config keys in the live order."""
    peer = Peer(scribe_mock)
    started = peer.recv()
    assert started is not None
    assert started["message_type"] == "session_started"
    assert re.fullmatch(r"[0-9a-f]{32}", started["session_id"])
    assert list(started["config"]) == CONFIG_KEYS
    assert started["config"]["sample_rate"] == 16000
    assert started["config"]["vad_commit_strategy"] is False
    peer.close()


def test_bad_key_gets_auth_error_after_open() -> None:
    """A key outside api_keys opens the socket, then auth_error and close 1000 ''."""
    with MockServer(api_keys=["good"]) as server:
        peer = Peer(server, api_key="bad")
        assert peer.recv_all() == [
            {"message_type": "auth_error",
             "error": "You must be authenticated to use this endpoint."}
        ]
        assert (peer.close_code, peer.close_reason) == (1000, "")


def test_commit_gives_committed_transcript_and_journal_digest(scribe_mock: MockServer) -> None:
    """A manual commit answers committed_transcript; the journal holds the audio digest."""
    audio = speech(1.0, seed=1) + silence(0.2)
    peer = Peer(scribe_mock)
    peer.recv_until("session_started")
    peer.send_audio(audio)
    peer.commit()
    committed = peer.recv_until("committed_transcript")
    assert len(committed["text"].split()) == 3  # 1.0 s of speech at 400 ms per word
    peer.close()
    record = scribe_mock.wait_idle()[0]
    assert record.audio_bytes == len(audio)
    assert record.audio_sha256 == hashlib.sha256(audio).hexdigest()
    assert record.commits == 1


def test_invalid_model_closes_1008(scribe_mock: MockServer) -> None:
    """An unknown model_id gets the live invalid_request text and close 1008."""
    peer = Peer(scribe_mock, {"model_id": "scribe_realtime_v2"})
    assert peer.recv_all() == [{
        "message_type": "invalid_request",
        "error": "The model_id 'scribe_realtime_v2' is invalid. Supported models: "
        "'scribe_v2_realtime', 'scribe_v2_realtime_turbo', 'scribe_v2_realtime_lite'.",
    }]
    assert (peer.close_code, peer.close_reason) == (1008, "invalid_request")


def test_commit_throttled_below_min(scribe_mock: MockServer) -> None:
    """A commit with 0.20 s uncommitted gets the live commit_throttled text, close 1000."""
    peer = Peer(scribe_mock)
    peer.recv_until("session_started")
    peer.send(chunk(speech(0.2), commit=True))
    assert peer.recv_all() == [{
        "message_type": "commit_throttled",
        "error": "Commit request ignored: only 0.20s of uncommitted audio. "
        "You need at least 0.3s of uncommitted audio before committing.",
    }]
    assert (peer.close_code, peer.close_reason) == (1000, "commit_throttled")


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        ('{"message_type":"commit"}', "Unexpected message type: commit"),
        ('{"audio": "AAAA"}', "Message must be a valid protocol message"),
        ("not json", "Message must be a valid protocol message"),
        ('{"message_type":"input_audio_chunk","audio_base_64":"@@@"}',
         "Message must be a valid protocol message"),
    ],
)
def test_input_error_does_not_close(scribe_mock: MockServer, frame: str, text: str) -> None:
    """A malformed frame gets input_error with the live text and the session continues."""
    peer = Peer(scribe_mock)
    peer.recv_until("session_started")
    peer.send(frame)
    assert peer.recv() == {"message_type": "input_error", "error": text}
    peer.send_audio(speech(0.5))
    peer.commit()
    peer.recv_until("committed_transcript")
    peer.close()
