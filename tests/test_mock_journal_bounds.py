"""The journal holds a bounded amount per frame, whatever a client sends (docs/mock-reference.md,
"Journal memory"): long text is shortened with a note, deep objects are cut, and every export
of the journal stays total."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from mock_server import MockServer
from mock_server._journal_bounds import FRAME_TEXT_LIMIT, MAX_DEPTH
from mock_server.journal import JournalFrame, SessionRecord
from mock_server.testing import Peer, chunk, speech

#: What one kept frame may cost at most in the JSON export: the text limit plus notes.
FRAME_EXPORT_BOUND = FRAME_TEXT_LIMIT + 1024


def _exported_size(frame: JournalFrame) -> int:
    return len(json.dumps(frame.data, ensure_ascii=False))


def _inbound(record: SessionRecord) -> list[JournalFrame]:
    return [f for f in record.frames if f.direction == "in"]


def test_a_long_malformed_frame_is_kept_shortened() -> None:
    """A 2 MB text frame that is not JSON is journaled as its first FRAME_TEXT_LIMIT
    characters and a note of its length; the session goes on."""
    big = "x" * 2_000_000
    with MockServer() as server:
        with Peer(server) as peer:
            peer.recv_until("session_started")
            peer.send(big)
            assert peer.recv_until("input_error")["error"]
        record = server.wait_idle()[0]
    (frame,) = _inbound(record)
    assert frame.size == len(big)
    assert frame.data == "x" * FRAME_TEXT_LIMIT + f"…<{len(big)} characters>"


def test_extra_fields_of_a_valid_chunk_are_kept_within_the_bound() -> None:
    """A valid chunk with a 1 MB extra field and 5000 small ones is accepted; its journal
    entry keeps the protocol fields and stays within the per-frame bound."""
    extra = {"blob": "y" * 1_000_000, **{f"f{n}": n for n in range(5000)}}
    audio = speech(0.5)
    with MockServer() as server:
        with Peer(server) as peer:
            peer.recv_until("session_started")
            peer.send(chunk(audio, **extra))
            peer.commit()
            peer.recv_until("committed_transcript")
        record = server.wait_idle()[0]
    first = _inbound(record)[0]
    assert record.chunks == 2 and record.audio_bytes == len(audio)
    assert first.data["message_type"] == "input_audio_chunk"
    assert first.data["audio_base_64"] == f"<{len(audio)} bytes>"
    assert first.data["blob"].endswith("…<1000000 characters>")
    assert "more fields not kept" in first.data["…"]
    assert _exported_size(first) <= FRAME_EXPORT_BOUND


def test_an_echoed_message_type_is_kept_shortened() -> None:
    """The mock's input_error echoes an unknown message_type; the journal keeps that echo
    (and the frame) shortened, while the client gets the whole text."""
    kind = "z" * 500_000
    with MockServer() as server:
        with Peer(server) as peer:
            peer.recv_until("session_started")
            peer.send(json.dumps({"message_type": kind}))
            assert peer.recv_until("input_error")["error"] == f"Unexpected message type: {kind}"
        record = server.wait_idle()[0]
    assert all(_exported_size(f) <= FRAME_EXPORT_BOUND for f in record.frames)
    (error,) = record.sent("input_error")
    assert error["error"].endswith(f"…<{len(kind) + 25} characters>")


def test_usual_chunks_are_kept_whole() -> None:
    """An ordinary chunk (with previous_text) is journaled field for field."""
    with MockServer() as server:
        with Peer(server) as peer:
            peer.recv_until("session_started")
            peer.send(chunk(speech(0.1), previous_text="hello there"))
        record = server.wait_idle()[0]
    assert _inbound(record)[0].data == {
        "message_type": "input_audio_chunk", "audio_base_64": "<3200 bytes>", "commit": False,
        "sample_rate": 16000, "previous_text": "hello there",
    }


def _get_sessions(server: MockServer) -> tuple[int, Any]:
    url = server.base_url + "/_mock/sessions"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, None


def test_a_deeply_nested_chunk_never_breaks_the_journal_export() -> None:
    """A valid chunk whose extra field nests 900 deep is journaled cut at MAX_DEPTH; the
    admin export and to_dict() still work for every session."""
    depth = 900
    frame = ('{"message_type":"input_audio_chunk","audio_base_64":"","x":'
             + "[" * depth + "]" * depth + "}")
    with MockServer() as server:
        with Peer(server) as peer:
            peer.recv_until("session_started")
            peer.send(frame)
        record = server.wait_idle()[0]
        status, sessions = _get_sessions(server)
    assert status == 200
    assert sessions[0]["chunks"] == 1
    kept = json.dumps(record.to_dict()["frames"][1]["data"]["x"])
    assert f"<nested over {MAX_DEPTH} deep>" in kept


def test_a_deep_scenario_payload_never_breaks_the_journal_export() -> None:
    """A scenario's send fault nesting 600 deep (the mock's own frame, not bounded when
    journaled) is exported cut rather than failing the export."""
    payload: dict[str, Any] = {"message_type": "mock_deep"}
    inner = payload
    for _ in range(600):
        inner["x"] = {}
        inner = inner["x"]
    scenario = {"faults": [{"action": "send", "when": "start", "payload": payload}]}
    with MockServer(scenario=scenario) as server:
        with Peer(server) as peer:
            peer.recv_until("session_started")
        server.wait_idle()
        status, sessions = _get_sessions(server)
    assert status == 200
    (sent,) = [f for f in sessions[0]["frames"] if f["message_type"] == "mock_deep"]
    assert "nested over" in json.dumps(sent["data"])


def test_without_kept_frames_every_frame_is_counted_as_dropped() -> None:
    """With the frame journal off, frames_dropped counts every frame not kept: the client's
    (chunks and a malformed one) and the mock's (session_started, the input_error)."""
    for journal_frames in (0, False, "none"):
        with MockServer(journal_frames=journal_frames) as server:
            with Peer(server) as peer:
                peer.recv_until("session_started")
                peer.send_audio(speech(1.0))  # 10 chunks
                peer.send("not json")
                peer.recv_until("input_error")
            record = server.wait_idle()[0]
        assert record.frames == ()
        assert record.chunks == 10
        assert record.frames_dropped == 1 + 10 + 1 + 1, journal_frames
