"""Regression tests for the session core's concurrency defects, through the public API only.

Each test plays a hostile peer on a real socket (:class:`tests.rawserver.ScriptServer`): a
callbacks-only consumer past ``max_queue``, an error followed by a TCP reset, descriptors
above 1024, a peer that stops reading, a ping followed by silence, a re-raised ending, locks
held across blocking writes, non-finite timeouts and a second Ctrl+C. Timing bounds are
watchdogs (an ``Event`` wait many times the option under test), never measurements.
"""

from __future__ import annotations

import math
import os
import pathlib
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from mock_server.testing import silence, speech
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
from tests.rawserver import OP_PING, OP_PONG, Peer, ScriptServer

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


def test_a_wake_up_with_a_readable_socket_still_reads_what_arrived() -> None:
    """After a failed write the session wakes its reader to drain what already arrived: a
    wake-up pending together with a readable socket must return the frame, not ``None`` (it
    returned ``None``, and the error sent just before a reset was lost under a busy sender)."""
    import selectors

    import websocket

    from scribe_sync._transport import WebSocketTransport

    sent = threading.Event()

    def handler(peer: Peer) -> None:
        peer.send_error("quota_exceeded", "quota used up")
        sent.set()
        peer.hold()

    with ScriptServer(handler) as server:
        ws = websocket.create_connection(server.base_url.replace("http", "ws") + "/x",
                                         timeout=PROMPT)
        transport = WebSocketTransport(ws, io_timeout=PROMPT)
        try:
            assert sent.wait(PROMPT)
            with selectors.DefaultSelector() as selector:  # the bytes are here, unread
                selector.register(ws.sock, selectors.EVENT_READ)
                assert selector.select(PROMPT)
            transport.wake()
            frame = transport.recv(0.0)
            assert frame is not None and b"quota_exceeded" in frame.data
            transport.wake()  # a wake-up alone still returns at once
            assert transport.recv(PROMPT) is None
        finally:
            transport.release()


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


# =============================================================================================
# Defect 3: select() fails on descriptors >= 1024

FD_SCRIPT = """
import os, resource, sys
from scribe_sync import CommittedTranscript, ScribeClient

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
assert max(held) >= 1024
client = ScribeClient(sys.argv[1], base_url=sys.argv[2], keepalive_interval=0.2,
                      io_timeout=1.0, close_timeout=2.0, finish_timeout=5.0)
session = client.connect()
try:
    session.recv(timeout=3.0)  # idle: three io_timeouts, fifteen keepalive intervals
except TimeoutError:
    pass
session.send_audio(bytes(12800))
session.commit()
event = session.recv(timeout=5.0)
assert isinstance(event, CommittedTranscript), event
keepalives = session.stats.keepalives_sent
session.finish(timeout=5.0)
print("ok", keepalives)
"""


def idle_limited(limit: float) -> Callable[[Peer], None]:
    """A peer that closes a client silent for ``limit`` seconds, as the live service does."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        peer.serve(idle_limit=limit)

    return handler


def python(*args: str, timeout: float = 60.0, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)


def test_an_idle_session_on_a_descriptor_above_1024_keeps_alive() -> None:
    """With 1100 files open, an idle session past three io_timeouts survives on keepalives."""
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 1200:
        pytest.skip("the hard descriptor limit is below 1200")
    with ScriptServer(idle_limited(1.0)) as server:
        proc = python("-c", FD_SCRIPT, KEY, server.base_url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    word, keepalives = proc.stdout.split()
    assert word == "ok" and int(keepalives) >= 2


def test_an_idle_session_keeps_alive_past_the_server_idle_limit() -> None:
    """The same idle session on a low descriptor: keepalives hold it open."""
    with ScriptServer(idle_limited(1.0)) as server:
        session = client_for(server, keepalive_interval=0.2, io_timeout=1.0).connect()
        try:
            with pytest.raises(TimeoutError):
                session.recv(timeout=3.0)
            assert not session.closed
            assert session.stats.keepalives_sent >= 2
            session.send_audio(speech(0.4))
            session.commit()
            assert isinstance(session.recv(timeout=PROMPT), CommittedTranscript)
            session.finish(timeout=PROMPT)
        finally:
            session.close()


# =============================================================================================
# Defect 4: a frozen peer hangs the session when reconnect is off

IO_TIMEOUT = 0.5
#: More audio than the client's send buffer and the peer's shrunk receive buffer hold.
FLOOD = silence(100.0)


def frozen_after_first_chunk(first: threading.Event) -> Callable[[Peer], None]:
    """A peer that reads one audio frame, sets ``first``, then never reads or writes again."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        peer.read_message()
        first.set()
        peer.hold()

    return handler


def drain(session: Any, wait: float) -> None:
    """Receive until the session ends, each wait bounded by ``wait``."""
    while session.recv(timeout=wait) is not None:
        pass


def test_a_send_to_a_frozen_peer_ends_the_session_with_connection_closed() -> None:
    """The peer stops reading: the blocked send fails, and the iterator raises
    ConnectionClosedError within a few io_timeouts."""
    first = threading.Event()
    with ScriptServer(frozen_after_first_chunk(first)) as server:
        session = client_for(server, io_timeout=IO_TIMEOUT, keepalive_interval=0.2).connect()
        sender, outcome, sent = in_thread(lambda: session.send_audio(FLOOD), "test-sender")
        try:
            assert first.wait(PROMPT)
            with pytest.raises(ConnectionClosedError):
                drain(session, 10 * IO_TIMEOUT)
            assert sent.wait(10 * IO_TIMEOUT)
            assert isinstance(outcome[0], ConnectionClosedError)
            assert session.closed
        finally:
            session.close()
            sender.join(PROMPT)


def test_a_stream_to_a_frozen_peer_ends_the_session_with_connection_closed() -> None:
    """Streaming into a peer that stops reading: the iterator raises ConnectionClosedError."""
    first = threading.Event()
    with ScriptServer(frozen_after_first_chunk(first)) as server:
        session = client_for(server, io_timeout=IO_TIMEOUT, keepalive_interval=0.2).connect()
        try:
            handle = session.stream(iter([silence(1.0)] * 100), speed=None)
            assert first.wait(PROMPT)
            with pytest.raises(ConnectionClosedError):
                drain(session, 10 * IO_TIMEOUT)
            assert handle.join(10 * IO_TIMEOUT)
        finally:
            session.close()


def test_close_after_a_frozen_send_does_not_make_the_ending_normal() -> None:
    """A send timed out on a frozen peer; a later close() must not turn that into a normal end."""
    first = threading.Event()
    with ScriptServer(frozen_after_first_chunk(first)) as server:
        session = client_for(server, io_timeout=IO_TIMEOUT, keepalive_interval=None).connect()
        try:
            with pytest.raises(ConnectionClosedError):
                session.send_audio(FLOOD)
        finally:
            session.close()
        with pytest.raises(ConnectionClosedError):
            session.recv(timeout=PROMPT)


CLI_WITH_IO_TIMEOUT = """
import sys
import scribe_sync
from scribe_sync import cli

# The command has no flag for io_timeout; shorten the client's default so a frozen peer is
# detected in a fraction of a second instead of ten.
original = scribe_sync.ScribeClient.__init__

def patched(self, *args, **kwargs):
    kwargs.setdefault("io_timeout", float(sys.argv[1]))
    original(self, *args, **kwargs)

scribe_sync.ScribeClient.__init__ = patched
sys.exit(cli.main(sys.argv[2:]))
"""


def test_the_cli_exits_5_when_the_server_stops_reading(tmp_path: pathlib.Path) -> None:
    """scribe-sync transcribe into a frozen peer ends with exit 5 instead of hanging."""
    audio = tmp_path / "flood.pcm"
    audio.write_bytes(FLOOD)
    first = threading.Event()
    with ScriptServer(frozen_after_first_chunk(first)) as server, audio.open("rb") as stdin:
        try:
            proc = python("-c", CLI_WITH_IO_TIMEOUT, str(IO_TIMEOUT), "transcribe", "-",
                          "--base-url", server.base_url, "--api-key", KEY, "--fast",
                          timeout=40 * IO_TIMEOUT, stdin=stdin)
        except subprocess.TimeoutExpired:
            pytest.fail("the command hung on a peer that stopped reading")
    assert proc.returncode == 5, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# =============================================================================================
# Defect 5: one server ping followed by silence kills the session


def control_then_idle(opcode: int, limit: float = 1.0) -> Callable[[Peer], None]:
    """A peer that sends one ping (or pong), then nothing but answers, closing idle clients."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        peer.send_frame(opcode, b"heartbeat")
        peer.serve(idle_limit=limit)

    return handler


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG], ids=["ping", "unsolicited-pong"])
def test_one_control_frame_then_silence_does_not_kill_the_session(opcode: int) -> None:
    """A ping (or an unsolicited pong), then silence past io_timeout: keepalives continue and
    the session stays open."""
    with ScriptServer(control_then_idle(opcode)) as server:
        session = client_for(server, keepalive_interval=0.2, io_timeout=1.0).connect()
        try:
            with pytest.raises(TimeoutError):
                session.recv(timeout=3.0)
            assert not session.closed
            assert session.stats.keepalives_sent >= 5
            session.send_audio(speech(0.4))
            session.commit()
            assert isinstance(session.recv(timeout=PROMPT), CommittedTranscript)
            session.finish(timeout=PROMPT)
        finally:
            session.close()


def heartbeat(interval: float, limit: float) -> Callable[[Peer], None]:
    """A proxy-like peer that pings every ``interval`` and closes a client silent for
    ``limit`` seconds."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        heard = next_ping = time.monotonic()
        while not peer.stopping.is_set():
            now = time.monotonic()
            if now >= next_ping:
                peer.send_frame(OP_PING, b"heartbeat")
                next_ping = now + interval
            if now - heard > limit:
                peer.send_error("insufficient_audio_activity", "no audio received")
                peer.send_close(1000)
                peer.read_message()
                return
            message = peer.read_message(max(0.0, min(next_ping, heard + limit) - now))
            if peer.eof:
                return
            if message is not None:
                heard = time.monotonic()
                if message.get("commit"):
                    peer.send_json({"message_type": "committed_transcript", "text": "beat"})

    return handler


def test_heartbeat_pings_do_not_starve_the_keepalive() -> None:
    """A peer pinging every 0.3 s and closing after 1 s without audio: keepalives still go out."""
    with ScriptServer(heartbeat(0.3, 1.0)) as server:
        session = client_for(server, keepalive_interval=0.2, io_timeout=1.0).connect()
        try:
            with pytest.raises(TimeoutError):
                session.recv(timeout=3.0)
            assert not session.closed
            session.send_audio(speech(0.4))
            session.commit()
            assert isinstance(session.recv(timeout=PROMPT), CommittedTranscript)
            session.finish(timeout=PROMPT)
        finally:
            session.close()


# =============================================================================================
# Defect 7: locks held across blocking I/O


def test_stats_answers_while_a_send_is_blocked_on_a_frozen_peer() -> None:
    """While a send blocks on a peer that stopped reading, stats, transcript and closed answer
    at once (well before the write's io_timeout)."""
    first = threading.Event()
    io_timeout = 10.0
    with ScriptServer(frozen_after_first_chunk(first)) as server:
        session = client_for(server, io_timeout=io_timeout, keepalive_interval=None).connect()
        sender, _, sent = in_thread(lambda: session.send_audio(FLOOD), "test-sender")
        try:
            assert first.wait(PROMPT)  # the sender is inside send_audio, writing
            reader, outcome, answered = in_thread(
                lambda: (session.stats, session.transcript, session.closed), "test-stats"
            )
            assert answered.wait(io_timeout / 4), "stats waited for the blocked write"
            assert not sent.is_set()
            assert outcome[0][0].audio_bytes_sent >= 0
        finally:
            session.close()
            sender.join(PROMPT)
            reader.join(io_timeout)


def test_close_while_a_send_is_blocked_is_bounded_by_one_close_timeout() -> None:
    """close() during a write blocked on a frozen peer returns within one close timeout (with
    slack), and the blocked sender is released."""
    first = threading.Event()
    close_timeout = 1.0
    with ScriptServer(frozen_after_first_chunk(first)) as server:
        session = client_for(server, io_timeout=30.0, close_timeout=close_timeout,
                             keepalive_interval=None).connect()
        sender, outcome, sent = in_thread(lambda: session.send_audio(FLOOD), "test-sender")
        try:
            assert first.wait(PROMPT)
            closer, _, closed = in_thread(session.close, "test-closer")
            assert closed.wait(close_timeout * 3), "close() overran its deadline"
            assert sent.wait(PROMPT), "the blocked sender was not released by close()"
            assert isinstance(outcome[0], ScribeError)
        finally:
            session.close()
            sender.join(PROMPT)
            closer.join(PROMPT)
