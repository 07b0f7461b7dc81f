"""Regression tests for the session core's concurrency defects, through the public API only.

Each test plays a hostile peer on a real socket (:class:`tests.rawserver.ScriptServer`): a
callbacks-only consumer past ``max_queue``, an error followed by a TCP reset, descriptors
above 1024, a peer that stops reading, a ping followed by silence, a re-raised ending, locks
held across blocking writes, non-finite timeouts and a second Ctrl+C. Timing bounds are
watchdogs (an ``Event`` wait many times the option under test), never measurements.
"""

from __future__ import annotations

import math
import pathlib
import threading
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from mock_server.testing import speech
from scribe_sync import (
    CommittedTranscript,
    ConnectionClosedError,
    ErrorEvent,
    Event,
    QuotaExceededError,
    Reconnecting,
    ReconnectPolicy,
    ScribeClient,
    ScribeError,
    TranscriberError,
)
from tests.rawserver import Peer, ScriptServer

KEY = "core-defects-key-0123456789"
REPO = pathlib.Path(__file__).resolve().parent.parent
#: A bound for things that should happen at once: a watchdog, not a measurement.
PROMPT = 5.0


def client_for(server: ScriptServer, **kwargs: Any) -> ScribeClient:
    kwargs.setdefault("close_timeout", 2.0)
    kwargs.setdefault("finish_timeout", 5.0)
    return ScribeClient(KEY, base_url=server.base_url, **kwargs)


def serving(peer: Peer) -> None:
    """A well-behaved peer: session_started, then one committed transcript per commit."""
    peer.send_started()
    peer.serve()


def chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and every exception it was raised from or while handling, nearest first."""
    seen: list[BaseException] = []
    while exc is not None and not any(exc is s for s in seen):
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def in_thread(target: Callable[[], object], name: str) -> tuple[threading.Thread, list[Any],
                                                                threading.Event]:
    """Run ``target`` on a named thread; its result or exception lands in the list."""
    outcome: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:  # handed to the test, which asserts on it
            outcome.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, outcome, done


# =============================================================================================
# Defect 1: callbacks alone stall after max_queue events


@pytest.mark.xfail(strict=True, reason="issue 11 defect 1")
def test_callbacks_alone_keep_firing_past_max_queue() -> None:
    """Callbacks as the only consumer, max_queue=8, 12 commits: all fire and finish() works."""
    commits = 12
    with ScriptServer(serving) as server:
        session = client_for(server, max_queue=8).connect()
        try:
            texts: list[str] = []
            all_in = threading.Event()

            def on_commit(event: CommittedTranscript) -> None:
                texts.append(event.text)
                if len(texts) == commits:
                    all_in.set()

            session.on(CommittedTranscript, on_commit)
            for _ in range(commits):
                session.send_audio(speech(0.4))
                assert session.commit()
            assert all_in.wait(PROMPT), f"only {len(texts)} of {commits} callbacks ran"
            session.finish(timeout=PROMPT)
        finally:
            session.close()
        assert texts == ["scripted words"] * commits


def test_an_iterator_past_max_queue_still_gets_every_commit() -> None:
    """An iterator that falls behind past max_queue loses no committed transcript."""
    commits = 12
    with ScriptServer(serving) as server:
        session = client_for(server, max_queue=4).connect()
        for _ in range(commits):
            session.send_audio(speech(0.4))
            session.commit()
        finisher, outcome, _ = in_thread(lambda: session.finish(timeout=PROMPT), "finisher")
        events = list(session)
        finisher.join(PROMPT * 2)
        assert outcome == [None]
        assert sum(isinstance(e, CommittedTranscript) for e in events) == commits


# =============================================================================================
# Defect 2: the server's error is lost when the transport fails right after it


def error_then_reset(error_type: str, *, after_chunks: int = 1) -> Callable[[Peer], None]:
    """A peer that reports ``error_type`` after some audio, then resets the TCP connection."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        while peer.audio_chunks < after_chunks:
            if peer.read_message() is None:
                return
        peer.send_error(error_type, "quota used up")
        peer.reset()

    return handler


@pytest.mark.xfail(strict=True, reason="issue 11 defect 2")
def test_an_error_then_a_reset_raises_the_server_error_caused_by_the_reset() -> None:
    """quota_exceeded then a RST: the ErrorEvent, then QuotaExceededError from the transport."""
    with ScriptServer(error_then_reset("quota_exceeded")) as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.1))
        events: list[Event] = []
        with pytest.raises(QuotaExceededError) as info:
            events.extend(session)
        session.close()
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].error_type == "quota_exceeded"
    assert info.value.error_type == "quota_exceeded"
    assert isinstance(info.value.__cause__, ConnectionClosedError)


def drain_refusing_reconnects(session: Any) -> None:
    """Receive until the session ends; fail at the first reconnect (each wait bounded)."""
    while (event := session.recv(timeout=PROMPT)) is not None:
        assert not isinstance(event, Reconnecting), f"the ending was retried: {event}"


@pytest.mark.xfail(strict=True, reason="issue 11 defect 2")
def test_an_error_then_a_reset_is_not_retried_with_reconnect_on() -> None:
    """With reconnect=True, quota_exceeded then a RST ends the session: one connection only."""
    policy = ReconnectPolicy(initial_delay=0.05, max_delay=0.1, max_attempts=3, seed=1)
    with ScriptServer(error_then_reset("quota_exceeded")) as server:
        session = client_for(server).connect(reconnect=policy)
        try:
            session.send_audio(speech(0.1))
            with pytest.raises(ScribeError) as info:
                drain_refusing_reconnects(session)
        finally:
            session.close()
        accepted = server.accepted
    assert isinstance(info.value, QuotaExceededError)
    assert accepted == 1


@pytest.mark.xfail(strict=True, reason="issue 11 defect 2")
def test_an_error_then_a_reset_under_a_busy_sender_still_raises_the_server_error() -> None:
    """A sender hitting the reset socket first does not hide the error: iterator and later
    sends raise QuotaExceededError."""
    with ScriptServer(error_then_reset("quota_exceeded", after_chunks=5)) as server:
        session = client_for(server).connect()
        stop = threading.Event()

        def sender() -> None:
            chunk = speech(0.1)
            while not stop.is_set():
                session.send_audio(chunk)

        thread, outcome, _ = in_thread(sender, "test-sender")
        try:
            with pytest.raises(ScribeError) as info:
                list(session)
        finally:
            stop.set()
            thread.join(PROMPT)
            session.close()
        assert isinstance(info.value, QuotaExceededError)
        assert isinstance(outcome[0], ScribeError)
        with pytest.raises(QuotaExceededError):
            session.send_audio(speech(0.1))


def test_an_error_then_a_clean_close_raises_the_server_error() -> None:
    """The well-behaved twin of the reset case: error, close frame, the subclass raised."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        peer.read_message()
        peer.send_error("quota_exceeded")
        peer.send_close(1000)
        peer.read_message()

    with ScriptServer(handler) as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.1))
        with pytest.raises(QuotaExceededError):
            list(session)
        session.close()


# =============================================================================================
# Defect 6: the ending error is one instance, re-raised by every later call


def error_then_close(peer: Peer) -> None:
    peer.send_started()
    peer.read_message()
    peer.send_error("transcriber_error", "the back end failed")
    peer.send_close(1011, "transcriber failed")
    peer.read_message()


@pytest.mark.xfail(strict=True, reason="issue 11 defect 6")
def test_later_calls_raise_a_fresh_error_chained_to_the_ending() -> None:
    """After the session ended with an error, each later call raises a new exception of the
    same type chained to the ending, and no traceback grows."""
    with ScriptServer(error_then_close) as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.1))
        with pytest.raises(TranscriberError) as info:
            list(session)
        first = info.value
        first_depth = len(traceback.extract_tb(first.__traceback__))
        raised: list[BaseException] = []
        calls = [lambda: session.recv(timeout=1), lambda: session.send_audio(speech(0.01))]
        for attempt in range(100):
            with pytest.raises(TranscriberError) as later:
                calls[attempt % 2]()
            raised.append(later.value)
        session.close()
    assert all(exc is not first for exc in raised)
    assert len({id(exc) for exc in raised}) == len(raised)
    for exc in raised:
        assert {id(e) for e in chain(first)} & {id(e) for e in chain(exc)}, exc
    assert len(traceback.extract_tb(first.__traceback__)) == first_depth
    depths = [len(traceback.extract_tb(exc.__traceback__)) for exc in raised]
    assert depths[-1] <= depths[1] and depths[-2] <= depths[0], depths


# =============================================================================================
# Defect 8: non-finite or negative timeouts


@pytest.mark.xfail(strict=True, reason="issue 11 defect 8")
@pytest.mark.parametrize("value", [math.nan, -1.0])
def test_recv_refuses_a_non_finite_or_negative_timeout(value: float) -> None:
    """recv(timeout=nan or -1) raises ValueError naming the argument, and does not block."""
    with ScriptServer(serving) as server:
        session = client_for(server).connect()
        thread, outcome, done = in_thread(lambda: session.recv(timeout=value), "test-recv")
        done.wait(PROMPT)
        session.close()  # wakes a recv that blocked (today's nan)
        thread.join(PROMPT)
    assert outcome and isinstance(outcome[0], ValueError), outcome
    assert "timeout" in str(outcome[0])


@pytest.mark.xfail(strict=True, reason="issue 11 defect 8")
@pytest.mark.parametrize("value", [math.nan, -1.0, math.inf * -1])
def test_finish_refuses_a_non_finite_or_negative_timeout(value: float) -> None:
    """finish(nan or a negative number) raises ValueError naming the argument."""
    with ScriptServer(serving) as server:
        session = client_for(server).connect()
        try:
            with pytest.raises(ValueError, match="timeout"):
                session.finish(value)
        finally:
            session.close()


def test_a_refused_timeout_leaves_the_session_usable() -> None:
    """After a refused recv timeout the session still transcribes and finishes."""
    with ScriptServer(serving) as server:
        session = client_for(server).connect()
        try:
            with pytest.raises((ValueError, TimeoutError)):
                session.recv(timeout=-1)
            session.send_audio(speech(0.4))
            session.commit()
            assert isinstance(session.recv(timeout=PROMPT), CommittedTranscript)
            session.finish(timeout=PROMPT)
        finally:
            session.close()
