"""Reconnect and resume: faults from the mock server, proof from its journal."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest

from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync import (
    AudioBufferFullError,
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    ConfigError,
    ConnectionClosedError,
    Event,
    QuotaExceededError,
    Reconnected,
    Reconnecting,
    ReconnectPolicy,
    ScribeClient,
    ScribeError,
)
from tests.doubles import wait_for

KEY = "reconnect-test-key"
FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.2, seed=1)
SEGMENTS = [speech(1.0, seed=s) + silence(0.3) for s in range(4)]


def drive(session: Any, segments: list[bytes] = SEGMENTS) -> list[Event]:
    """Send each segment in 100 ms chunks with a commit after it, then finish; all events."""
    def sender() -> None:
        try:
            for segment in segments:
                for i in range(0, len(segment), 3200):
                    session.send_audio(segment[i : i + 3200])
                session.commit()
            session.finish()
        except ScribeError:
            pass  # the session ended; the iterator below reports how


    thread = threading.Thread(target=sender, name="test-sender")
    thread.start()
    events = list(session)
    thread.join(30)
    assert not thread.is_alive()
    return events


def send(session: Any, segments: list[bytes]) -> None:
    """Each segment in 100 ms chunks, with a commit after it."""
    for segment in segments:
        for i in range(0, len(segment), 3200):
            session.send_audio(segment[i : i + 3200])
        session.commit()


def drain(session: Any) -> None:
    """Receive until the session ends, each wait bounded."""
    while session.recv(timeout=20) is not None:
        pass


def fault_free_transcript(**options: Any) -> str:
    with MockServer() as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect(**options)
        drive(session)
        return session.transcript


@pytest.mark.parametrize("fault", [
    {"action": "drop", "when": "chunks", "count": 20, "session": 1},
    {"action": "close", "when": "chunks", "count": 20, "code": 1011, "reason": "boom",
     "session": 1},
    {"action": "error", "when": "chunks", "count": 20,
     "error_type": "session_time_limit_exceeded", "session": 1},
    {"action": "error", "when": "chunks", "count": 20, "error_type": "resource_exhausted",
     "session": 1},
    {"action": "close", "when": "chunks", "count": 20, "code": 1000, "session": 1},
])
def test_a_lost_connection_is_resumed_without_losing_or_repeating_text(
    fault: dict[str, Any],
) -> None:
    """After a retryable ending, the session reconnects, replays, and ends with the exact
    fault-free transcript; the events announce the reconnect."""
    expected = fault_free_transcript()
    with MockServer(scenario={"faults": [fault]}) as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect(reconnect=FAST)
        first_id = session.session_id
        events = drive(session)
        assert session.transcript == expected
        reconnecting = [e for e in events if isinstance(e, Reconnecting)]
        reconnected = [e for e in events if isinstance(e, Reconnected)]
        assert len(reconnecting) == 1
        assert len(reconnected) == 1
        assert reconnected[0].session_id == session.session_id != first_id
        assert session.stats.reconnects == 1
        committed = [e.text for e in events if isinstance(e, CommittedTranscript)]
        assert " ".join(t for t in committed if t) == expected
        records = server.wait_idle(count=2)
        assert len(records) == 2


def test_replay_covers_every_byte_in_order() -> None:
    """The journal proves it: what session 1 got plus session 2's replay and the rest is the
    whole audio, in order, with the only repetition being the documented replay."""
    audio = b"".join(SEGMENTS)
    fault = {"action": "drop", "when": "chunks", "count": 20, "session": 1}
    with MockServer(scenario={"faults": [fault]}) as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect(reconnect=FAST)
        events = drive(session)
        first, second = server.wait_idle(count=2)
        replayed = next(e for e in events if isinstance(e, Reconnected)).replayed_seconds
    # Session 1 got a prefix of the stream. Session 2 got a suffix that starts at or before the
    # end of that prefix (the replay: audio after the last answered commit, including any sent
    # after the drop but before it was noticed). Together: every byte, in order.
    assert first.audio_sha256 == hashlib.sha256(audio[: first.audio_bytes]).hexdigest()
    start = len(audio) - second.audio_bytes
    assert 0 <= start <= first.audio_bytes
    assert second.audio_sha256 == hashlib.sha256(audio[start:]).hexdigest()
    # The replay starts at a commit boundary: the end of a whole segment.
    assert start % len(SEGMENTS[0]) == 0
    assert replayed * 32000 >= first.audio_bytes - start


def test_previous_text_carries_the_committed_context_into_the_new_connection() -> None:
    """The first replayed chunk carries the end of the committed text as previous_text."""
    fault = {"action": "drop", "when": "chunks", "count": 20, "session": 1}
    with MockServer(scenario={"faults": [fault]}, transcript="alpha beta gamma delta " * 5) as s:
        session = ScribeClient(KEY, base_url=s.base_url).connect(reconnect=FAST)
        first, rest = SEGMENTS[:1], SEGMENTS[1:]

        def sender() -> None:
            # The context is committed text: the first commit's answer must be in before the
            # drop (chunk 20, inside the second segment), else there is no context to carry.
            try:
                send(session, first)
                assert wait_for(session, lambda: session.transcript, timeout=20)
                send(session, rest)
                session.finish()
            except ScribeError:
                pass  # the iterator below reports how the session ended

        thread = threading.Thread(target=sender, name="test-sender")
        thread.start()
        drain(session)
        thread.join(30)
        assert not thread.is_alive()
        second = s.wait_idle(count=2)[1]
        first_chunk = second.received("input_audio_chunk")[0]
        assert first_chunk.get("previous_text")
        assert len(first_chunk["previous_text"]) <= 50
        assert session.transcript.endswith(first_chunk["previous_text"].split()[-1]) or (
            first_chunk["previous_text"] in session.transcript
        )


def test_word_times_stay_on_one_clock() -> None:
    """Timestamps after a reconnect continue the first connection's clock."""
    fault = {"action": "drop", "when": "chunks", "count": 20, "session": 1}
    with MockServer(scenario={"faults": [fault]}) as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect(
            reconnect=FAST, include_timestamps=True
        )
        events = drive(session)
    starts = [
        w.start
        for e in events if isinstance(e, CommittedTranscriptWithTimestamps)
        for w in e.words or () if w.type == "word" and w.start is not None
    ]
    assert len(starts) >= 8
    assert starts == sorted(starts)
    # The last segment's speech starts 3 * 1.3 s into the stream.
    assert starts[-1] > 3 * 1.3


def test_audio_sent_while_reconnecting_is_buffered_then_delivered() -> None:
    """send_audio during the reconnect gap succeeds; the audio reaches the new connection."""
    fault = {"action": "drop", "when": "chunks", "count": 1, "session": 1}
    with MockServer(scenario={"faults": [fault]}) as server:
        policy = ReconnectPolicy(initial_delay=0.5, max_delay=0.5, jitter=0.0)
        session = ScribeClient(KEY, base_url=server.base_url).connect(reconnect=policy)
        gap = threading.Event()
        back = threading.Event()
        session.on(Reconnecting, lambda e: gap.set())
        session.on(Reconnected, lambda e: back.set())
        session.send_audio(speech(0.1, seed=5))
        assert gap.wait(10)
        during = speech(0.4, seed=6)
        session.send_audio(during)  # the socket is gone: buffered
        assert back.wait(10)
        session.finish()
        second = server.wait_idle(count=2)[1]
    assert second.audio_bytes >= len(during)
    assert second.audio_sha256 == hashlib.sha256(speech(0.1, seed=5) + during).hexdigest()


def test_non_retryable_errors_are_not_retried() -> None:
    """quota_exceeded ends the session at once, with no reconnect attempt."""
    fault = {"action": "error", "when": "chunks", "count": 2, "error_type": "quota_exceeded"}
    with MockServer(scenario={"faults": [fault]}) as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect(reconnect=FAST)
        with pytest.raises(QuotaExceededError):
            drive(session)
        assert len(server.sessions()) == 1


def test_giving_up_raises_the_last_error_with_attempts_and_undelivered_audio() -> None:
    """When every new connection fails, the policy gives up and says what was lost."""
    faults = [{"action": "drop", "when": "chunks", "count": 3, "session": 1},
              *({"action": "drop", "when": "start", "session": n} for n in range(2, 10))]
    with MockServer(scenario={"faults": faults}) as server:
        policy = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
        session = ScribeClient(KEY, base_url=server.base_url).connect(reconnect=policy)
        for _ in range(5):
            session.send_audio(speech(0.1))
        with pytest.raises(ConnectionClosedError) as info:
            drain(session)
        assert info.value.reconnect_attempts == 3
        assert info.value.undelivered_audio_seconds == pytest.approx(0.5)
        with pytest.raises(ConnectionClosedError):
            session.send_audio(b"\x00\x00")
        session.close()


def test_full_buffer_refuses_audio_instead_of_dropping_it() -> None:
    """With the buffer full, send_audio raises AudioBufferFullError and accepts nothing."""
    with MockServer() as server:
        policy = ReconnectPolicy(buffer_seconds=1.0)
        session = ScribeClient(KEY, base_url=server.base_url).connect(reconnect=policy)
        session.send_audio(silence(0.9))
        with pytest.raises(AudioBufferFullError, match="buffer"):
            session.send_audio(silence(0.2))
        assert session.stats.audio_bytes_sent == len(silence(0.9))
        session.commit()  # the answer covers the buffer ...
        assert wait_for(session, lambda: session.stats.buffered_seconds == 0)
        assert session.stats.buffered_seconds == 0
        session.send_audio(silence(0.2))  # ... and there is room again
        session.close()


def test_reconnect_with_tokens_needs_a_token_function() -> None:
    """A single-use token string cannot reconnect; a token function can."""
    fault = {"action": "drop", "when": "chunks", "count": 20, "session": 1}
    with MockServer(scenario={"faults": [fault]}) as server:
        client = ScribeClient(KEY, base_url=server.base_url)
        with pytest.raises(ConfigError, match="token"):
            client.connect(token=client.create_token(), reconnect=True)
        keyless = ScribeClient(base_url=server.base_url)
        session = keyless.connect(token=client.create_token, reconnect=FAST)
        drive(session)
        assert session.stats.reconnects == 1
        assert len(server.wait_idle(count=2)) == 2


@pytest.mark.parametrize("second", [lambda: 5, lambda: 1 / 0])
def test_a_token_function_that_fails_at_a_reconnect_ends_the_session_with_a_config_error(
        second: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A token function that returned a non-string, or raised, at a reconnect ended the session
    as "reader failed", logged as a library bug; at connect it raised a raw TypeError."""
    fault = {"action": "drop", "when": "chunks", "count": 20, "session": 1}
    with MockServer(scenario={"faults": [fault]}) as server:
        client = ScribeClient(KEY, base_url=server.base_url)
        keyless = ScribeClient(base_url=server.base_url)
        with pytest.raises(ConfigError, match="token"):
            keyless.connect(token=second, reconnect=FAST)
        calls: list[int] = []

        def token() -> Any:
            calls.append(1)
            return client.create_token() if len(calls) == 1 else second()

        session = keyless.connect(token=token, reconnect=FAST)
        with pytest.raises(ConfigError, match="token"):
            drive(session)
        session.close()
    assert "reader failed" not in caplog.text


def test_a_token_function_network_error_at_a_reconnect_is_retried() -> None:
    """The user's token server briefly unreachable (an OSError, as requests raises) is a
    failed attempt like any other, not a configuration error."""
    fault = {"action": "drop", "when": "chunks", "count": 20, "session": 1}
    with MockServer(scenario={"faults": [fault]}) as server:
        client = ScribeClient(KEY, base_url=server.base_url)
        calls: list[int] = []

        def token() -> str:
            calls.append(1)
            if len(calls) == 2:
                raise ConnectionRefusedError("the token server is down")
            return client.create_token()

        session = ScribeClient(base_url=server.base_url).connect(token=token, reconnect=FAST)
        drive(session)
        assert session.stats.reconnects == 1
        assert len(calls) == 3


def test_close_during_the_reconnect_gap_ends_quietly() -> None:
    """close() while waiting to reconnect ends the session normally and promptly."""
    fault = {"action": "drop", "when": "chunks", "count": 1, "session": 1}
    with MockServer(scenario={"faults": [fault]}) as server:
        policy = ReconnectPolicy(initial_delay=30.0, max_delay=30.0)
        session = ScribeClient(KEY, base_url=server.base_url).connect(reconnect=policy)
        gap = threading.Event()
        session.on(Reconnecting, lambda e: gap.set())
        session.send_audio(speech(0.1))
        assert gap.wait(10)
        session.close()
        assert session.closed
        assert [type(e) for e in session] == [Reconnecting]
