"""Journal records: the engine emits them as actions, the driver writes them under the lock."""

from __future__ import annotations

import hashlib
import threading

from mock_server import MockServer
from mock_server.actions import AudioAccepted, Committed, FrameReceived, SessionStarted
from mock_server.engine import Engine
from mock_server.params import parse_params, parse_query
from mock_server.settings import Settings
from mock_server.testing import Peer, chunk, speech


def test_engine_reports_what_it_journals_as_records() -> None:
    """start/receive return records of the session id, the frame, the audio and the commit."""
    params = parse_params(parse_query("model_id=scribe_v2_realtime"))
    engine = Engine(Settings(), params, now=0.0)
    started = engine.start(0.0)
    assert SessionStarted(engine.session_id) in started
    audio = speech(0.4)
    actions = engine.receive(chunk(audio, commit=True), 2.5)
    records = [a for a in actions if isinstance(a, (FrameReceived, AudioAccepted, Committed))]
    assert [type(r) for r in records] == [FrameReceived, AudioAccepted, Committed]
    frame = records[0]
    assert isinstance(frame, FrameReceived)
    assert frame.time == 2.5  # the caller's time: the engine reads no clock
    assert frame.data["audio_base_64"] == f"<{len(audio)} bytes>"
    assert records[1] == AudioAccepted(audio)
    assert (engine.chunks, engine.commits) == (1, 1)


def test_snapshots_never_see_half_an_update() -> None:
    """While audio streams, every snapshot's digest is the digest of its audio_bytes."""
    audio = speech(3.0)
    with MockServer(journal_frames=False) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        done = threading.Event()
        bad: list[int] = []

        def watch() -> None:
            while not done.is_set():
                for record in server.sessions():
                    expected = hashlib.sha256(audio[: record.audio_bytes]).hexdigest()
                    if record.audio_sha256 != expected:
                        bad.append(record.audio_bytes)

        watcher = threading.Thread(target=watch, name="test-journal-watcher")
        watcher.start()
        try:
            peer.send_audio(audio, chunk_bytes=640)
            peer.commit()
            peer.recv_until("committed_transcript")
        finally:
            done.set()
            watcher.join(10)
        peer.close()
        assert server.wait_idle()[0].audio_bytes == len(audio)
    assert bad == []
