"""The sans-I/O engine, VAD and scenario model, driven directly with explicit times."""

from __future__ import annotations

import ssl
from typing import Any

import trustme
import websocket

from mock_server import MockServer, Scenario, load_scenario
from mock_server.actions import Record
from mock_server.engine import Close, Engine, Send
from mock_server.faults import ErrorFault
from mock_server.journal import Journal
from mock_server.params import parse_params, parse_query
from mock_server.settings import Settings
from mock_server.testing import chunk, silence, speech
from mock_server.vad import VoiceActivityDetector


def _engine(**settings: Any) -> Engine:
    params = parse_params(parse_query("model_id=scribe_v2_realtime"))
    log = Journal().open(path="/", query={}, headers={}, remote="")
    engine = Engine(Settings(**settings), params, index=log.index, now=0.0)
    engine.start(0.0)
    return engine


def _partials(actions: list[Any]) -> list[str]:
    return [
        a.payload["text"]
        for a in actions
        if isinstance(a, Send)
        and isinstance(a.payload, dict)
        and a.payload["message_type"] == "partial_transcript"
    ]


def test_warmup_restarts_after_a_pause() -> None:
    """After a pause longer than warmup_reset_secs, partials wait for 2 s of audio again."""
    engine = _engine(idle_timeout_secs=None)
    now = 0.0
    seen = []
    for _ in range(25):  # 2.5 s of speech, 100 ms chunks, streamed in real time
        now += 0.1
        seen += _partials(engine.receive(chunk(speech(0.1, seed=int(now * 10))), now))
    assert seen
    engine.receive(chunk(silence(0.4), commit=True), now)
    now += 5.0  # a pause in the stream
    later = []
    for i in range(15):  # 1.5 s: still warming up again
        now += 0.1
        later += _partials(engine.receive(chunk(speech(0.1, seed=100 + i)), now))
    assert later == []


def test_idle_deadline_moves_with_input() -> None:
    """tick() closes only once idle_timeout_secs passed since the last chunk."""
    engine = _engine(idle_timeout_secs=10.0)
    assert engine.deadline() == 10.0
    engine.receive(chunk(b""), 4.0)  # an empty chunk counts as activity
    assert engine.deadline() == 14.0
    assert engine.tick(13.9) == []
    assert engine.tick(14.0) == [Close(1000, "")]
    assert engine.receive(chunk(speech(0.1)), 15.0) == []


def test_vad_result_does_not_depend_on_chunking() -> None:
    """The detector gives the same frames whatever the feed sizes."""
    audio = silence(0.3) + speech(0.5) + silence(0.3) + speech(0.2)

    def run(size: int) -> list[tuple[float, bool]]:
        vad = VoiceActivityDetector(sample_rate=16000, bytes_per_sample=2)
        frames = []
        for start in range(0, len(audio), size):
            frames += [(round(f.start, 3), f.speech) for f in vad.feed(audio[start : start + size])]
        return frames

    assert run(640) == run(333) == run(len(audio))
    speech_starts = [t for t, s in run(640) if s]
    assert speech_starts[0] == 0.3


def test_scenario_round_trips_through_json_form() -> None:
    """A scenario's dict form loads back to an equal scenario."""
    scenario = Scenario(
        name="x",
        transcript="a b",
        faults=[ErrorFault(when="commit", count=2, error_type="quota_exceeded")],
        delay={"fixed_secs": 0.1, "message_types": ["committed_transcript"]},
        random_faults={"seed": 4, "rate": 0.5},
    )
    assert load_scenario(scenario.to_dict()) == scenario


def test_plus_and_percent_twenty_both_mean_space() -> None:
    """Browser (+) and Python SDK (%20) encodings of a space are the same keyterm."""
    for query in ("keyterms=New+York", "keyterms=New%20York"):
        params = parse_params(parse_query("model_id=scribe_v2_realtime&" + query))
        assert params.keyterms == ("New York",)


def test_tls_mode_serves_wss() -> None:
    """With an ssl_context the mock serves wss:// and https:// base URLs."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with MockServer(ssl_context=context) as server, ca.cert_pem.tempfile() as ca_file:
        assert server.base_url.startswith("https://")
        ws = websocket.create_connection(
            server.ws_url + "?model_id=scribe_v2_realtime",
            header=["xi-api-key: k"],
            sslopt={"ca_certs": ca_file},
        )
        assert '"session_started"' in ws.recv()
        ws.close()


def test_journal_without_frames_keeps_counts_and_digest() -> None:
    """journal_frames=False keeps counts and the audio digest but no frames."""
    import hashlib

    from mock_server.testing import Peer

    with MockServer(journal_frames=False) as server:
        peer = Peer(server)
        peer.recv_until("session_started")
        audio = speech(0.5)
        peer.send_audio(audio)
        peer.commit()
        peer.recv_until("committed_transcript")
        peer.close()
        record = server.wait_idle()[0]
    assert record.frames == ()
    assert record.chunks == 6
    assert record.audio_sha256 == hashlib.sha256(audio).hexdigest()


def test_admin_scenario_removal_falls_back() -> None:
    """Removing a key's installed scenario falls back to the configured one."""
    from mock_server.testing import Peer

    configured = Scenario(name="configured")
    with MockServer(key_scenarios={"k": configured}) as server:
        server.install_scenario({"name": "installed"}, api_key="k")
        server.install_scenario(None, api_key="k")
        peer = Peer(server, api_key="k")
        peer.recv_until("session_started")
        peer.close()
        assert server.wait_idle()[0].scenario == "configured"


def test_arbitrary_frames_only_give_input_errors() -> None:
    """Any text or bytes frame is either accepted or answered with input_error; never a crash."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    engine = _engine(idle_timeout_secs=None)

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
    def check(frame: str | bytes) -> None:
        for action in engine.receive(frame, 1.0):
            if isinstance(action, Record):
                continue  # journal records: what was received
            assert isinstance(action, Send)
            assert isinstance(action.payload, dict)
            assert action.payload["message_type"] in ("input_error", "partial_transcript",
                                                       "warning")

    check()
