"""Timing profiles: the live profile's scheduled delays (docs/protocol.md §6), and the driver
honouring them in order. Delays are asserted as the engine schedules them, not measured."""

from __future__ import annotations

import re
import statistics
from typing import Any

import pytest

from mock_server import MockServer, Settings
from mock_server.__main__ import build_parser, settings_from_args
from mock_server._session import SEND_QUEUE_LIMIT
from mock_server.engine import Engine, Send
from mock_server.params import parse_params, parse_query
from mock_server.testing import Peer, chunk, silence, speech


def _engine(query: str = "", index: int = 1, **settings: Any) -> Engine:
    params = parse_params(parse_query("model_id=scribe_v2_realtime" + query))
    engine = Engine(Settings(idle_timeout_secs=None, **settings), params, index=index,
                    now=0.0)
    engine.start(0.0)
    return engine


def _delays(actions: list[Any], message_type: str) -> list[float]:
    return [a.delay for a in actions if isinstance(a, Send) and isinstance(a.payload, dict)
            and a.payload["message_type"] == message_type]


def _commit_delays(engine: Engine, commits: int) -> list[float]:
    delays: list[float] = []
    for k in range(commits):
        delays += _delays(engine.receive(chunk(speech(0.4, seed=k), commit=True), k * 0.4),
                          "committed_transcript")
    return delays


def test_live_commit_latency_is_centred_on_300_ms_within_the_observed_band() -> None:
    """commit -> committed_transcript: p50 within 250-380 ms, every delay in the band."""
    delays = _commit_delays(_engine(timing="live"), 200)
    assert len(delays) == 200
    assert 0.250 <= statistics.median(delays) <= 0.380
    assert 0.28 <= statistics.median(delays) <= 0.33  # centred near 300 ms, not on an edge
    assert all(0.250 <= d <= 0.380 for d in delays)
    assert len(set(delays)) > 100  # a distribution, not a constant


def test_instant_answers_at_once_and_is_the_default() -> None:
    """The embedded default is instant: no delay on any action."""
    engine = _engine()
    assert Settings().timing == "instant"
    assert _commit_delays(engine, 5) == [0.0] * 5


def test_live_delays_are_seeded_per_session() -> None:
    """The same seed and session give the same delays; another session or seed differs."""
    first = _commit_delays(_engine(timing="live", timing_seed=1), 20)
    assert _commit_delays(_engine(timing="live", timing_seed=1), 20) == first
    assert _commit_delays(_engine(timing="live", timing_seed=1, index=2), 20) != first
    assert _commit_delays(_engine(timing="live", timing_seed=2), 20) != first


@pytest.mark.parametrize("threshold", ["0.3", "0.5", "1.5", "3.0"])
def test_live_vad_answers_073_to_09_s_after_speech_whatever_the_threshold(threshold: str) -> None:
    """Live VAD: the commit is decided after 0.3 s of silence on the audio clock and answered
    0.43-0.6 s later, so 0.73-0.9 s after the speech ended, at every threshold (G3)."""
    engine = _engine(f"&commit_strategy=vad&vad_silence_threshold_secs={threshold}",
                     timing="live")
    totals: list[float] = []
    for k in range(30):
        # 0.5 s of speech, then 0.3 s of silence: the silence a real-time client has sent
        # when the decision is due.
        actions = engine.receive(chunk(speech(0.5, seed=k) + silence(0.32)), k * 0.82)
        totals += [0.32 + d for d in _delays(actions, "committed_transcript")]
    assert len(totals) == 30
    assert all(0.73 <= t <= 0.93 for t in totals)
    assert 0.78 <= statistics.median(totals) <= 0.86


def test_instant_vad_follows_the_documented_threshold() -> None:
    """Instant timing: no VAD commit before the silence reaches the threshold, one after."""
    engine = _engine("&commit_strategy=vad&vad_silence_threshold_secs=1.5")
    early = engine.receive(chunk(speech(0.5) + silence(1.0)), 0.0)
    assert _delays(early, "committed_transcript") == []
    late = engine.receive(chunk(silence(0.6)), 1.0)
    assert _delays(late, "committed_transcript") == [0.0]


def test_live_echo_partial_follows_the_commit_by_5_to_49_ms() -> None:
    """The echo partial is scheduled a few ms after its committed transcript."""
    engine = _engine(timing="live")
    actions = engine.receive(chunk(speech(0.8), commit=True), 1.0)
    committed = _delays(actions, "committed_transcript")[0]
    echo = _delays(actions, "partial_transcript")[-1]
    assert 0.005 <= echo - committed <= 0.049


def test_invalid_timing_is_refused_with_the_choices() -> None:
    expected = "timing must be one of instant, live or a timing profile file (.json), not 'fast'"
    with pytest.raises(ValueError, match=re.escape(expected)):
        Settings(timing="fast")


def test_scribe_mock_defaults_to_live() -> None:
    """The command stands in for the service: live unless --timing instant."""
    parser = build_parser()
    assert settings_from_args(parser.parse_args([]))["timing"] == "live"
    assert settings_from_args(parser.parse_args(["--timing", "instant"]))["timing"] == "instant"
    chosen = settings_from_args(
        parser.parse_args(["--timing-seed", "7", "--language-format", "iso639-3"]))
    assert (chosen["timing_seed"], chosen["language_format"]) == (7, "iso639-3")
    MockServer(**chosen)  # the options are valid settings (not started)


def test_server_sends_a_delayed_answer_no_earlier_than_scheduled_and_in_order() -> None:
    """Through a real socket: the committed pair leaves after its delay, in order."""
    with MockServer(timing="live") as server:
        peer = Peer(server, {"include_timestamps": True})
        peer.recv_until("session_started")
        peer.send(chunk(speech(0.8), commit=True))
        peer.send(chunk(silence(0.4), commit=True))
        order = [peer.recv_until("committed_transcript")["text"] != ""]
        order.append(peer.recv_until("committed_transcript")["text"] != "")
        peer.recv_until("committed_transcript_with_timestamps")
        peer.close()
        record = server.wait_idle()[0]
    assert order == [True, False]
    commit_in = next(f.time for f in record.frames if f.direction == "in")
    answered = next(f.time for f in record.frames
                    if f.direction == "out" and f.message_type == "committed_transcript")
    assert answered - commit_in >= 0.250 - 0.002
    sent = [f.message_type for f in record.frames if f.direction == "out"]
    assert sent[1:4] == ["committed_transcript", "committed_transcript_with_timestamps",
                         "partial_transcript"]


def test_a_full_send_queue_stops_reading_the_client() -> None:
    """Delayed answers wait in a queue of at most SEND_QUEUE_LIMIT frames; once it is full the
    session reads nothing more from its client (the backpressure of instant timing), so a
    client that never reads cannot make it grow. The answers here wait 60 s, so the queue
    only fills; the client's frames past the limit stay unread."""
    scenario = {"delay": {"fixed_secs": 60.0, "message_types": ["input_error"]}}
    extra = 10
    server = MockServer(scenario=scenario, timing="live").start()
    try:
        peer = Peer(server)
        peer.recv_until("session_started")
        # Read: one whose answer the sender holds, the queue's, one waiting to enter it.
        read = 1 + SEND_QUEUE_LIMIT + 1
        for _ in range(read + extra):
            peer.send("not json")  # each one gets an input_error, delayed
        server.wait_for(lambda records: len(records[0].received()) >= read)
        (session,) = server.context.sessions
        assert session.queue is not None
        assert session.queue.qsize() == SEND_QUEUE_LIMIT
        peer.ws.shutdown()
    finally:
        server.close()
    (record,) = server.sessions()
    assert len(record.received()) == read
