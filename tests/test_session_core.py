"""The session core under hostile timing: interrupts, signal handlers, endings with commits
unanswered, a slow iterator, and a close that is interrupted. Each pins a defect of the
leader/follower core (it reproduced there)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest

from scribe_sync import (
    CommittedTranscript,
    ConnectionClosedError,
    IncompleteTranscriptError,
    LocalProtocolError,
    PartialTranscript,
)
from tests.doubles import ScriptedTransport, make_session, wait_for

SECOND = b"\x01\x00" * 16000  # 1 s of pcm_16000


# --- endings with commits unanswered ---------------------------------------------------------


def test_a_clean_close_with_commits_unanswered_raises_incomplete_transcript() -> None:
    """Close 1000 while a commit of 1 s is unanswered: the iterator raises
    IncompleteTranscriptError (a ConnectionClosedError) carrying the unanswered seconds,
    instead of ending as if the transcript were complete."""
    session, t = make_session()
    session.send_audio(SECOND)
    assert session.commit()
    t.push_close(1000)
    with pytest.raises(IncompleteTranscriptError) as caught:
        list(session)
    assert isinstance(caught.value, ConnectionClosedError)
    assert caught.value.code == 1000
    assert caught.value.unanswered_seconds == pytest.approx(1.0)
    session.close()


def test_a_clean_close_after_every_answer_ends_normally() -> None:
    """The same close once the commit is answered: a normal ending, nothing raised."""
    session, t = make_session()
    session.send_audio(SECOND)
    session.commit()
    t.push(CommittedTranscript("hello"))
    t.push_close(1000)
    assert [e.text for e in session if isinstance(e, CommittedTranscript)] == ["hello"]
    session.close()


def test_finish_reports_the_unanswered_seconds_of_a_server_that_closed_early() -> None:
    """finish() against a server that closes before answering raises
    IncompleteTranscriptError with the seconds it did not answer."""
    transport = ScriptedTransport()
    session, t = make_session(transport)
    session.send_audio(SECOND * 2)
    session.commit()
    t.push_close(1000)
    with pytest.raises(IncompleteTranscriptError) as caught:
        session.finish(timeout=5)
    assert caught.value.unanswered_seconds == pytest.approx(2.0)


# --- the overflow rule under a slow iterator --------------------------------------------------


def test_a_slow_iterator_sees_the_oldest_partials_dropped() -> None:
    """The reader keeps reading while the iterator is slow: over max_queue the oldest partials
    are dropped and counted, so the committed transcript behind 200 partials reaches the
    iterator within max_queue events instead of after all of them."""
    session, t = make_session(max_queue=8)
    total = 201
    for i in range(total - 1):
        t.push(PartialTranscript(f"p{i}"))
    t.push(CommittedTranscript("done"))
    taken: list[Any] = []
    while True:
        event = session.recv(timeout=5)
        taken.append(event)
        if isinstance(event, CommittedTranscript):
            break
        # Slow work per event: at most until the reader has read every frame (it does at once
        # when it reads eagerly; a core that reads only inside recv() never gets there).
        wait_for(session, lambda: session.stats.events_received >= total, timeout=0.02)
    assert len(taken) <= 8 + 1
    assert session.stats.partials_dropped >= total - 1 - 8 - 1
    session.close()


# --- Ctrl+C and signal handlers --------------------------------------------------------------


class Storm:
    """Sends ``signum`` to this process every 0-1 ms on a helper thread until stopped (load, not
    synchronisation: the test waits on events)."""

    def __init__(self, signum: int) -> None:
        self._signum = signum
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="test-storm", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.0005):
            os.kill(os.getpid(), self._signum)
            self.sent += 1

    def __enter__(self) -> Storm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # Stopped and joined whatever lands meanwhile: a storm left running would go on
        # signalling this process after the test restored the handlers (pytest itself would
        # then take the KeyboardInterrupt).
        while True:
            try:
                self._stop.set()
                self._thread.join()
                break
            except KeyboardInterrupt:
                continue


class RaisingWhileOn:
    """A SIGINT handler raising KeyboardInterrupt, as Python's default does, until turned off:
    a test turns it off before it stops its storm, runs the signals still pending through it
    (:func:`drain`), and only then gives the default handler back."""

    def __init__(self) -> None:
        self.on = True

    def __call__(self, _signum: int, _frame: Any) -> None:
        if self.on:
            raise KeyboardInterrupt

    def off(self) -> None:
        while True:
            try:
                self.on = False
                return
            except KeyboardInterrupt:  # one that landed just before the store
                continue


def drain() -> None:
    """Let the interpreter run the Python handlers of signals already delivered (it does so
    at a call); the storm is joined, so none is sent after this."""
    for _ in range(3):
        signal.getsignal(signal.SIGINT)


def _interruptible(body: Callable[[], Any]) -> Any:
    """Run ``body`` until it returns, retrying after each KeyboardInterrupt."""
    while True:
        try:
            return body()
        except KeyboardInterrupt:
            continue


def test_ctrl_c_storm_in_recv_loses_no_segment_of_the_transcript() -> None:
    """SIGINTs land anywhere inside recv() (even after an event left the queue): every
    committed transcript received is still in session.segments, in order."""
    assert threading.current_thread() is threading.main_thread()
    session, t = make_session(max_queue=None)
    count = 300
    texts = [f"segment {i}" for i in range(count)]
    for text in texts:
        t.push(CommittedTranscript(text))
    t.push_close(1000)
    raising = RaisingWhileOn()
    previous = signal.signal(signal.SIGINT, raising)
    try:
        with Storm(signal.SIGINT):
            try:
                while _interruptible(lambda: session.recv(timeout=10)) is not None:
                    pass
            except KeyboardInterrupt:  # one landing outside the guarded call
                pass
            finally:
                raising.off()
    except KeyboardInterrupt:  # one landing just before the storm stopped raising
        pass
    finally:
        raising.off()
        drain()
        signal.signal(signal.SIGINT, previous)
    assert wait_for(session, lambda: session.closed)
    assert [s.text for s in session.segments.segments] == texts
    assert session.transcript == " ".join(texts)
    session.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGUSR1])
@pytest.mark.parametrize("action", ["stats", "close"])
def test_a_signal_handler_reading_stats_or_closing_never_deadlocks(signum: int,
                                                                   action: str) -> None:
    """A handler that reads stats/transcript/segments (or calls close()) while the main thread
    iterates and a sender sends: 20 trials, each ending promptly (a handler waiting on a lock the
    interrupted code holds would hang here)."""
    assert threading.current_thread() is threading.main_thread()
    for _trial in range(20):
        session, t = make_session(max_queue=16)
        handled = threading.Event()

        def handler(_signum: int, _frame: Any, session: Any = session,
                    handled: threading.Event = handled) -> None:
            session.stats  # noqa: B018  (the read is the test)
            session.transcript  # noqa: B018
            session.segments  # noqa: B018
            if action == "close" and not handled.is_set():
                handled.set()  # first: the storm's next signals nest inside this handler
                session.close()
            handled.set()

        stop = threading.Event()

        def feed(t: ScriptedTransport = t, stop: threading.Event = stop,
                 handled: threading.Event = handled) -> None:
            i = 0
            while not stop.is_set() and (i < 2000 or not handled.is_set()) and i < 100_000:
                t.push(PartialTranscript(f"p{i}") if i % 5 else CommittedTranscript(f"c{i}"))
                i += 1
            t.push_close(1000)

        feeder = threading.Thread(target=feed, name="test-feeder")
        previous = signal.signal(signum, handler)
        try:
            feeder.start()
            with Storm(signum):
                for _event in session:
                    session.send_audio(b"\x00\x00" * 160)
                    if action == "close" and handled.is_set():
                        break
        except LocalProtocolError:
            pass  # sending after the handler closed the session is refused: by design
        finally:
            signal.signal(signum, previous)
            stop.set()
            feeder.join()
        assert handled.is_set()
        session.close()
        assert session.closed


def test_an_interrupted_close_keeps_one_deadline_and_leaves_nothing_behind() -> None:
    """close() against a server that never answers the close handshake, interrupted by Ctrl+C
    just after it sent the close frame: the reader still ends by the first call's deadline on
    its own, and a retried close() under Ctrl+C returns."""
    assert threading.current_thread() is threading.main_thread()

    class Silent(ScriptedTransport):
        def __init__(self) -> None:
            super().__init__(echo_close=False)
            self.closing = threading.Event()

        def send_close(self, code: int, reason: str) -> None:
            super().send_close(code, reason)
            self.closing.set()

    transport = Silent()
    session, _ = make_session(transport, close_timeout=0.5)
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        assert transport.closing.wait(5)
        signal.pthread_kill(main, signal.SIGINT)

    helper = threading.Thread(target=interrupt, name="test-interrupt")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        helper.start()
        with pytest.raises(KeyboardInterrupt):  # noqa: PT012  (the interrupt may land in either)
            session.close()
            threading.Event().wait(5)  # close() returned before the interrupt: it lands here
    finally:
        signal.signal(signal.SIGINT, previous)
        helper.join()
    # Without another close(), the reader ends by the first call's deadline (0.5 s) and cuts
    # the socket. (Thread.join cannot tell: an interrupted join marks a live thread stopped.)
    assert wait_for(session, lambda: session.closed)
    assert transport.aborted.wait(5)
    # A retried close() under a storm of handled signals returns. The handler is in place
    # before the storm starts and until it is joined (SIGUSR1's default ends the process).
    previous = signal.signal(signal.SIGUSR1, lambda *a: None)
    try:
        with Storm(signal.SIGUSR1):
            session.close()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert session.closed


# --- the opening handshake --------------------------------------------------------------------


class Trickler:
    """A TCP server that answers an upgrade with ``HTTP/1.1 101`` one byte at a time, then an
    endless header, until the client goes away."""

    def __init__(self) -> None:
        import socket

        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-trickler")

    def _run(self) -> None:
        import itertools

        self._listener.settimeout(5)
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            reply = b"HTTP/1.1 101 Switching Protocols\r\nX-Endless: "
            for byte in itertools.chain(reply, itertools.repeat(ord("a"))):
                if self._stop.wait(0.02):  # pacing, not synchronisation
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


def test_open_timeout_bounds_a_trickled_upgrade_reply() -> None:
    """A server trickling its 101 reply and an endless header: connect(open_timeout=0.5) raises
    TimeoutError (each byte used to restart websocket-client's per-read timeout, so the
    endless header never returned)."""
    from scribe_sync import ScribeClient

    with Trickler() as server:
        client = ScribeClient("sk_test", base_url=f"ws://127.0.0.1:{server.port}",
                              open_timeout=0.5)
        with pytest.raises(TimeoutError):
            client.connect()
