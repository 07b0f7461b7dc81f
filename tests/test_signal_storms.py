"""Signal handlers that call into a session at random moments: ``close()`` while the main
thread iterates, ``close()`` inside ``close()``, ``finish()`` inside ``send_audio()``, and
KeyboardInterrupt storms over ``recv()``, ``connect()``, ``stream()`` and a ``with`` block's
``finish()``. Each storm runs in a child process with a watchdog (a hang exits 3 with the
main thread's stack), its timings drawn from a fixed seed; afterwards no session thread may
be left and the session must be usable or closed as documented."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

SCRIPT = r'''
import faulthandler, os, random, signal, sys, threading, time, traceback
sys.path.insert(0, sys.argv[1])
from scribe_sync import ConnectionClosedError, LocalProtocolError, ScribeClient, ScribeError
from tests.rawserver import ScriptServer

mode, trials, rng = sys.argv[2], int(sys.argv[3]), random.Random(int(sys.argv[4]))
main = threading.main_thread()


def watchdog(seconds):
    faulthandler.dump_traceback_later(seconds, exit=True)  # a hang: stacks, exit 1


def leftovers():
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("scribe-")]
        if not alive:
            return []
        time.sleep(0.01)
    return alive


def flood(peer):  # session_started, then partials, then answer nothing but the close
    peer.send_started()
    try:
        for i in range(2000):
            peer.send_json({"message_type": "partial_transcript", "text": f"p{i}"})
        while peer.read_message(30) is not None:
            pass
    except OSError:
        pass


commit_read = threading.Event()


def silent(peer):  # session_started, then never answers a commit
    peer.send_started()
    while (message := peer.read_message(30)) is not None:
        if message.get("commit"):
            commit_read.set()  # finish() sent it: the main thread waits for its answer


def deaf(peer):  # session_started, then stops reading: big sends block
    peer.send_started()
    peer.hold()


def in_library(frame):
    while frame is not None:
        if "/scribe_sync/" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def storm_interrupts(active):
    """KeyboardInterrupt in the main thread at random moments while active() holds and the
    main thread is inside scribe_sync (the harness itself is not under test)."""
    def handler(signum, frame):
        if active() and in_library(frame):
            raise KeyboardInterrupt
    signal.signal(signal.SIGUSR1, handler)
    stop = threading.Event()
    def run():
        while not stop.wait(rng.uniform(0.00003, 0.0003)):
            signal.pthread_kill(main.ident, signal.SIGUSR1)
    thread = threading.Thread(target=run, name="storm", daemon=True)
    thread.start()
    return stop


handler_of = {"close-in-iteration": flood, "close-in-close": flood, "recv-claim": flood,
              "finish-in-send": deaf, "with-finish": silent, "connect": flood,
              "stream": flood}[mode]
with ScriptServer(handler_of, rcvbuf=4096) as server:
    client = ScribeClient("k", base_url=server.base_url, close_timeout=2, io_timeout=5)
    for trial in range(trials):
        watchdog(30)
        if mode == "close-in-iteration":
            session = client.connect()
            signal.signal(signal.SIGALRM, lambda s, f: session.close())
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.0005, 0.02))
            try:
                for _ in session:
                    pass
            except ScribeError:
                pass
            signal.setitimer(signal.ITIMER_REAL, 0)
            session.close()
        elif mode == "close-in-close":
            session = client.connect()
            signal.signal(signal.SIGALRM, lambda s, f: session.close())
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.0, 0.003))
            session.close()
            time.sleep(0.004)
            signal.setitimer(signal.ITIMER_REAL, 0)
        elif mode == "recv-claim":
            session = client.connect()
            inside = [True]
            stop = storm_interrupts(lambda: inside[0])
            for _ in range(3000):
                try:
                    session.recv(timeout=0)
                except (KeyboardInterrupt, TimeoutError):
                    pass
            inside[0] = False
            stop.set()
            try:
                session.recv(timeout=0)  # the same thread may receive again
            except TimeoutError:
                pass
            session.close()
        elif mode == "finish-in-send":
            session = client.connect()
            failures = []
            def finish_from_handler(signum, frame):
                try:
                    session.finish(timeout=2)
                except LocalProtocolError as exc:
                    failures.append(exc)
                    raise
            signal.signal(signal.SIGALRM, finish_from_handler)
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            try:
                session.send_audio(b"\x00" * 32000 * 60)  # blocks: the peer reads nothing
            except (LocalProtocolError, ConnectionClosedError):
                pass
            signal.setitimer(signal.ITIMER_REAL, 0)
            assert failures and "cannot run inside a send" in str(failures[0]), failures
            assert session.closed
        elif mode == "with-finish":
            session = client.connect()
            commit_read.clear()

            def interrupt_the_wait():
                assert commit_read.wait(10)
                time.sleep(rng.uniform(0.0, 0.05))  # the attack's timing, not a handshake
                signal.pthread_kill(main.ident, signal.SIGINT)

            timer = threading.Thread(target=interrupt_the_wait, name="interrupter")
            interrupted = False
            try:
                with session:
                    session.send_audio(b"\x00" * 32000)
                    timer.start()
            except KeyboardInterrupt:
                interrupted = True
            timer.join()
            assert interrupted, "the interrupt did not land in finish()"
            assert session.closed, "Ctrl+C in the with block's finish() left the session open"
        elif mode in ("connect", "stream"):
            inside = [True]
            stop = storm_interrupts(lambda: inside[0])
            session = None
            try:
                session = client.connect()
                if mode == "stream":
                    session.stream([b"\x00" * 3200] * 5, speed=None, finish=False)
            except KeyboardInterrupt:
                pass
            inside[0] = False
            stop.set()
            if session is not None:
                session.close()
        faulthandler.cancel_dump_traceback_later()
        alive = leftovers()
        assert not alive, (trial, alive)
print("ok", mode, trials)
'''


@pytest.mark.parametrize(("mode", "trials"), [
    ("close-in-iteration", 60),  # a handler's close() waited on the queue's mutex the
                                 # interrupted take() held: a deadlock in about 3% of trials
    ("close-in-close", 150),     # Event.set inside Event.set: rarer, same deadlock
    ("recv-claim", 10),          # an interrupt in the claim left recv() refusing its thread
    ("finish-in-send", 1),       # finish() waited on the send mutex its own thread held
    ("with-finish", 3),          # Ctrl+C in a with block's finish() left the session open
    ("connect", 60),             # an interrupted connect() left a reader and its socket
    ("stream", 60),              # an interrupted stream() left a thread close() did not know
])
def test_signal_handlers_never_hang_or_leak(mode: str, trials: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), mode, str(trials), "1"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=False,
    )
    assert done.returncode == 0 and f"ok {mode}" in done.stdout, (
        done.returncode, done.stdout[-2000:], done.stderr[-4000:])
