"""Scenarios and faults: scripted errors, network faults, selection per key, random mode."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import websocket

from mock_server import Delay, MockServer, RandomFaults, Scenario
from mock_server.faults import (
    BinaryFault,
    CloseFault,
    DropFault,
    DuplicateCommit,
    ErrorFault,
    GarbageFault,
    ReorderCommit,
    SendFault,
    StallFault,
)
from mock_server.scenarios import DEFAULT_ERROR_TEXTS, ERROR_TYPES
from mock_server.testing import Peer, chunk, silence, speech


def _types(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("message_type", "?") for m in messages]


@pytest.mark.parametrize("error_type", ERROR_TYPES)
def test_every_error_type_at_connect(error_type: str) -> None:
    """Each error type can be sent at connect, before session_started, then a close."""
    scenario = Scenario(faults=[ErrorFault(when="connect", error_type=error_type)])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        assert peer.recv_all() == [
            {"message_type": error_type, "error": DEFAULT_ERROR_TEXTS[error_type]}
        ]
        expected_code = 1008 if error_type == "invalid_request" else 1000
        assert peer.close_code == expected_code
    assert server.sessions()[0].session_id is None


def test_error_after_n_chunks_without_close() -> None:
    """An error after the 3rd chunk, not closing: the session continues."""
    scenario = Scenario(faults=[ErrorFault(when="chunks", count=3,
                                      error_type="transcriber_error", message="boom",
                                      close=False)])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send_audio(speech(0.5), chunk_bytes=3200)  # 5 chunks
        assert peer.recv() == {"message_type": "transcriber_error", "error": "boom"}
        peer.commit()
        peer.recv_until("committed_transcript")
        peer.close()
        record = server.wait_idle()[0]
        frames = [(f.direction, f.message_type) for f in record.frames]
        assert frames.index(("out", "transcriber_error")) == 4  # started, 3 chunks in, error


def test_error_after_seconds_of_audio() -> None:
    """quota_exceeded once 1.0 s of audio arrived, after session_started, then close."""
    scenario = Scenario(faults=[ErrorFault(when="audio", seconds=1.0,
                                      error_type="quota_exceeded")])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send_audio(silence(1.5), chunk_bytes=6400)
        messages = peer.recv_all()
        assert messages == [{"message_type": "quota_exceeded",
                             "error": "You have exceeded your quota."}]
        assert (peer.close_code, peer.close_reason) == (1000, "quota_exceeded")
        assert server.wait_idle()[0].audio_bytes == 32000


def test_error_after_nth_commit_with_custom_close() -> None:
    """After the 2nd commit is answered: an error and a chosen close code and reason."""
    scenario = Scenario(faults=[ErrorFault(when="commit", count=2,
                                      error_type="resource_exhausted", code=1011,
                                      reason="overloaded")])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        for _ in range(2):
            peer.send(chunk(silence(0.4), commit=True))
        messages = peer.recv_all()
        assert _types(messages) == ["committed_transcript", "committed_transcript",
                                    "resource_exhausted"]
        assert (peer.close_code, peer.close_reason) == (1011, "overloaded")


def test_drop_without_close_frame() -> None:
    """'drop' aborts TCP: the client sees no close frame."""
    scenario = Scenario(faults=[DropFault(when="chunks", count=1)])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send(chunk(silence(0.1)))
        assert peer.recv() is None  # the connection ended...
        assert peer.close_code == 1006  # ...without a close frame
        peer.close()
        assert server.wait_idle()[0].close_code == 1006


def test_close_with_code_at_start() -> None:
    """'close' right after session_started with a chosen code and reason."""
    scenario = Scenario(faults=[CloseFault(when="start", code=1011, reason="bye")])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        assert _types(peer.recv_all()) == ["session_started"]
        assert (peer.close_code, peer.close_reason) == (1011, "bye")
        record = server.wait_idle()[0]
        assert (record.close_code, record.close_reason) == (1011, "bye")


def test_garbage_binary_and_unknown_messages() -> None:
    """Garbage text, a binary frame and an unknown message type are sent on demand."""
    scenario = Scenario(faults=[
        GarbageFault(when="start"),
        BinaryFault(when="start", data="xyz"),
        SendFault(when="start", payload={"message_type": "warning",
                                                    "warning": "new"}),
        SendFault(when="start"),
    ])
    with MockServer(scenario=scenario) as server:
        url = server.ws_url + "?model_id=scribe_v2_realtime"
        ws = websocket.create_connection(url, header=["xi-api-key: k"])
        assert json.loads(ws.recv())["message_type"] == "session_started"
        assert ws.recv() == "\u0000garbage{not json"
        assert ws.recv() == b"xyz"
        assert json.loads(ws.recv()) == {"message_type": "warning", "warning": "new"}
        assert json.loads(ws.recv()) == {"message_type": "mock_unknown_event"}
        ws.close()


def _answers(server: MockServer, params: dict[str, Any], commits: int) -> list[dict[str, Any]]:
    """Send `commits` segments of speech, each committed; every message until the close."""
    peer = Peer(server, params)
    peer.recv_until("session_started")
    for k in range(commits):
        peer.send_audio(speech(0.8, seed=k))
        peer.commit()
    peer.send(chunk(silence(0.4), commit=True))
    marker = peer.recv_until("committed_transcript")
    while marker["text"] != "":
        marker = peer.recv_until("committed_transcript")
    if params.get("include_timestamps"):
        peer.recv_until("committed_transcript_with_timestamps")
    peer.close()
    return [m for m in peer.received if m.get("message_type", "").startswith("committed")]


def test_duplicate_commit_repeats_the_answer_with_the_same_word_times() -> None:
    """duplicate_commit sends the 1st answer twice; the repeat's words have the same times."""
    scenario = Scenario(faults=[DuplicateCommit(when="commit", count=1)])
    with MockServer(scenario=scenario, echo_partial=False) as server:
        answers = _answers(server, {"include_timestamps": True}, 2)
    assert _types(answers) == [
        "committed_transcript", "committed_transcript_with_timestamps",
        "committed_transcript", "committed_transcript_with_timestamps",
        "committed_transcript", "committed_transcript_with_timestamps",
        "committed_transcript", "committed_transcript_with_timestamps",
    ]
    first, repeat, second = answers[1], answers[3], answers[5]
    assert repeat == first and first["words"]
    # How a client tells a repeat from a new segment: a new segment's first word starts no
    # earlier than the previous answer's last word ends; a repeat's starts before that.
    assert second["words"][0]["start"] >= first["words"][-1]["end"]
    assert repeat["words"][0]["start"] < first["words"][-1]["end"]


def test_duplicate_commit_without_word_times_is_inert() -> None:
    """Without timestamps a repeat could not be told from the next answer: none is sent."""
    scenario = Scenario(faults=[DuplicateCommit(when="commit", count=1)])
    with MockServer(scenario=scenario, echo_partial=False) as server:
        answers = _answers(server, {}, 2)
    assert _types(answers) == ["committed_transcript"] * 3


@pytest.mark.parametrize("timestamps", [True, False])
def test_reorder_commit_swaps_the_pair_and_never_duplicates(timestamps: bool) -> None:
    """reorder_commit puts the timestamped twin first; without a twin nothing changes."""
    scenario = Scenario(faults=[ReorderCommit(when="commit", count=1)])
    with MockServer(scenario=scenario, echo_partial=False) as server:
        answers = _answers(server, {"include_timestamps": timestamps}, 1)
    if timestamps:
        assert _types(answers) == [
            "committed_transcript_with_timestamps", "committed_transcript",
            "committed_transcript", "committed_transcript_with_timestamps",
        ]
        assert answers[0]["text"] == answers[1]["text"] != ""
    else:
        assert _types(answers) == ["committed_transcript"] * 2


def test_stall_stops_answering_but_keeps_reading() -> None:
    """After 'stall' the mock journals input but sends nothing more."""
    scenario = Scenario(faults=[StallFault(when="chunks", count=1)])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send(chunk(silence(0.5)))
        peer.send(chunk(b"", commit=True))
        records = server.wait_for(lambda rs: bool(rs) and rs[0].chunks == 2)
        assert [f.message_type for f in records[0].frames if f.direction == "out"] == [
            "session_started"
        ]
        peer.close()


def test_a_second_stall_on_a_stalled_session_sends_nothing() -> None:
    """A stall armed for a later commit fires on a session already stalled: still nothing goes
    out (the mock once let that commit's answer through, covering every commit since)."""
    scenario = Scenario(faults=[StallFault(when="chunks", count=1),
                                StallFault(when="commit", count=2)])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        for _ in range(2):
            peer.send_audio(speech(0.4))
            peer.commit()
        # 2 x (4 chunks of 0.1 s + the commit's chunk): every frame read and journaled.
        records = server.wait_for(lambda rs: bool(rs) and rs[0].chunks == 10)
        assert [f.message_type for f in records[0].frames if f.direction == "out"] == [
            "session_started"
        ]
        peer.close()


def test_delay_preserves_order_and_is_journaled() -> None:
    """Delayed messages keep their order; the journal shows them sent after the commit."""
    scenario = Scenario(delay=Delay(fixed_secs=0.05, jitter_secs=0.05, seed=3,
                                    message_types=["committed_transcript"]))
    with MockServer(scenario=scenario, echo_partial=True) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        for _ in range(3):
            peer.send_audio(speech(0.4))
            peer.commit()
        received = []
        while len(received) < 6:
            message = peer.recv()
            assert message is not None
            received.append(message["message_type"])
        assert received == ["committed_transcript", "partial_transcript"] * 3
        peer.close()


def test_scenario_per_api_key_and_per_session() -> None:
    """A scenario picked by the API key; 'session' limits a fault to the n-th session."""
    flaky = Scenario(name="flaky", faults=[
        ErrorFault(when="connect", error_type="resource_exhausted", session=1)
    ])
    with MockServer(key_scenarios={"flaky-key": flaky}) as server:
        first = Peer(server, api_key="flaky-key")
        assert _types(first.recv_all()) == ["resource_exhausted"]
        second = Peer(server, api_key="flaky-key")
        second.recv_until("session_started")
        plain = Peer(server, api_key="other-key")
        plain.recv_until("session_started")
        second.close()
        plain.close()
        records = server.wait_idle(count=3)
        assert [r.scenario for r in records] == ["flaky", "flaky", None]


def test_scenario_from_json_file_with_transcript(tmp_path: Path) -> None:
    """A scenario JSON file can give the transcript and faults."""
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({
        "name": "file", "transcript": "from a file",
        "faults": [{"action": "error", "when": "commit", "count": 1,
                    "error_type": "error", "message": "late"}],
    }))
    with MockServer(scenario=str(path)) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.send_audio(speech(1.2))
        peer.commit()
        assert _types(peer.recv_all()) == ["committed_transcript", "partial_transcript", "error"]
        assert peer.received[-3]["text"] == "from a file"


def _random_run(seed: int) -> list[str]:
    scenario = Scenario(random_faults=RandomFaults(seed=seed, rate=0.2,
                                                   actions=("garbage", "send")))
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        for _ in range(30):
            peer.send(chunk(silence(0.02)))
        peer.send(chunk(b"", commit=True))
        peer.recv_until("committed_transcript")
        peer.close()
        record = server.wait_idle()[0]
    return [str(f.data) for f in record.frames if f.direction == "out"][1:]


def test_random_faults_are_reproducible() -> None:
    """The seeded random-fault mode injects the same faults for the same seed."""
    first, again, other = _random_run(1), _random_run(1), _random_run(2)
    assert first == again
    assert len(first) > 2
    assert first != other


def test_one_broken_session_does_not_affect_another() -> None:
    """A dropped session next to a healthy one: the healthy one completes."""
    broken = Scenario(faults=[DropFault(when="chunks", count=1)])
    with MockServer(key_scenarios={"broken": broken}) as server:
        healthy = Peer(server, api_key="fine")
        healthy.recv_until("session_started")
        bad = Peer(server, api_key="broken")
        bad.recv_until("session_started")
        bad.send(chunk(silence(0.1)))
        server.wait_for(lambda rs: any(r.close_code == 1006 for r in rs))
        healthy.send_audio(speech(0.8))
        healthy.commit()
        healthy.recv_until("committed_transcript")
        healthy.close()
        bad.close()


def test_raw_tcp_garbage_does_not_hurt_the_server(scribe_mock: MockServer) -> None:
    """A non-HTTP client gets 400 and is disconnected; the server keeps serving."""
    with socket.create_connection((scribe_mock.host, scribe_mock.port)) as raw:
        raw.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        answer = b""
        while chunk_ := raw.recv(4096):  # read until the server closes the connection
            answer += chunk_
        assert answer.startswith((b"HTTP/1.0 400 ", b"HTTP/1.1 400 "))
    peer = Peer(scribe_mock)
    peer.recv_until("session_started")
    peer.close()


def test_stall_at_connect_is_a_black_hole() -> None:
    """A stall at connect: the socket opens but session_started never comes."""
    scenario = Scenario(faults=[StallFault(when="connect")])
    with MockServer(scenario=scenario) as server:
        peer = Peer(server)
        peer.send(chunk(silence(0.1), commit=True))
        records = server.wait_for(lambda rs: bool(rs) and rs[0].chunks == 1)
        assert records[0].session_id is None
        assert [f for f in records[0].frames if f.direction == "out"] == []
        peer.close()


def test_a_delayed_error_and_its_close_keep_their_order() -> None:
    """With a scenario delay, frames queued before a close still go out, then the close with
    its reason (the sender once stopped after the first frame once a close was queued, so an
    error at connect became a bare close 1000, found by examples/test_captions_property.py)."""
    faults = (GarbageFault(when="connect"),
              ErrorFault(when="connect", error_type="transcriber_error"))
    scenario = Scenario(faults=faults, delay=Delay(fixed_secs=0.01))
    with MockServer(scenario=scenario) as server, Peer(server) as peer:
        received = peer.recv_all()
        assert [m.get("message_type", "text_frame" in m) for m in received] == [
            True, "transcriber_error"]
        assert (peer.close_code, peer.close_reason) == (1000, "transcriber_error")


def test_random_faults_do_not_draw_duplicate_commit_unless_asked() -> None:
    """By default RandomFaults draws only faults every stream can see; duplicate_commit (inert
    without word timestamps) is drawn only when named."""
    import random

    from mock_server.faults import DuplicateCommit, RandomFaults

    default = RandomFaults(rate=1.0)
    assert "duplicate_commit" not in default.actions
    rng = random.Random(0)
    assert not any(isinstance(default.draw(rng), DuplicateCommit) for _ in range(500))
    chosen = RandomFaults(rate=1.0, actions=["duplicate_commit"])
    assert isinstance(chosen.draw(rng), DuplicateCommit)


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015, 2000])
def test_a_scripted_close_with_a_code_no_close_frame_carries_is_refused(code: int) -> None:
    """The client treats such a close as a protocol violation (RFC 6455 §7.4.1): a scenario
    that sends one would test a server that cannot exist."""
    from mock_server import load_scenario
    from mock_server.validation import MockConfigError

    for action in ({"action": "close", "when": "start", "code": code},
                   {"action": "error", "when": "start", "error_type": "quota_exceeded",
                    "code": code}):
        with pytest.raises(MockConfigError, match="1000-1003, 1007-1014 or 3000-4999"):
            load_scenario({"faults": [action]})
    load_scenario({"faults": [{"action": "close", "when": "start", "code": 4000}]})
