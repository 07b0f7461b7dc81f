"""The fault catalogue layered on a replay: the recorded frames, with a scenario's faults at the
same trigger points as on a live mock."""

from __future__ import annotations

import contextlib
import pathlib
from typing import Any

import pytest
import websocket

from mock_server import MockServer, SessionRecord
from mock_server.proxy import RecordingProxy
from mock_server.testing import Peer
from tests.cassette_clients import KEY, scribe_sync_run, segments, upstream

OPTIONS = {"audio_format": "pcm_16000", "commit_strategy": "manual", "include_timestamps": True}


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Two committed segments with timestamps, recorded once for the module."""
    path = tmp_path_factory.mktemp("faults") / "two.jsonl"
    with upstream() as server, RecordingProxy(server.base_url, path) as proxy:
        scribe_sync_run(proxy.base_url, KEY, segments(2), include_timestamps=True)
        proxy.wait_written(1)
    return path


def _replay(cassette: pathlib.Path, scenario: dict[str, Any]) -> SessionRecord:
    """Replay with ``scenario``: send both segments with their commits, then close; the
    journal's record of what the replay sent (instant timing: every frame due before the
    client's close was sent before the server read it)."""
    with MockServer(cassette=cassette, scenario=scenario) as server:
        peer = Peer(server, OPTIONS, api_key="k")
        with contextlib.suppress(OSError, websocket.WebSocketException):
            for audio in segments(2):
                peer.send_audio(audio, chunk_bytes=32000)
                peer.commit()
        with contextlib.suppress(OSError, websocket.WebSocketException):
            peer.ws.close(timeout=2)
        peer.ws.shutdown()
        return server.wait_idle()[0]


def _types(record: SessionRecord) -> list[str]:
    return [m.get("message_type", "?") for m in record.sent()]


def test_without_faults_the_recording_plays_whole(cassette: pathlib.Path) -> None:
    """The baseline: both answers, each plain then stamped."""
    types = _types(_replay(cassette, {}))
    assert types.count("committed_transcript") == 2
    assert types.count("committed_transcript_with_timestamps") == 2


def test_an_error_after_the_first_answer_ends_the_replay(cassette: pathlib.Path) -> None:
    """error at commit 1: the first answer, then quota_exceeded and its close."""
    record = _replay(cassette, {"faults": [{"action": "error", "when": "commit", "count": 1,
                                            "error_type": "quota_exceeded"}]})
    types = _types(record)
    assert types[-3:] == ["committed_transcript", "committed_transcript_with_timestamps",
                          "quota_exceeded"]
    assert types.count("committed_transcript") == 1
    assert (record.close_code, record.close_reason) == (1000, "quota_exceeded")


def test_a_drop_after_a_second_of_audio(cassette: pathlib.Path) -> None:
    """drop at 1 s of audio: the connection is cut before any answer."""
    record = _replay(cassette, {"faults": [{"action": "drop", "when": "audio",
                                            "seconds": 1.0}]})
    assert record.close_code == 1006
    assert "committed_transcript" not in _types(record)


def test_answer_faults_rewrite_the_recorded_answer(cassette: pathlib.Path) -> None:
    """duplicate_commit at commit 2 repeats the second recorded answer; reorder_commit at
    commit 1 swaps the first answer's pair."""
    record = _replay(cassette, {"faults": [
        {"action": "reorder_commit", "when": "commit", "count": 1},
        {"action": "duplicate_commit", "when": "commit", "count": 2}]})
    answers = [t for t in _types(record) if t.startswith("committed")]
    assert answers == ["committed_transcript_with_timestamps", "committed_transcript",
                       "committed_transcript", "committed_transcript_with_timestamps",
                       "committed_transcript", "committed_transcript_with_timestamps"]


def test_a_stall_at_start_sends_nothing_after_session_started(cassette: pathlib.Path) -> None:
    """stall at start: session_started, then silence however much is sent."""
    record = _replay(cassette, {"faults": [{"action": "stall", "when": "start"}]})
    assert _types(record) == ["session_started"]
    assert record.chunks == 6  # four chunks of audio and two commits: read all the same
