"""Servers that misbehave after the upgrade: each ends the session with one typed error, in
bounded time, and says how much audio went unanswered."""

from __future__ import annotations

import time

import pytest

from scribe_sync import ConnectionClosedError, IncompleteTranscriptError, ScribeClient, Session
from tests.rawserver import OP_PING, Peer, ScriptServer, frame

CHUNK = b"\x00\x01" * 16000  # 1 s of pcm_16000


def test_a_peer_that_stops_reading_and_floods_pings_ends_the_session() -> None:
    """Pongs to a peer that reads nothing block once the buffers are full. Each used to time
    out on its own after io_timeout and be forgotten, so a flood held the reader (and a
    sender waiting for its verdict) for io_timeout per ping: the session never ended."""
    def flood(peer: Peer) -> None:
        peer.send_started()
        ping = frame(OP_PING, b"p" * 125) * 50
        try:
            while not peer.stopping.is_set():
                peer.sock.sendall(ping)
        except OSError:
            pass

    with ScriptServer(flood) as server:
        client = ScribeClient("k", base_url=server.base_url, io_timeout=0.5,
                              keepalive_interval=None, close_timeout=2)
        session = client.connect()
        try:
            with pytest.raises(ConnectionClosedError, match="pong failed: timed out"):
                list(session)
            with pytest.raises(ConnectionClosedError):
                session.send_audio(CHUNK)
        finally:
            session.close()


@pytest.mark.parametrize("ending", ["fin", "reset", "close 1011", "close 4000"])
def test_a_connection_lost_before_the_answer_reports_the_unanswered_audio(ending: str) -> None:
    """With reconnect off, a connection lost while a commit waits is an
    IncompleteTranscriptError carrying the unanswered seconds, with the failure as its cause
    (it was a plain ConnectionClosedError: the caller could not tell what was lost)."""
    def drop_after_commit(peer: Peer) -> None:
        peer.send_started()
        while (message := peer.read_message()) is not None and not message.get("commit"):
            pass
        if ending == "reset":
            peer.reset()
        elif ending == "fin":
            peer.sock.shutdown(2)
        else:
            peer.send_close(int(ending.split()[1]))
            peer.hold()

    with ScriptServer(drop_after_commit) as server:
        client = ScribeClient("k", base_url=server.base_url, close_timeout=2)
        session = client.connect()
        started = time.monotonic()
        try:
            session.send_audio(CHUNK)
            with pytest.raises(IncompleteTranscriptError) as caught:
                session.finish(timeout=10)
        finally:
            session.close()
    error = caught.value
    assert error.unanswered_seconds == pytest.approx(1.0)
    assert isinstance(error.__cause__, ConnectionClosedError)
    expected = {"fin": 1006, "reset": 1006, "close 1011": 1011, "close 4000": 4000}[ending]
    assert error.code == expected
    assert time.monotonic() - started < 10  # bounded by the ending, not by finish's timeout


def test_a_failed_write_is_decided_while_the_iterators_queue_is_full() -> None:
    """The caller sends and commits without iterating, so answers fill the queue (max_queue=2)
    and the reader pauses; then the server resets. The failed send_audio waited for the
    reader's verdict, and the paused reader for the caller to take events: a deadlock."""
    def answer_then_reset(peer: Peer) -> None:
        peer.send_started()
        answered = 0
        while (message := peer.read_message()) is not None:
            if message.get("commit"):
                answered += 1
                peer.send_json({"message_type": "committed_transcript",
                                "text": f"segment {answered}"})
                if answered == 4:
                    peer.reset()
                    return

    with ScriptServer(answer_then_reset) as server:
        client = ScribeClient("k", base_url=server.base_url, max_queue=2, close_timeout=2)
        session = client.connect()
        texts: list[str] = []
        try:
            with pytest.raises(ConnectionClosedError):
                _send_and_commit(session, 1000)  # far more than the socket buffers hold
            # What was queued is still delivered, then the ending is raised.
            with pytest.raises(IncompleteTranscriptError):
                texts.extend(event.text for event in session if hasattr(event, "text"))
        finally:
            session.close()
    assert texts[:2] == ["segment 1", "segment 2"]


def _send_and_commit(session: Session, times: int) -> None:
    for _ in range(times):
        session.send_audio(CHUNK)
        session.commit()
