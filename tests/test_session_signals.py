"""Signals at every moment: a second Ctrl+C never leaves a lock of ours broken.

The command is run for real on a pseudo-terminal against its embedded mock, whose committed
transcripts are held back for a while; after the first committed line the command gets two
SIGINTs with a short gap, so the second lands while the first one's handling (stop the sender,
commit the tail, wait for its transcripts) is waiting inside the session.
"""

from __future__ import annotations

import pathlib
import signal
import sys
import time

import pytest

import tests.test_cli as cli_tests
from scribe_sync.cli import EXIT_INTERRUPTED
from tests.test_cli import PtyRun

SLOW_ANSWERS = """
import sys
import mock_server
from scribe_sync import cli

original = mock_server.MockServer.__init__

def patched(self, *args, **kwargs):
    kwargs.setdefault("scenario", {"delay": {"fixed_secs": 1.5,
                                            "message_types": ["committed_transcript"]}})
    original(self, *args, **kwargs)

mock_server.MockServer.__init__ = patched
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("gap", [0.001, 0.01, 0.05, 0.2, 0.5])
def test_a_second_ctrl_c_gives_up_on_the_tail_with_exit_130(
    gap: float, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two SIGINTs in quick succession: exit 130, no traceback, no RuntimeError, no hang."""
    wrapper = tmp_path / "slow_answers.py"
    wrapper.write_text(SLOW_ANSWERS, encoding="utf-8")
    monkeypatch.setattr(cli_tests, "_cli", lambda *args: [sys.executable, str(wrapper), *args])
    run = PtyRun("demo")
    try:
        run.read_until(b"\n")
        run.proc.send_signal(signal.SIGINT)
        time.sleep(gap)  # the attack's timing, not a synchronisation
        run.proc.send_signal(signal.SIGINT)
        code = run.finish(timeout=30)  # bounded: a deadlock fails here
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    assert code == EXIT_INTERRUPTED, run.pipe
    assert b"Traceback" not in run.pipe
    assert b"RuntimeError" not in run.pipe


INTERRUPTED_ITERATOR = """
import json, random, signal, sys, threading, time
from scribe_sync import PartialTranscript, ScribeClient

session = ScribeClient("signals-key", base_url=sys.argv[1]).connect()
main = threading.main_thread().ident
stop = threading.Event()


go = threading.Event()  # set inside the try below: an interrupt in start() would escape it


def storm():  # SIGINT at random moments while the main thread iterates
    rng = random.Random(7)
    go.wait()
    while not stop.wait(rng.uniform(0.0, 0.002)):
        signal.pthread_kill(main, signal.SIGINT)


texts, interrupts = [], 0
storm_thread = threading.Thread(target=storm, name="test-storm")
storm_thread.start()
try:
    go.set()
    while True:
        try:
            for event in session:
                if isinstance(event, PartialTranscript):
                    texts.append(event.text)
                time.sleep(0.0002)  # a little work per event, so the storm meets the loop
            break
        except KeyboardInterrupt:
            interrupts += 1
finally:
    stop.set()
    go.set()
    while True:  # the storm's last interrupts may still be on their way
        try:
            storm_thread.join()
            # The storm is over; a trip still pending must not cut the report or the exit.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            session.close()
            break
        except KeyboardInterrupt:
            interrupts += 1
stats = session.stats
print(json.dumps({"texts": texts, "interrupts": interrupts, "received": stats.events_received,
                  "malformed": stats.malformed_frames}))
"""


def test_interrupts_while_the_main_thread_reads_lose_no_frame(tmp_path: pathlib.Path) -> None:
    """A storm of SIGINTs (every 0-2 ms) on the main thread while it iterates over 3000 frames:
    the session receives every frame (only the reader thread reads, and it is never
    interrupted), and the loop sees them in order, without duplicates. An interrupt can still
    land between the iterator handing an event over and the loop's variable, as with any Python
    call that returns a value (``queue.get``): so the loop may miss at most one event per
    interrupt, never one the session did not receive (and ``session.segments`` keeps every
    committed one)."""
    import json
    import subprocess

    from tests.rawserver import Peer, ScriptServer

    count = 3000

    def handler(peer: Peer) -> None:
        peer.send_started()
        for i in range(count):
            peer.send_json({"message_type": "partial_transcript", "text": f"p{i}"})
        peer.send_close(1000)
        peer.hold()

    with ScriptServer(handler) as server:
        proc = subprocess.run([sys.executable, "-c", INTERRUPTED_ITERATOR, server.base_url],
                              capture_output=True, text=True, timeout=120,
                              cwd=pathlib.Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["interrupts"] > 10  # the storm did land, many times
    assert result["received"] == count and result["malformed"] == 0
    seen = [int(text[1:]) for text in result["texts"]]
    assert seen == sorted(set(seen))  # in order, no duplicates
    assert count - len(seen) <= result["interrupts"]
