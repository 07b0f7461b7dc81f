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
