"""Replays against hostile cassettes and clients: what goes on the wire is always a valid
WebSocket exchange, and clients that stray from the recording get a clear answer."""

from __future__ import annotations

import json
import pathlib

import pytest

from mock_server import MockServer, RecordingProxy
from mock_server._cassette_cli import main as cassette_main
from mock_server.cassette import CassetteError, bytes_per_sample, load
from mock_server.testing import Peer, chunk

HEADER = {"kind": "cassette", "format": "scribe-cassette", "keep_audio": False, "version": 1}
SESSION = {"kind": "session", "auth": "api_key", "n": 1, "path": "/v1/speech-to-text/realtime",
           "query": {"model_id": ["scribe_v2_realtime"]}}
STARTED = {"kind": "server", "t": 0.01, "audio_s": 0.0, "commits": 0, "after": 0,
           "frame": {"message_type": "session_started", "session_id": "x"}}


def _close(code: int, reason: str = "", **extra: object) -> dict[str, object]:
    return {"kind": "close", "t": 0.02, "audio_s": 0.0, "commits": 0, "after": 0,
            "by": "server", "code": code, "reason": reason, **extra}


def _cassette(path: pathlib.Path, *lines: object) -> pathlib.Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in (HEADER, SESSION, *lines)))
    return path


@pytest.mark.parametrize(("code", "seen"), [(1005, 1000), (1006, 1006), (1000, 1000),
                                             (1013, 1013), (4001, 4001)])
def test_a_recorded_close_replays_as_a_valid_close(tmp_path: pathlib.Path, code: int,
                                                   seen: int) -> None:
    """1005 (the upstream's close frame had no code) and 1006 (no close frame) can never be
    sent: the replay sends what the proxy forwarded (1000), or cuts the connection."""
    path = _cassette(tmp_path / "c.jsonl", STARTED, _close(code))
    with MockServer(cassette=path) as server:
        peer = Peer(server, api_key="k")
        peer.recv_all()
    assert peer.close_code == seen


@pytest.mark.parametrize("code", [999, 1004, 1015, 1016, 2999, 5000])
def test_close_codes_that_cannot_be_sent_are_refused_on_load(tmp_path: pathlib.Path,
                                                             code: int) -> None:
    path = _cassette(tmp_path / "c.jsonl", STARTED, _close(code))
    with pytest.raises(CassetteError, match=r":4: .*'code'"):
        load(path)


def test_a_close_reason_longer_than_a_close_frame_holds_is_refused(tmp_path: pathlib.Path
                                                                   ) -> None:
    """A close frame holds 123 bytes of reason (UTF-8): 62 two-byte letters do not fit."""
    _cassette(tmp_path / "ok.jsonl", STARTED, _close(1000, "é" * 61))
    load(tmp_path / "ok.jsonl")
    path = _cassette(tmp_path / "c.jsonl", STARTED, _close(1000, "é" * 62))
    with pytest.raises(CassetteError, match=r":4: .*'reason'.*123 bytes"):
        load(path)


AUDIO = b"\x01\x00" * 1600  # 0.1 s
KEY = "replay-key-0123456789"  # long: a short key is scrubbed wherever its letters appear
DIGEST = __import__("hashlib").sha256(AUDIO).hexdigest()


def _client(t: float, audio_s: float, commits: int, *, commit: bool) -> dict[str, object]:
    return {"kind": "client", "t": t, "audio_s": audio_s, "commits": commits,
            "message_type": "input_audio_chunk", "samples": 1600, "sha256": DIGEST,
            "commit": commit, "sample_rate": None, "previous_text": None}


def _talk(path: pathlib.Path) -> pathlib.Path:
    """One chunk, one chunk with a commit, its answer, the client's close."""
    answer = {"kind": "server", "t": 0.3, "audio_s": 0.2, "commits": 1, "after": 2,
              "frame": {"message_type": "committed_transcript", "text": "hello"}}
    closed = {**_close(1000), "by": "client", "t": 0.4, "audio_s": 0.2, "commits": 1,
              "after": 2}
    return _cassette(path, STARTED, _client(0.1, 0.1, 0, commit=False),
                     _client(0.2, 0.2, 1, commit=True), answer, closed)


def test_a_lenient_client_sending_more_or_fewer_frames_gets_what_it_reached(
        tmp_path: pathlib.Path) -> None:
    path = _talk(tmp_path / "talk.jsonl")
    with MockServer(cassette=path) as server:
        more = Peer(server, api_key="k")
        more.recv_until("session_started")
        for _ in range(5):
            more.send(chunk(AUDIO, commit=True))
        assert more.recv_until("committed_transcript")["text"] == "hello"
        more.ws.close()
        server.wait_idle()
        server.reset()
        fewer = Peer(server, api_key="k")
        fewer.recv_until("session_started")
        fewer.send(chunk(AUDIO))  # no commit: the answer is not due
        fewer.ws.close()
        server.wait_idle()
    assert [m.get("message_type") for m in fewer.received] == ["session_started"]


def test_a_strict_client_sending_more_frames_is_told_where(tmp_path: pathlib.Path) -> None:
    path = _talk(tmp_path / "talk.jsonl")
    with MockServer(cassette=path, strict=True) as server:
        peer = Peer(server, api_key="k")
        peer.recv_until("session_started")
        peer.send(chunk(AUDIO))
        peer.send(chunk(AUDIO, commit=True))
        peer.recv_until("committed_transcript")
        peer.send(chunk(AUDIO))
        error = peer.recv_until("error")
        peer.recv_all()
    assert "client frame 3" in error["error"] and "only 2 client frames" in error["error"]
    assert peer.close_code == 1008


def test_a_strict_replay_with_other_options_says_so(tmp_path: pathlib.Path) -> None:
    path = _talk(tmp_path / "talk.jsonl")
    with MockServer(cassette=path, strict=True) as server:
        peer = Peer(server, {"language_code": "fr"}, api_key="k")
        error = peer.recv_until("error")
        peer.recv_all()
    assert "no recorded session left" in error["error"] and "language_code=fr" in error["error"]


def test_two_clients_on_a_one_session_cassette_and_a_reset_in_between(tmp_path: pathlib.Path
                                                                      ) -> None:
    """The first replays the session; the second, at the same time, is told none is left;
    a reset() while the first is still replaying lets the next one replay it too, and the
    first still finishes its own."""
    path = _talk(tmp_path / "talk.jsonl")
    with MockServer(cassette=path) as server:
        first = Peer(server, api_key="k")
        first.recv_until("session_started")
        second = Peer(server, api_key="k")
        assert "no recorded session left" in second.recv_until("error")["error"]
        second.recv_all()
        server.reset()
        third = Peer(server, api_key="k")
        third.recv_until("session_started")
        for peer in (first, third):
            peer.send(chunk(AUDIO))
            peer.send(chunk(AUDIO, commit=True))
            assert peer.recv_until("committed_transcript")["text"] == "hello"
            peer.ws.close()


@pytest.mark.parametrize("audio_format", ["pcm_\u00b2", "pcm_\u0661\u0666", "pcm_" + "9" * 5000])
def test_a_format_the_mock_refuses_is_recorded_and_replayed_as_answered(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], audio_format: str) -> None:
    """Digits ``int`` refuses (a superscript) or cannot read (past its digit limit) are an
    unknown format like any other: the proxy forwards the upstream's error and records it,
    the replay serves it, and ``show`` reads the cassette."""
    assert bytes_per_sample(audio_format) == (16000, 2)
    path = tmp_path / "af.jsonl"
    with MockServer() as up, RecordingProxy(up.base_url, path) as proxy:
        live = Peer(proxy, {"audio_format": audio_format}, api_key=KEY)
        recorded = live.recv_all()
        proxy.wait_written(1)
    assert "audio_format" in recorded[0]["error"]
    assert cassette_main(["cassette", "show", str(path)]) == 0
    capsys.readouterr()
    with MockServer(cassette=path, strict=True) as server:
        again = Peer(server, {"audio_format": audio_format}, api_key=KEY)
        assert again.recv_all() == recorded
        assert server.replay_mismatches == []
    assert again.close_code == live.close_code


def test_a_chunk_of_invalid_base64_replays_strictly_as_recorded(tmp_path: pathlib.Path) -> None:
    """The recorder and the replayer classify a chunk whose base64 is invalid alike (no audio
    chunk, as the mock answers it): the very frames recorded replay with no mismatch."""
    bad = json.dumps({"message_type": "input_audio_chunk", "audio_base_64": "!!not base64!!",
                      "commit": False})
    path = tmp_path / "b64.jsonl"

    def talk(server: object) -> list[dict[str, object]]:
        peer = Peer(server, api_key=KEY)
        peer.recv_until("session_started")
        peer.send(chunk(AUDIO))
        peer.send(bad)
        peer.recv_until("input_error")
        peer.close()
        return peer.received

    with MockServer() as up, RecordingProxy(up.base_url, path) as proxy:
        recorded = talk(proxy)
        proxy.wait_written(1)
    (line,) = [line for line in load(path).sessions[0].of("client") if "other" in line]
    assert line["sha256"] == "" and line["other"]["audio_base_64"] == "!!not base64!!"
    with MockServer(cassette=path, strict=True) as server:
        replayed = talk(server)
        server.wait_idle()
        assert server.replay_mismatches == []
    assert [m["message_type"] for m in replayed] == ["session_started", "input_error"]
    assert replayed == recorded
