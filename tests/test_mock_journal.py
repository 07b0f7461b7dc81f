"""The journal: frame caps (per session and across sessions), consistent snapshots, and a
long-running mock whose memory stays flat (README, "Mock server", journal memory)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from mock_server import MockServer, Settings
from mock_server.journal import FramePolicy, JournalFrame
from mock_server.testing import Peer, chunk, speech

ROOT = Path(__file__).resolve().parent.parent
#: The README's documented bound: RSS growth of a default scribe-mock over the second ten of
#: twenty sessions of 60 s audio (measured: 0 MB; 5 MB with --journal-frames all).
FLAT_RSS_BOUND = 3 * 2**20


def _session(server: MockServer, audio: bytes, chunk_bytes: int = 3200) -> None:
    with Peer(server) as peer:
        peer.recv_until("session_started")
        peer.send_audio(audio, chunk_bytes=chunk_bytes)
        peer.commit()
        peer.recv_until("committed_transcript")


def test_default_policy_is_bounded() -> None:
    """By default the first 1000 frames of each of the last 8 finished sessions are kept."""
    assert Settings().frame_policy == FramePolicy(per_session=1000, sessions=8)
    assert Settings(journal_frames="all").frame_policy == FramePolicy(None, None)
    assert Settings(journal_frames=True).frame_policy == FramePolicy(None, None)
    assert Settings(journal_frames="none").frame_policy == FramePolicy(0, 8)
    unbounded = Settings(journal_frames="20", journal_sessions=None)
    assert unbounded.frame_policy == FramePolicy(20, None)
    with pytest.raises(ValueError, match="journal_frames"):
        Settings(journal_frames=-1)
    with pytest.raises(ValueError, match="journal_frames"):
        Settings(journal_frames="some")


def test_per_session_cap_keeps_the_first_frames_and_counts_the_rest() -> None:
    """journal_frames=N keeps a session's first N frames; the others are counted as dropped,
    while chunk counts and the audio digest cover everything."""
    audio = speech(2.0)
    with MockServer(journal_frames="all") as server:
        _session(server, audio)
        full = server.wait_idle()[0]
    with MockServer(journal_frames=5) as server:
        _session(server, audio)
        record = server.wait_idle()[0]

    def kinds(frames: tuple[JournalFrame, ...]) -> list[tuple[str, str | None]]:
        return [(f.direction, f.message_type) for f in frames]

    assert kinds(record.frames) == kinds(full.frames[:5])
    assert record.frames[0].message_type == "session_started"
    assert record.frames_dropped == len(full.frames) - 5 >= 20
    assert record.chunks == 21
    assert record.audio_sha256 == hashlib.sha256(audio).hexdigest()
    assert record.to_dict()["frames_dropped"] == record.frames_dropped


def test_frames_of_older_finished_sessions_are_released() -> None:
    """With journal_sessions=2, only the two most recently finished sessions keep frames;
    every session keeps its counts and digest."""
    audios = [speech(0.6, seed=n) for n in range(4)]
    with MockServer(journal_sessions=2) as server:
        for audio in audios:
            _session(server, audio)
            server.wait_idle(count=len(server.sessions()))
        records = server.sessions()
    assert [bool(r.frames) for r in records] == [False, False, True, True]
    assert all(r.frames_dropped > 0 for r in records[:2])
    assert [r.audio_sha256 for r in records] == [
        hashlib.sha256(a).hexdigest() for a in audios
    ]
    assert records[0].frames_dropped == len(records[2].frames)  # same shape of session


def test_snapshots_never_see_half_an_update() -> None:
    """Snapshots taken while audio streams in always have audio_bytes and audio_sha256 of the
    same audio (the journal's lock covers every change)."""
    audio = speech(6.0)
    digests = {0: hashlib.sha256(b"").hexdigest()}
    for end in range(320, len(audio) + 1, 320):
        digests[end] = hashlib.sha256(audio[:end]).hexdigest()
    done = threading.Event()
    seen: list[tuple[int, str]] = []

    with MockServer(idle_timeout_secs=None) as server:

        def watch() -> None:
            while not done.is_set():
                seen.extend((r.audio_bytes, r.audio_sha256) for r in server.sessions())

        watcher = threading.Thread(target=watch, name="test-journal-watcher")
        watcher.start()
        try:
            _session(server, audio, chunk_bytes=320)
        finally:
            done.set()
            watcher.join(10)
    assert any(0 < size < len(audio) for size, _ in seen)  # snapshots taken mid-stream
    assert all(digests[size] == digest for size, digest in seen)


def test_long_running_mock_memory_stays_flat() -> None:
    """A default scribe-mock process (its own RSS, read with psutil) serves 20 sessions of
    60 s audio, sent unpaced: RSS over the second ten grows less than FLAT_RSS_BOUND, and the
    journal still has every session's counts and digest."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "mock_server", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=env, cwd=ROOT)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().split()[-1]

        class Target:
            ws_url = base_url.replace("http://", "ws://") + "/v1/speech-to-text/realtime"

        audio = speech(60.0)
        frames = [chunk(audio[i : i + 3200]) for i in range(0, len(audio), 3200)]
        mock = psutil.Process(process.pid)
        rss: list[int] = []
        for _ in range(20):
            with Peer(Target()) as peer:
                peer.recv_until("session_started")
                for n, frame in enumerate(frames, 1):
                    peer.send(frame)
                    if n % 50 == 0:
                        peer.commit()  # a commit every 5 s of audio
                peer.commit()
                peer.recv_until("committed_transcript")
            rss.append(mock.memory_info().rss)
        growth = rss[-1] - rss[9]
        assert growth < FLAT_RSS_BOUND, [round(r / 2**20, 1) for r in rss]

        import json
        import urllib.request

        with urllib.request.urlopen(base_url + "/_mock/sessions", timeout=30) as response:
            records = json.loads(response.read())
        assert len(records) == 20
        digest = hashlib.sha256(audio).hexdigest()
        assert all(r["audio_sha256"] == digest and r["commits"] >= 12 for r in records)
        assert [bool(r["frames"]) for r in records] == [False] * 12 + [True] * 8
    finally:
        process.terminate()
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()


def test_a_close_frame_without_a_status_is_journaled_as_1005() -> None:
    """A client close frame with no code is 1005 (no status received) in the journal, not 0."""
    import websocket

    with MockServer() as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        peer.ws.send(b"", opcode=websocket.ABNF.OPCODE_CLOSE)
        peer.close()
        record = server.wait_idle()[0]
    assert record.close_code == 1005
    assert record.close_reason == ""
