"""Record through the proxy (the upstream: a second mock with live timing), then replay: the
client sees what it saw live, in the same order relative to its commits."""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
import websocket

from mock_server import MockServer
from mock_server.cassette import CassetteError, load
from mock_server.proxy import RecordingProxy
from mock_server.testing import Peer, chunk, speech
from tests.cassette_clients import (
    DIARIZED_SCRIPT,
    KEY,
    Seen,
    scribe_sync_run,
    sdk_run,
    segments,
    types,
    upstream,
)

Run = Callable[..., Seen]


def _record(path: pathlib.Path, run: Run, settings: dict[str, Any] | None = None,
            **options: Any) -> Seen:
    with upstream(**(settings or {})) as server, RecordingProxy(server.base_url, path) as proxy:
        seen = run(proxy.base_url, KEY, segments(), **options)
        proxy.wait_written(1)
    return seen


def _replay(path: pathlib.Path, run: Run, parts: list[bytes] | None = None,
            settings: dict[str, Any] | None = None, **options: Any) -> tuple[Seen, MockServer]:
    with MockServer(cassette=path, **(settings or {})) as server:
        seen = run(server.base_url, "any-key", segments() if parts is None else parts,
                   **options)
        server.wait_idle()
    return seen, server


def test_scribe_sync_session_with_timestamps_replays_exactly(tmp_path: pathlib.Path) -> None:
    """Three utterances with timestamps: the replay gives every event, partials included, in
    the same order relative to the client's commits; strict replay of the same audio agrees."""
    path = tmp_path / "talk.jsonl"
    live = _record(path, scribe_sync_run, include_timestamps=True)
    assert [t for c, k, t in live if k == "committed_transcript"] == [
        "hello there", "the quick brown fox", "goodbye now"]
    replayed, _ = _replay(path, scribe_sync_run, include_timestamps=True)
    assert replayed == live
    strict, server = _replay(path, scribe_sync_run, settings={"strict": True},
                             include_timestamps=True)
    assert strict == live
    assert server.replay_mismatches == []


def test_sdk_session_replays_the_same_events(tmp_path: pathlib.Path) -> None:
    """The official SDK: the same committed texts and errors, after the same commits."""
    path = tmp_path / "sdk.jsonl"
    live = _record(path, sdk_run)
    assert [t for c, k, t in live if k == "committed_transcript"] == [
        "hello there", "the quick brown fox", "goodbye now"]
    replayed, _ = _replay(path, sdk_run)
    assert types(replayed) == types(live)


def test_diarized_session_replays(tmp_path: pathlib.Path) -> None:
    """diarize=true: the diarized answers come back after the same commits (scribe_sync
    only: SDK 2.78 has no diarize option and no diarized_transcript event)."""
    run = scribe_sync_run
    path = tmp_path / "diarized.jsonl"
    live = _record(path, run, {"transcript": DIARIZED_SCRIPT}, diarize=True,
                   include_timestamps=True)
    assert any(k == "diarized_transcript" for _, k, _ in live)
    replayed, _ = _replay(path, run, diarize=True, include_timestamps=True)
    assert types(replayed) == types(live)
    frames = load(path).sessions[0].server_frames()
    speakers = {w.get("speaker_id") for f in frames if f["message_type"] == "diarized_transcript"
                for w in f["words"]}
    assert len(speakers - {None}) == 2


@pytest.mark.parametrize("run", [scribe_sync_run, sdk_run], ids=["scribe_sync", "sdk"])
def test_session_ending_in_an_error_replays(tmp_path: pathlib.Path, run: Run) -> None:
    """quota_exceeded at the second commit: the same texts, then the same error, and the
    cassette has the error frame and the server's close."""
    scenario = {"faults": [{"action": "error", "when": "commit", "count": 2,
                            "error_type": "quota_exceeded"}]}
    path = tmp_path / "error.jsonl"
    live = _record(path, run, {"scenario": scenario})
    assert any(k == "quota_exceeded" for _, k, _ in live)
    replayed, _ = _replay(path, run)
    assert types(replayed) == types(live)
    session = load(path).sessions[0]
    assert session.server_frames()[-1]["message_type"] == "quota_exceeded"
    close = session.of("close")[0]
    assert (close["by"], close["code"], close["reason"]) == ("server", 1000, "quota_exceeded")


def test_recorded_timing_keeps_the_delays(tmp_path: pathlib.Path) -> None:
    """replay_timing="recorded": each committed transcript leaves no earlier after its commit
    than it arrived in the recording (a lower bound: only the delay's floor is asserted)."""
    path = tmp_path / "timed.jsonl"
    _record(path, scribe_sync_run)
    session = load(path).sessions[0]
    recorded = []
    last_client = 0.0
    for line in session.lines:
        if line["kind"] == "client":
            last_client = line["t"]
        elif line["kind"] == "server" and line["frame"]["message_type"] == "committed_transcript":
            recorded.append(line["t"] - last_client)
    assert all(delay >= 0.2 for delay in recorded)  # the live profile's 250-380 ms
    _, server = _replay(path, scribe_sync_run, settings={"replay_timing": "recorded"})
    frames = server.sessions()[0].frames
    gaps = []
    commit_at = 0.0
    for frame in frames:
        if frame.direction == "in" and isinstance(frame.data, dict) and frame.data.get("commit"):
            commit_at = frame.time
        elif frame.message_type == "committed_transcript":
            gaps.append(frame.time - commit_at)
    assert len(gaps) == len(recorded) == 3
    for gap, delay in zip(gaps, recorded, strict=True):
        assert gap >= delay - 0.01


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("audio", "client frame 1 (audio 0.00 s): audio sha256"),
        ("length", "client frame 2 (audio 1.00 s): length 5120 samples, recorded 6400"),
        ("commit", "client frame 3 (audio 1.40 s): commit false, recorded true"),
    ],
)
def test_strict_replay_names_the_first_difference(tmp_path: pathlib.Path, change: str,
                                                  expected: str) -> None:
    """Other audio, another length, another commit pattern: the client gets an error naming
    the first difference, and the server keeps it."""
    path = tmp_path / "strict.jsonl"
    _record(path, scribe_sync_run)
    parts = segments()
    if change == "audio":
        parts = segments(seed=9)
    elif change == "length":
        parts[0] = parts[0][:-2560]
    with MockServer(cassette=path, strict=True) as server:
        # The options scribe_sync sent: a strict replay matches them exactly.
        peer = Peer(server, {"audio_format": "pcm_16000", "commit_strategy": "manual",
                             "include_timestamps": False}, api_key="any-key")
        peer.recv_until("session_started")
        if change == "commit":
            peer.send_audio(parts[0], chunk_bytes=32000)
            peer.send_audio(parts[1], chunk_bytes=32000)
        else:
            peer.send_audio(parts[0], chunk_bytes=32000)
        error = peer.recv_until("error")
        peer.recv_all()
        server.wait_idle()
    assert expected in error["error"]
    assert peer.close_code == 1008
    assert server.replay_mismatches == [error["error"]]


def test_sessions_are_matched_by_options_then_order(tmp_path: pathlib.Path) -> None:
    """Two sessions recorded with different options replay to the client asking for each,
    whatever the order; a third connection finds none left."""
    path = tmp_path / "two.jsonl"
    with upstream() as server, RecordingProxy(server.base_url, path) as proxy:
        plain = scribe_sync_run(proxy.base_url, KEY, segments(1))
        stamped = scribe_sync_run(proxy.base_url, KEY, segments(1), include_timestamps=True)
        proxy.wait_written(2)
    with MockServer(cassette=path) as replay:
        assert scribe_sync_run(replay.base_url, "k", segments(1),
                               include_timestamps=True) == stamped
        assert scribe_sync_run(replay.base_url, "k", segments(1)) == plain
        peer = Peer(replay, api_key="k")
        error = peer.recv_until("error")
        assert error["error"] == ("the cassette has no recorded session left for: "
                                  "model_id=scribe_v2_realtime")
        peer.recv_all()


def test_no_secret_in_cassette_logs_or_journals(tmp_path: pathlib.Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """A key session, a token session minted through the proxy and a refused key: neither
    the key nor the token is in the cassette, any log record, or either journal."""
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "secrets.jsonl"
    with upstream() as server, RecordingProxy(server.base_url, path) as proxy:
        scribe_sync_run(proxy.base_url, KEY, segments(1))
        import scribe_sync

        client = scribe_sync.ScribeClient(KEY, base_url=proxy.base_url)
        token = client.create_token()
        peer = Peer(proxy, api_key=None, token=token)
        peer.recv_until("session_started")
        peer.close()
        refused = Peer(proxy, api_key="a-wrong-key-9876")
        refused.recv_until("auth_error")
        refused.recv_all()
        proxy.wait_written(3)
        upstream_journal = json.dumps([r.to_dict() for r in server.wait_idle(count=3)])
    with MockServer(cassette=path) as replay:
        scribe_sync_run(replay.base_url, "any-key", segments(1))
        replay_journal = json.dumps([r.to_dict() for r in replay.wait_idle()])
    text = path.read_text()
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (KEY, token, "a-wrong-key-9876"):
        for where in (text, logs, upstream_journal, replay_journal):
            assert secret not in where
    assert "token=" not in text
    sessions = load(path).sessions
    assert [s.auth for s in sessions] == ["api_key", "token", "api_key"]
    assert sessions[2].server_frames()[0]["message_type"] == "auth_error"


def _send_until_cut(peer: Peer, audio: bytes) -> None:
    """Send ``audio``; a connection cut while it is sent ends the sending, not the test (the
    drop may reach the client before its last chunks: which one is a race, the cut is not)."""
    with contextlib.suppress(OSError, websocket.WebSocketException):
        peer.send_audio(audio, chunk_bytes=8000)


def test_upstream_drop_is_forwarded_and_recorded(tmp_path: pathlib.Path) -> None:
    """The upstream cuts TCP after 1 s of audio: the client's connection is cut too (1006),
    the cassette says so, and a replay cuts it at the same point."""
    scenario = {"faults": [{"action": "drop", "when": "audio", "seconds": 1.0}]}
    path = tmp_path / "drop.jsonl"
    with upstream(scenario=scenario) as server, RecordingProxy(server.base_url, path) as proxy:
        peer = Peer(proxy, api_key=KEY)
        peer.recv_until("session_started")
        _send_until_cut(peer, speech(1.5))
        peer.recv_all()
        proxy.wait_written(1)
    assert peer.close_code == 1006
    close = load(path).sessions[0].of("close")[0]
    assert (close["by"], close["code"], close.get("dropped")) == ("server", 1006, True)
    assert close["audio_s"] >= 1.0  # the drop came once a second of audio was in
    with MockServer(cassette=path) as replay:
        again = Peer(replay, api_key="k")
        again.recv_until("session_started")
        _send_until_cut(again, speech(1.5))
        again.recv_all()
    assert again.close_code == 1006


def test_upstream_error_and_close_are_forwarded_exactly(tmp_path: pathlib.Path) -> None:
    """An error message and a close with its own code and reason reach the client as the
    upstream sent them, and are recorded verbatim."""
    scenario = {"faults": [{"action": "error", "when": "chunks", "count": 2,
                            "error_type": "resource_exhausted", "message": "busy, sorry",
                            "code": 1013, "reason": "try later"}]}
    path = tmp_path / "error.jsonl"
    with upstream(scenario=scenario) as server, RecordingProxy(server.base_url, path) as proxy:
        peer = Peer(proxy, api_key=KEY)
        peer.recv_until("session_started")
        peer.send_audio(speech(0.5), chunk_bytes=8000)
        error = peer.recv_until("resource_exhausted")
        peer.recv_all()
        proxy.wait_written(1)
    assert error["error"] == "busy, sorry"
    assert (peer.close_code, peer.close_reason) == (1013, "try later")
    session = load(path).sessions[0]
    assert session.server_frames()[-1] == {"message_type": "resource_exhausted",
                                           "error": "busy, sorry"}
    close = session.of("close")[0]
    assert (close["by"], close["code"], close["reason"]) == ("server", 1013, "try later")


def test_kept_audio_streams_again_and_passes_a_strict_replay(tmp_path: pathlib.Path) -> None:
    """Recorded with keep_audio, a cassette gives back each chunk's audio: streamed again,
    chunk for chunk, it is the recording exactly; without it, asking says how to keep it."""
    path = tmp_path / "kept.jsonl"
    with upstream() as server, RecordingProxy(server.base_url, path, keep_audio=True) as proxy:
        live = scribe_sync_run(proxy.base_url, KEY, segments(2))
        proxy.wait_written(1)
    session = load(path).sessions[0]
    chunks = session.audio()
    assert b"".join(chunks) == b"".join(segments(2))
    commits = [line["commit"] for line in session.of("client")]
    with MockServer(cassette=path, strict=True) as replay:
        peer = Peer(replay, {"audio_format": "pcm_16000", "commit_strategy": "manual",
                             "include_timestamps": False}, api_key="k")
        peer.recv_until("session_started")
        for audio, commit in zip(chunks, commits, strict=True):
            peer.send(chunk(audio, commit=commit))
        texts = [peer.recv_until("committed_transcript")["text"] for _ in range(2)]
        peer.close()
        replay.wait_idle()
    assert texts == [t for _, k, t in live if k == "committed_transcript"]
    assert replay.replay_mismatches == []
    _record(tmp_path / "digests.jsonl", scribe_sync_run)
    with pytest.raises(CassetteError, match="record it with --keep-audio"):
        load(tmp_path / "digests.jsonl").sessions[0].audio()


def test_a_client_without_a_key_records_with_the_environments(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No xi-api-key header: the proxy opens the upstream session with ELEVENLABS_API_KEY,
    which the cassette never holds."""
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)
    path = tmp_path / "env.jsonl"
    with upstream() as server, RecordingProxy(server.base_url, path) as proxy:
        peer = Peer(proxy, api_key=None)
        peer.recv_until("session_started")
        peer.close()
        proxy.wait_written(1)
        assert server.wait_idle()[0].key_label == "…" + KEY[-4:]
    assert KEY not in path.read_text()


def test_reset_replays_the_cassette_from_its_first_session(tmp_path: pathlib.Path) -> None:
    """One recorded session serves one connection; after reset() it serves the next one."""
    path = tmp_path / "one.jsonl"
    live = _record(path, scribe_sync_run)
    with MockServer(cassette=path) as replay:
        assert scribe_sync_run(replay.base_url, "k", segments()) == live
        replay.wait_idle()
        replay.reset()
        assert scribe_sync_run(replay.base_url, "k", segments()) == live
