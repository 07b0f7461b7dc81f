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
import signal
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
from tests.doubles import wait_for
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
        # The busy sender either hit the ending (and raised) or was stopped first, a race of
        # the test's own stop; a send after the ending raises the server's error, always.
        assert outcome[0] is None or isinstance(outcome[0], ScribeError)
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


# =============================================================================================
# Defect 9: two Ctrl+C in quick succession

#: Delays between the two signals (seconds), and after the first output line before the first.
SIGINT_GAPS = [0.0, 0.001, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3,
               0.4, 0.6]
SIGINT_LEADS = [0.0, 0.05, 0.1, 0.2, 0.3]


def interrupt_twice(args: list[str], marker: str, gap: float, lead: float
                    ) -> tuple[int | None, str]:
    """Start ``python args``, wait for a stdout line containing ``marker``, send SIGINT, wait
    ``gap``, send it again; the exit status (``None`` if it hung) and stderr."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("ELEVENLABS_API_KEY", None)
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT on a hang dumps every thread's stack
    proc = subprocess.Popen([sys.executable, *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded: the command ends by itself within ~20 s
            if marker in line:
                break
        # The varied delays are the input under test (where each signal lands), not a wait
        # for something to happen.
        time.sleep(lead)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            try:
                _, stderr = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
            return None, stderr
        return proc.returncode, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_two_quick_ctrl_c_exit_130_without_a_broken_lock() -> None:
    """Two SIGINTs at varied moments, 15 times: exit 130 each time, no lock error, no hang."""
    args = ["-m", "scribe_sync.cli", "transcribe", "--mock", "--format", "jsonl",
            "--speed", "3", "--commit-every", "1",
            str(REPO / "scribe_sync" / "data" / "sample.flac")]
    for attempt, gap in enumerate(SIGINT_GAPS):
        lead = SIGINT_LEADS[attempt % len(SIGINT_LEADS)]
        status, stderr = interrupt_twice(args, "partial_transcript", gap, lead)
        where = f"attempt {attempt} (lead {lead} s, gap {gap} s)"
        assert status is not None, f"{where}: the command hung\n{stderr[-1500:]}"
        assert "release unlocked lock" not in stderr, f"{where}:\n{stderr[-1500:]}"
        assert "Traceback" not in stderr, f"{where}:\n{stderr[-1500:]}"
        # Death by SIGINT (the second signal landing as the interpreter exits) is what a
        # shell also reports as 130.
        assert status in (130, -signal.SIGINT), f"{where}: exit {status}\n{stderr[-1500:]}"


LIBRARY_SIGINT_SCRIPT = """
import signal
import sys
from mock_server import MockServer
from mock_server.testing import speech
from scribe_sync import ScribeClient


def run(session):
    # stage 0: iterating; 1: the first Ctrl+C came, finishing (the second may land here).
    stage = 0
    while stage < 2:
        try:
            if stage == 0:
                print("ready", flush=True)
                for event in session:
                    pass
            else:
                session.finish(timeout=10.0)
            return
        except KeyboardInterrupt:
            stage += 1


with MockServer(transcript="one two three four five six") as server:
    client = ScribeClient("key-0123456789", base_url=server.base_url, close_timeout=2.0)
    session = client.connect()
    audio = speech(20.0)
    session.stream((audio[i:i + 3200] for i in range(0, len(audio), 3200)), speed=1.0,
                   commit_every=1.0)
    try:
        try:
            run(session)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        pass  # landed in this script's own lines, not in a wait of the library
    # Whatever the interrupts broke off, the session's locks must still work.
    session.close()
    session.stats
    session.transcript
    print("clean", flush=True)
    sys.exit(130)
"""


def test_two_quick_ctrl_c_on_the_main_thread_leave_the_session_usable() -> None:
    """A script iterating on its main thread, then finishing, takes two SIGINTs 8 times:
    close(), stats and transcript still work afterwards (no broken lock, no hang)."""
    for attempt, gap in enumerate(SIGINT_GAPS[::2]):
        lead = SIGINT_LEADS[attempt % len(SIGINT_LEADS)]
        status, stderr = interrupt_twice(["-c", LIBRARY_SIGINT_SCRIPT], "ready", gap, lead)
        where = f"attempt {attempt} (lead {lead} s, gap {gap} s)"
        assert status is not None, f"{where}: the script hung\n{stderr[-1500:]}"
        assert "Traceback" not in stderr, f"{where}:\n{stderr[-1500:]}"
        assert status == 130, f"{where}: exit {status}\n{stderr[-1500:]}"


# =============================================================================================
# More hostile peers and consumers the issue implies


def test_an_error_then_a_reset_before_session_started_raises_the_server_error() -> None:
    """quota_exceeded instead of session_started, then a RST: connect() raises the quota error."""
    def handler(peer: Peer) -> None:
        peer.send_error("quota_exceeded", "quota used up")
        peer.reset()

    with ScriptServer(handler) as server, pytest.raises(QuotaExceededError) as info:
        client_for(server).connect()
    assert isinstance(info.value.__cause__, ConnectionClosedError)


def test_a_bare_reset_ends_the_iterator_with_connection_closed() -> None:
    """A RST with no error before it: the iterator raises ConnectionClosedError (1006)."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        peer.read_message()
        peer.reset()

    with ScriptServer(handler) as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.1))
        with pytest.raises(ConnectionClosedError) as info:
            drain(session, PROMPT)
        session.close()
    assert info.value.code == 1006


def test_duplicate_commits_from_the_server_are_each_delivered_and_finish_works() -> None:
    """A server answering every commit twice: every answer is an event, finish() returns."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        peer.serve(duplicates=2)

    with ScriptServer(handler) as server:
        session = client_for(server).connect()
        received: list[Event] = []
        for _ in range(2):
            session.send_audio(speech(0.4))
            session.commit()
            for _ in range(2):
                event = session.recv(timeout=PROMPT)
                assert isinstance(event, CommittedTranscript)
                received.append(event)
        finisher, outcome, _ = in_thread(lambda: session.finish(timeout=PROMPT), "finisher")
        drain(session, PROMPT)
        finisher.join(PROMPT * 2)
    assert outcome == [None]
    assert len(received) == 4


def test_a_second_session_started_mid_session_does_not_break_it() -> None:
    """A duplicate session_started after audio: the session goes on and finishes."""
    def handler(peer: Peer) -> None:
        peer.send_started()
        peer.read_message()
        peer.send_started()
        peer.serve()

    with ScriptServer(handler) as server:
        session = client_for(server).connect()
        session.send_audio(speech(0.4))
        session.commit()
        finisher, outcome, _ = in_thread(lambda: session.finish(timeout=PROMPT), "finisher")
        events = []
        while (event := session.recv(timeout=PROMPT)) is not None:
            events.append(event)
        finisher.join(PROMPT * 2)
    assert outcome == [None]
    assert any(isinstance(e, CommittedTranscript) for e in events)


def test_a_raising_callback_does_not_stop_other_callbacks_or_finish(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A callback that raises is logged; the next callbacks still run and finish() works."""
    commits = 3
    with ScriptServer(serving) as server:
        session = client_for(server).connect()
        seen: list[str] = []
        all_in = threading.Event()

        def broken(event: CommittedTranscript) -> None:
            raise RuntimeError("a bug in user code")

        def counting(event: CommittedTranscript) -> None:
            seen.append(event.text)
            if len(seen) == commits:
                all_in.set()

        session.on(CommittedTranscript, broken)
        session.on(CommittedTranscript, counting)
        try:
            for _ in range(commits):
                session.send_audio(speech(0.4))
                session.commit()
            assert all_in.wait(PROMPT)
            session.finish(timeout=PROMPT)
        finally:
            session.close()
    assert len(seen) == commits
    assert "a bug in user code" in caplog.text


def test_close_from_inside_a_callback_ends_the_session() -> None:
    """close() called by a callback returns, and the session then ends normally."""
    with ScriptServer(serving) as server:
        session = client_for(server).connect()
        closed_in_callback = threading.Event()
        ended = threading.Event()
        endings: list[Any] = []

        def on_commit(event: CommittedTranscript) -> None:
            session.close()
            closed_in_callback.set()

        def on_any(event: Event) -> None:
            if type(event).__name__ == "SessionEnded":
                endings.append(event)
                ended.set()

        session.on(CommittedTranscript, on_commit)
        session.on(Event, on_any)
        session.send_audio(speech(0.4))
        session.commit()
        assert closed_in_callback.wait(PROMPT), "close() inside a callback did not return"
        assert ended.wait(PROMPT)
        session.close()
    assert session.closed
    assert getattr(endings[0], "error", None) is None


def test_close_while_another_thread_is_in_recv_ends_that_recv() -> None:
    """A thread blocked in recv returns (normal end) when another thread closes the session."""
    with ScriptServer(serving) as server:
        session = client_for(server).connect()
        receiver, outcome, done = in_thread(lambda: session.recv(timeout=30), "test-recv")
        session.close()
        assert done.wait(PROMPT), "recv did not end when the session closed"
        receiver.join(PROMPT)
    assert outcome == [None]


def test_an_iterator_and_callbacks_together_each_get_every_commit() -> None:
    """Both consumers at once, past max_queue: each sees every committed transcript.

    The iterator is in use before the first commit: an iterator that starts later gets only the
    latest ``max_queue`` events that arrived while callbacks alone were consuming (defect 1)."""
    commits = 12
    with ScriptServer(serving) as server:
        session = client_for(server, max_queue=4).connect()
        called: list[str] = []
        session.on(CommittedTranscript, lambda event: called.append(event.text))
        iterator, iterated, _ = in_thread(
            lambda: [e for e in session if isinstance(e, CommittedTranscript)], "iterator")
        assert wait_for(session, lambda: session._iterating, PROMPT)
        for _ in range(commits):
            session.send_audio(speech(0.4))
            session.commit()
        session.finish(timeout=PROMPT)
        iterator.join(PROMPT * 2)
    assert len(iterated[0]) == commits
    assert len(called) == commits


def test_senders_on_many_threads_and_finish_lose_no_commit() -> None:
    """Four threads send and commit at once, then finish(): every commit is answered."""
    with ScriptServer(serving) as server:
        session = client_for(server).connect()
        barrier = threading.Barrier(4)

        def sender() -> None:
            barrier.wait(PROMPT)
            for _ in range(5):
                session.send_audio(speech(0.4))
                session.commit()

        threads = [in_thread(sender, f"test-sender-{i}") for i in range(4)]
        for thread, _, _ in threads:
            thread.join(PROMPT * 2)
        assert all(outcome == [None] for _, outcome, _ in threads)
        commits = session.stats.commits_sent
        finisher, outcome, _ = in_thread(lambda: session.finish(timeout=PROMPT), "finisher")
        answered = sum(isinstance(e, CommittedTranscript) for e in session)
        finisher.join(PROMPT * 2)
    assert outcome == [None]
    # Commits from different threads interleave: a commit that finds no uncommitted audio (the
    # other thread's commit took it) sends nothing and returns False, so there may be fewer
    # than 20; every commit sent must be answered.
    assert 5 <= commits <= 20
    assert answered == commits


CONTENDED_SIGINT_SCRIPT = """
import logging, signal, sys, threading, time
from scribe_sync import ScribeClient

# A slow log handler (a network or a blocked stderr) on the library's logger: a record the
# session logs from its own threads waits here, so the session is busy exactly when Ctrl+C
# lands on the main thread.
blocked, release = threading.Event(), threading.Event()


class SlowHandler(logging.Handler):
    def emit(self, record):
        if threading.current_thread() is not threading.main_thread():
            blocked.set()
            release.wait(3.0)


logging.getLogger("scribe_sync").addHandler(SlowHandler())
logging.getLogger("scribe_sync").addHandler(logging.StreamHandler())  # what a thread reports
# The kernel hands a process signal to any thread that does not block it, and only the main
# thread's own wait is interrupted by it; threads inherit the mask of the thread that starts
# them, so blocking SIGINT until they exist makes every Ctrl+C land on the main thread.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
client = ScribeClient("key-0123456789", base_url=sys.argv[1], max_queue=2, close_timeout=2.0)
session = client.connect()
for _ in range(2):
    session.send_audio(bytes(12800))
    session.commit()
session.send_audio(bytes(12800))


def announce():
    # Ready once a session thread is held in the handler and the main thread waits for the
    # session's lock (or after a second, if the session never holds a lock there).
    deadline = time.monotonic() + 1.0
    main = threading.main_thread().ident
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(main)
        if blocked.is_set() and frame is not None and frame.f_code.co_name in (
                "_acquire_restore", "acquire"):
            break
        time.sleep(0.001)
    print("ready", flush=True)


announcer = threading.Thread(target=announce, name="announcer")
announcer.start()
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
try:
    try:
        session.finish(timeout=10.0)  # commits the rest and waits: Ctrl+C lands here
    except KeyboardInterrupt:
        try:
            session.finish(timeout=10.0)
        except KeyboardInterrupt:
            pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        release.set()
except KeyboardInterrupt:
    pass  # landed in this script's own lines, not in a wait of the library
session.close()
session.stats
session.transcript
announcer.join()
print("clean", flush=True)
sys.exit(130)
"""


def test_ctrl_c_while_the_session_is_busy_leaves_no_broken_lock() -> None:
    """Two SIGINTs on the main thread in finish() while a session thread is busy in a slow
    log handler, six times: no 'release unlocked lock', no hang, the session still closes."""
    with ScriptServer(serving) as server:
        for attempt, gap in enumerate([0.0, 0.05] * 3):
            status, stderr = interrupt_twice(
                ["-c", CONTENDED_SIGINT_SCRIPT, server.base_url], "ready", gap, 0.0
            )
            where = f"attempt {attempt} (gap {gap} s)"
            assert status is not None, f"{where}: the script hung\n{stderr[-3000:]}"
            assert "release unlocked lock" not in stderr, f"{where}:\n{stderr[-3000:]}"
            assert "Traceback" not in stderr, f"{where}:\n{stderr[-3000:]}"
            assert status == 130, f"{where}:\n{stderr[-3000:]}"
