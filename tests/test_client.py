"""The client against the mock server over real sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import ssl
import threading
from typing import Any

import pytest

import scribe_sync
from mock_server import MockServer
from mock_server.scenarios import ERROR_TYPES
from mock_server.testing import silence, speech
from scribe_sync import (
    AuthError,
    CommitStrategy,
    CommittedTranscript,
    CommittedTranscriptEntities,
    CommittedTranscriptWithTimestamps,
    ConfigError,
    ConnectionClosedError,
    EditedTranscript,
    ErrorEvent,
    Event,
    InvalidRequestError,
    LocalProtocolError,
    PartialTranscript,
    RedactedTranscript,
    ScribeClient,
    ServerError,
    SessionEnded,
    UnknownEvent,
)
from scribe_sync.errors import server_error_class

KEY = "test-key-0123456789"


def client_for(server: MockServer, **kwargs: Any) -> ScribeClient:
    return ScribeClient(KEY, base_url=server.base_url, **kwargs)


def test_stream_in_one_thread_iterate_in_another_gives_the_full_transcript() -> None:
    """The headline use: a sender thread, an iterating thread, and the whole text at the end."""
    text = "the quick brown fox jumps over the lazy dog"
    with MockServer(transcript=text) as server:
        session = client_for(server).connect()
        audio = speech(4.0, seed=3)

        def sender() -> None:
            for i in range(0, len(audio), 3200):
                session.send_audio(audio[i : i + 3200])
            session.send_audio(silence(0.3))
            session.finish()

        thread = threading.Thread(target=sender, name="test-sender")
        thread.start()
        events = list(session)
        thread.join(10)
        assert [e.text for e in events if isinstance(e, CommittedTranscript)] == [text]
        assert any(isinstance(e, PartialTranscript) for e in events)
        assert session.transcript == text
        record = server.wait_idle()[0]
        assert record.audio_sha256 == hashlib.sha256(audio + silence(0.3)).hexdigest()


def test_session_started_config_is_normalised(scribe_mock: MockServer) -> None:
    """session_id and the live config form arrive as typed, normalised values."""
    with client_for(scribe_mock).connect(commit_strategy="vad", audio_format="pcm_24000") as s:
        assert len(s.session_id) == 32
        assert s.config.commit_strategy is CommitStrategy.VAD
        assert s.config.sample_rate == 24000
        assert s.config.enable_logging is True


def test_timestamps_twin_is_typed_and_counted_once() -> None:
    """With include_timestamps the twin carries words; the transcript counts the commit once."""
    with MockServer(transcript="hello there world") as server:
        session = client_for(server).connect(include_timestamps=True)
        session.send_audio(speech(1.2, seed=2))
        session.finish()
        events = list(session)
        twins = [e for e in events if isinstance(e, CommittedTranscriptWithTimestamps)]
        assert len(twins) == 1
        words = [w for w in twins[0].words or () if w.type == "word"]
        assert [w.text for w in words] == ["hello", "there", "world"]
        assert all(w.start is not None and w.end is not None and w.start < w.end for w in words)
        assert session.transcript == "hello there world"


def test_language_detection_only_twin_has_no_words() -> None:
    """Language detection alone: the twin has words=None and a language code."""
    with MockServer(transcript="bonjour") as server:
        session = client_for(server).connect(include_language_detection=True)
        session.send_audio(speech(0.5))
        session.finish()
        twins = [e for e in session if isinstance(e, CommittedTranscriptWithTimestamps)]
        assert len(twins) == 1
        assert twins[0].words is None
        assert twins[0].language_code
        assert session.transcript == "bonjour"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"entity_detection": "all"}, CommittedTranscriptEntities),
        ({"entity_redaction": "pii"}, RedactedTranscript),
        ({"transcript_edit": "Fix the spelling."}, EditedTranscript),
    ],
)
def test_enrichment_events_are_typed(options: dict[str, Any], expected: type[Event]) -> None:
    """Entities, redacted and edited transcripts arrive as their own classes."""
    with MockServer(transcript="call me at bob@example.com") as server:
        session = client_for(server).connect(**options)
        session.send_audio(speech(2.0))
        session.finish()
        assert any(isinstance(e, expected) for e in session)


@pytest.mark.parametrize("error_type", [t for t in ERROR_TYPES if t != "invalid_request"])
def test_fatal_server_errors_yield_the_event_then_raise_the_subclass(error_type: str) -> None:
    """An error followed by a close: the ErrorEvent, then its ServerError subclass raised."""
    scenario = {"faults": [{"action": "error", "when": "chunks", "count": 1,
                            "error_type": error_type}]}
    with MockServer(scenario=scenario) as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.1))
        events: list[Event] = []
        with pytest.raises(ServerError) as info:
            events.extend(session)
        assert type(info.value) is server_error_class(error_type)
        assert info.value.error_type == error_type
        assert info.value.close_code is not None
        assert isinstance(events[-1], ErrorEvent)
        assert events[-1].error_type == error_type
        session.close()


@pytest.mark.parametrize("error_type", ["auth_error", "quota_exceeded", "rate_limited",
                                        "unaccepted_terms", "resource_exhausted"])
def test_errors_before_session_started_raise_from_connect(error_type: str) -> None:
    """An error instead of session_started makes connect() raise the typed error."""
    scenario = {"faults": [{"action": "error", "when": "connect", "error_type": error_type}]}
    with MockServer(scenario=scenario) as server, pytest.raises(server_error_class(error_type)):
        client_for(server).connect()


def test_non_fatal_error_is_yielded_and_the_session_goes_on() -> None:
    """An error without a close is an event; the session still finishes normally."""
    scenario = {"faults": [{"action": "error", "when": "chunks", "count": 1,
                            "error_type": "input_error", "close": False}]}
    with MockServer(scenario=scenario, transcript="still here") as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.8))
        session.finish()
        events = list(session)
        assert any(isinstance(e, ErrorEvent) and e.error_type == "input_error" for e in events)
        assert session.transcript == "still here"


def test_bad_key_and_invalid_model_raise_typed_errors() -> None:
    """auth_error after open raises AuthError; a bad model raises InvalidRequestError (1008)."""
    with MockServer(api_keys=["good-key"]) as server:
        with pytest.raises(AuthError):
            ScribeClient("bad-key", base_url=server.base_url).connect()
        with pytest.raises(InvalidRequestError) as info:
            ScribeClient("good-key", base_url=server.base_url).connect("scribe_realtime_v2")
        assert info.value.close_code == 1008
        assert "scribe_v2_realtime" in info.value.message


def test_token_auth_single_use(scribe_mock: MockServer) -> None:
    """create_token mints a token that connects once; a reuse is refused with AuthError."""
    client = client_for(scribe_mock)
    token = client.create_token()
    assert token.startswith("sutkn_")
    keyless = ScribeClient(base_url=scribe_mock.base_url)
    with keyless.connect(token=token) as session:
        assert session.session_id
    with pytest.raises(AuthError):
        keyless.connect(token=token)
    record = scribe_mock.sessions()[0]
    assert "xi-api-key" not in record.headers


def test_options_are_validated_before_any_connection(scribe_mock: MockServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad options and missing credentials fail locally; the server never sees a connection."""
    client = client_for(scribe_mock)
    with pytest.raises(ConfigError, match="vad_threshold"):
        client.connect(vad_threshold=1.5)
    with pytest.raises(ConfigError, match="did you mean 'include_timestamps'"):
        client.connect(include_timestamp=True)
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ELEVENLABS_API_KEY"):
        ScribeClient(base_url=scribe_mock.base_url).connect()
    assert scribe_mock.sessions() == []


def test_api_key_falls_back_to_environment(scribe_mock: MockServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Without api_key=, ELEVENLABS_API_KEY is used."""
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)
    with scribe_sync.connect(base_url=scribe_mock.base_url) as session:
        assert session.session_id


def test_connect_times_out_when_the_server_stalls() -> None:
    """A server that never sends session_started makes connect raise TimeoutError."""
    scenario = {"faults": [{"action": "stall", "when": "connect"}]}
    with MockServer(scenario=scenario) as server, pytest.raises(TimeoutError):
        client_for(server, open_timeout=0.5).connect()


def test_unknown_types_and_garbage_frames_do_not_end_the_session() -> None:
    """An unknown message type is an UnknownEvent; a garbage frame is skipped."""
    scenario = {"faults": [
        {"action": "send", "when": "start", "payload": {"message_type": "novel", "n": 1}},
        {"action": "garbage", "when": "start"},
    ]}
    with MockServer(scenario=scenario, transcript="fine") as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.5))
        session.finish()
        events = list(session)
        assert any(isinstance(e, UnknownEvent) and e.message_type == "novel" for e in events)
        assert session.stats.malformed_frames == 1
        assert session.transcript == "fine"


def test_dropped_connection_raises_connection_closed() -> None:
    """A TCP drop without a close frame raises ConnectionClosedError (1006)."""
    scenario = {"faults": [{"action": "drop", "when": "chunks", "count": 1}]}
    with MockServer(scenario=scenario) as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.1))
        with pytest.raises(ConnectionClosedError) as info:
            list(session)
        assert info.value.code == 1006
        session.close()


def test_close_while_another_thread_is_blocked_in_recv(scribe_mock: MockServer) -> None:
    """close() from the main thread wakes a receiver blocked on a real socket."""
    session = client_for(scribe_mock).connect()
    waiting = threading.Event()
    result: list[object] = []

    def receiver() -> None:
        waiting.set()
        result.append(session.recv(timeout=30))

    thread = threading.Thread(target=receiver, name="test-receiver")
    thread.start()
    assert waiting.wait(5)
    session.close()
    thread.join(10)
    assert result == [None]
    record = scribe_mock.wait_idle()[0]
    assert record.close_code == 1000


def test_close_from_a_callback(scribe_mock: MockServer) -> None:
    """A callback can close its session; every session thread ends."""
    session = client_for(scribe_mock).connect()
    ended = threading.Event()
    session.on(PartialTranscript, lambda e: session.close())
    session.on(SessionEnded, lambda e: ended.set())
    # The callback may close the session between two of the three 1 s frames this call sends:
    # the rest is then refused with LocalProtocolError (reported, not dropped).
    with contextlib.suppress(LocalProtocolError):
        session.send_audio(speech(3.0))
    assert ended.wait(10)
    session.close()
    assert session.closed


def test_finish_delivers_the_uncommitted_tail() -> None:
    """Audio never committed by the caller is committed and transcribed by finish()."""
    with MockServer(transcript="one two three four") as server:
        with client_for(server).connect() as session:
            session.send_audio(speech(1.6, seed=9))
        assert session.transcript == "one two three four"
        assert server.wait_idle()[0].commits == 1


def test_commit_below_minimum_is_padded_not_throttled() -> None:
    """commit() after 0.1 s of audio pads instead of provoking commit_throttled."""
    with MockServer() as server:
        with client_for(server).connect() as session:
            session.send_audio(speech(0.1))
            assert session.commit()
        record = server.wait_idle()[0]
        assert "commit_throttled" not in record.errors
        assert record.commits == 1


def test_keepalive_survives_longer_than_the_idle_limit() -> None:
    """With keepalive on, a session outlives the server's idle limit; off, it is closed."""
    with MockServer(idle_timeout_secs=0.5) as server:
        alive = client_for(server, keepalive_interval=0.1).connect()
        with pytest.raises(TimeoutError):
            alive.recv(timeout=1.5)  # three idle limits of silence from the caller
        assert not alive.closed
        alive.close()
        record = server.wait_idle()[0]
        assert record.chunks >= 5
        assert record.close_code == 1000

        idle = client_for(server, keepalive_interval=None).connect()
        assert idle.recv(timeout=5) is None  # the server closed it for idleness
        idle.close()


def test_tls_with_a_private_ca(tmp_path: Any) -> None:
    """wss:// to a certificate from an unknown CA is refused; with that CA it connects."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with MockServer(ssl_context=server_context) as server:
        assert server.base_url.startswith("https://")
        with pytest.raises(ConnectionClosedError, match="TLS"):
            client_for(server).connect()
        with client_for(server, ca_file=ca_file).connect() as session:
            assert session.session_id


def test_secrets_never_appear_in_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    """The API key and tokens stay out of DEBUG logs, reprs and exception text."""
    secret_key = "sk_supersecretkey_0123456789"
    with MockServer(api_keys=[secret_key]) as server, \
            caplog.at_level(logging.DEBUG, logger="scribe_sync"):
        client = ScribeClient(secret_key, base_url=server.base_url)
        token = client.create_token()
        texts = [repr(client)]
        with client.connect(token=token) as session:
            session.send_audio(speech(0.5))
            texts.append(repr(session))
        try:
            ScribeClient(base_url=server.base_url).connect(token=token)  # reused: refused
        except AuthError as exc:
            texts.append(str(exc))
        texts.extend(r.getMessage() for r in caplog.records)
        assert any("connecting to" in t for t in texts)
        for text in texts:
            assert secret_key not in text
            assert token not in text
