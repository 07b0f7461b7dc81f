"""Ctrl+C and the command: one handler for the whole run, which raises only inside a window, and
a storm of SIGINTs at random moments that never loses the output nor leaves a temporary file."""

from __future__ import annotations

import os
import pathlib
import random
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from mock_server import MockServer
from scribe_sync._cli_run import received
from scribe_sync._cli_signals import Interrupts
from scribe_sync.audio._sample import sample_sentences
from scribe_sync.cli import EXIT_INTERRUPTED, EXIT_OK
from scribe_sync.messages import CommittedTranscript
from scribe_sync.session import Session
from scribe_sync.transcript import Transcript
from tests.test_cli import SAMPLE, SRT_TIME, TIMEOUT, _cli, _env, parse_cues

OLD = "the previous transcript, which an interrupted run must not damage\n"


@pytest.fixture
def interrupts() -> Interrupts:
    """The command's handler, installed for one test and then removed."""
    handler = Interrupts()
    handler.install()
    try:
        yield handler  # type: ignore[misc]
    finally:
        handler.uninstall()


def test_outside_a_window_a_sigint_is_only_counted(interrupts: Interrupts) -> None:
    """Between windows (a teardown) SIGINT raises nothing; it is counted."""
    signal.raise_signal(signal.SIGINT)
    signal.raise_signal(signal.SIGINT)
    assert interrupts.count == 2


def test_inside_a_window_the_first_sigint_raises_and_closes_the_window(
    interrupts: Interrupts,
) -> None:
    """A SIGINT in a window raises KeyboardInterrupt once; the next one, in the code that
    handles it (outside), is only counted: the handling cannot be cut short."""
    outcome = interrupts.run(lambda: signal.raise_signal(signal.SIGINT))
    assert outcome.interrupted
    signal.raise_signal(signal.SIGINT)  # would raise here if the window had stayed open
    assert interrupts.count == 2
    again = interrupts.run(lambda: signal.raise_signal(signal.SIGINT))
    assert again.interrupted  # a new window: a new Ctrl+C reaches it


def test_a_window_gives_back_its_value_and_other_errors(interrupts: Interrupts) -> None:
    """run() returns the body's value, or the exception that ended it, never raising."""
    assert interrupts.run(lambda: 42).value == 42

    def fail() -> None:
        raise ValueError("boom")

    outcome = interrupts.run(fail)
    assert isinstance(outcome.error, ValueError) and not outcome.interrupted


def _read_until(proc: subprocess.Popen[bytes], pattern: bytes, seen: bytearray) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + TIMEOUT
    while not re.search(pattern, seen):
        left = deadline - time.monotonic()
        assert left > 0, bytes(seen[-2000:])
        ready, _, _ = select.select([proc.stderr], [], [], left)
        chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
        assert chunk, f"ended before {pattern!r}: {bytes(seen[-2000:])!r}"
        seen += chunk


def _drain(proc: subprocess.Popen[bytes], seen: bytearray) -> None:
    """Read what stderr has, without waiting (so the command never blocks on a full pipe)."""
    assert proc.stderr is not None
    while select.select([proc.stderr], [], [], 0)[0]:
        chunk = os.read(proc.stderr.fileno(), 65536)
        if not chunk:
            return
        seen += chunk


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The words of an uninterrupted run of the storm's command (the mock's words are a
    function of the audio, not of the pace)."""
    out = tmp_path_factory.mktemp("reference") / "ref.srt"
    proc = subprocess.run(_cli("transcribe", SAMPLE, "--mock", "--fast", "--commit-every", "2",
                               "-o", str(out)), env=_env(), capture_output=True,
                          timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    words = " ".join(c for _, _, c in parse_cues(out.read_text(encoding="utf-8"),
                                                 SRT_TIME)).split()
    assert len(words) > 10
    return words


@pytest.mark.parametrize("seed", range(8))
def test_a_ctrl_c_storm_never_loses_the_output_nor_leaves_a_part_file(
    tmp_path: pathlib.Path, seed: int, reference: list[str],
) -> None:
    """SIGINTs every few milliseconds from a random moment of the run to its end: the run ends
    with 0 or 130, no traceback, no temporary file, and -o holds either a complete SRT document
    of what was transcribed or the previous file, untouched."""
    rng = random.Random(seed)
    out = tmp_path / "out.srt"
    out.write_text(OLD, encoding="utf-8")
    proc = subprocess.Popen(
        _cli("transcribe", SAMPLE, "--mock", "--speed", "12", "--commit-every", "2", "-o",
             str(out), "-v"),
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = bytearray()
    try:
        # The session is open (the mock logged the upgrade): the handler is installed.
        _read_until(proc, rb'realtime\?[^"]*HTTP/1.1" 101', seen)
        start_at = time.monotonic() + rng.uniform(0.0, 1.3)  # the attack's timing
        while proc.poll() is None and time.monotonic() < start_at:
            _drain(proc, seen)
            time.sleep(0.005)
        while proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            _drain(proc, seen)
            time.sleep(rng.uniform(0.0, 0.004))
        code = proc.wait(timeout=TIMEOUT)
        _drain(proc, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    err = seen.decode(errors="replace")
    assert code in (EXIT_OK, EXIT_INTERRUPTED), err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.srt"]  # no .part left
    text = out.read_text(encoding="utf-8")
    if text != OLD:
        assert text.endswith("\n")
        cues = parse_cues(text, SRT_TIME)
        words = " ".join(cue for _, _, cue in cues).split()
        assert words == reference[: len(words)]
        if code == EXIT_OK:
            assert words == reference


# A deterministic storm: SIGINT raised from a profile hook at Python function calls on the main
# thread, from the K-th call after the audio started, then every M-th call. It reaches the
# places a timed storm rarely hits, such as the first line of a teardown.
CALL_STORM = """
import signal, sys
from scribe_sync import cli

first, every = int(sys.argv[1]), int(sys.argv[2])
calls = -1  # -1: the audio has not started yet
HANDLERS = {"_handle", "_record"}  # SIGINT handlers: raising there again would never end


def hook(frame, event, arg):
    global calls
    if event != "call":
        return
    name = frame.f_code.co_name
    if calls < 0:
        if name == "stream" and frame.f_code.co_filename.endswith("session.py"):
            calls = 0
        return
    if name in HANDLERS:
        return
    calls += 1
    if calls >= first and (calls - first) % every == 0:
        signal.raise_signal(signal.SIGINT)


sys.argv = ["scribe-sync", *sys.argv[3:]]  # main() without argv: the process's own command
sys.setprofile(hook)
sys.exit(cli.main())
"""


@pytest.mark.parametrize(("first", "every"), [
    (1, 1), (50, 1), (400, 1), (2000, 1), (1, 7), (300, 13), (1500, 3), (5000, 1),
])
def test_sigint_at_every_call_never_loses_the_output_nor_leaves_a_part_file(
    tmp_path: pathlib.Path, first: int, every: int,
) -> None:
    """SIGINT at function calls from the K-th one on: exit 0 or 130, no traceback, no
    temporary file, and -o untouched or holding every segment the server sent, in order,
    up to where the run stopped (the first ones; none missing in the middle)."""
    script = tmp_path / "storm.py"
    script.write_text(CALL_STORM, encoding="utf-8")
    out = tmp_path / "out.txt"
    out.write_text(OLD, encoding="utf-8")
    with MockServer(transcript=sample_sentences()) as server:
        proc = subprocess.run(
            [sys.executable, str(script), str(first), str(every), "transcribe", SAMPLE,
             "--base-url", server.base_url, "--api-key", "storm-key", "--fast",
             "--commit-every", "2", "-o", str(out)],
            env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False)
        sent = [m["text"].strip() for record in server.wait_idle(count=0)
                for m in record.sent("committed_transcript") if m["text"].strip()]
    assert proc.returncode in (EXIT_OK, EXIT_INTERRUPTED), proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "storm.py"]
    text = out.read_text(encoding="utf-8")
    if text == OLD:
        return
    lines = text.splitlines()
    if lines != sent[: len(lines)] and not hasattr(Session, "segments"):
        # A Ctrl+C inside recv() after it took the event loses it in today's session; the
        # CLI writes Session.segments, which keeps it, once the session has it.
        pytest.xfail("an event taken by an interrupted recv() is lost (no Session.segments)")
    assert lines == sent[: len(lines)]
    if proc.returncode == EXIT_OK:
        assert lines == sent


class _WithSegments:
    """A session double that has the ``segments`` snapshot (every answer it accepted)."""

    def __init__(self, segments: Transcript) -> None:
        self.segments = segments


def test_the_output_is_written_from_the_sessions_own_segments_when_it_has_them() -> None:
    """received(): the session's snapshot wins over the events the loop popped (it holds the
    one an interrupted recv() took); without a snapshot, the popped events are used."""
    popped = Transcript()
    popped.add(CommittedTranscript(text="one"))
    snapshot = Transcript()
    for text in ("one", "two"):
        snapshot.add(CommittedTranscript(text=text))
    assert received(_WithSegments(snapshot), popped) is snapshot  # type: ignore[arg-type]
    assert received(None, popped) is popped


# A Ctrl+C while the command's modules are still being imported (the first ~0.15 s), made
# deterministic: an import hook raises KeyboardInterrupt where the signal would have landed.
_EARLY = """
import sys

class Interrupting:
    def find_spec(self, name, path=None, target=None):
        if name == "scribe_sync._cli_args":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupting())
from scribe_sync.__main__ import main
sys.exit(main())
"""


def test_a_ctrl_c_while_the_command_is_still_importing_is_one_line_and_130() -> None:
    """It printed the import's traceback and exited 1: the command's own handler is installed
    only once its modules are loaded. The entry point (``scribe-sync``, ``python -m
    scribe_sync``) now ends such a run as Ctrl+C does later."""
    proc = subprocess.run([sys.executable, "-c", _EARLY, "transcribe", SAMPLE, "--mock"],
                          env=_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    assert proc.returncode == EXIT_INTERRUPTED
    assert proc.stderr == "scribe-sync: interrupted\n"
    assert proc.stdout == ""


def test_the_installed_command_is_that_entry_point() -> None:
    """``scribe-sync`` runs ``scribe_sync.__main__:main``, the function the test above checks,
    and so does ``python -m scribe_sync``."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "scribe-sync"]
    assert script.value == "scribe_sync.__main__:main"
    proc = subprocess.run([sys.executable, "-m", "scribe_sync", "--version"], env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == EXIT_OK and proc.stdout.startswith("scribe-sync ")
