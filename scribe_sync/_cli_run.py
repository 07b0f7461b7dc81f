"""One ``scribe-sync`` run: a source streamed through one session, shown and written.

Connecting runs inside an interrupt window (:mod:`scribe_sync._cli_signals`); receiving polls
the count of Ctrl+C instead, so that none is raised inside the session's waits. The first Ctrl+C
stops the audio, commits what was sent and collects its transcripts; a second gives up on them.
The teardown (close the session, write the output, rename it into place) runs outside every
window, so no Ctrl+C, however many and whenever they come, can cut it short: the output is
complete or the old file untouched.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Protocol

from ._cli_args import EXIT_INTERRUPTED, EXIT_OK, PROG
from ._cli_display import Display
from ._cli_io import Metered, Output, open_output, say
from ._cli_progress import Board, Rate
from ._cli_signals import Interrupts, Outcome
from .errors import ScribeError
from .messages import SessionStarted
from .transcript import Transcript

if TYPE_CHECKING:
    from .client import ScribeClient
    from .session import Session, SessionStats

__all__ = ["audio_report", "board_for", "isatty", "received", "run_source", "summary_line"]

logger = logging.getLogger("scribe_sync.cli")
_POLL = 0.1  # how soon a Ctrl+C is seen while receiving, and the progress redrawn


def isatty(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def redraws(tty: bool) -> bool:
    """Whether a terminal can redraw a line in place: not one that says it is dumb (Emacs'
    shell, some CI logs), which shows the erase sequence as text."""
    return tty and os.environ.get("TERM") != "dumb"


def board_for(args: argparse.Namespace) -> Board | None:
    """stderr's progress board, as ``--progress`` and ``-q`` ask (None: no progress)."""
    mode = getattr(args, "progress", "auto")
    if args.quiet or mode == "none" or sys.stderr is None:
        return None
    if mode == "plain":
        return Board(sys.stderr, "plain", getattr(args, "progress_every", 5.0))
    if mode == "tty" or redraws(isatty(sys.stderr)):
        return Board(sys.stderr, "tty")
    if mode == "auto" and isatty(sys.stderr):  # a dumb terminal: progress as plain lines
        return Board(sys.stderr, "plain", getattr(args, "progress_every", 5.0))
    return None


def received(session: Session | None, popped: Transcript) -> Transcript:
    """Every committed segment the session received: ``session.segments`` (fed by the session
    itself, so it holds what an interrupted ``recv()`` took but never returned), or, from a
    session without it, what this loop popped. The one place the CLI reads it."""
    segments = getattr(session, "segments", None)
    if isinstance(segments, Transcript) and len(segments) >= len(popped):
        return segments
    return popped


def audio_report(meter: Metered, stats: SessionStats | None) -> dict[str, float]:
    """``--format json``'s ``"audio"``: the caller's seconds, and the silence the session added
    (padding short segments to the service's minimum, keepalives while the source is quiet)."""
    report = {"seconds": round(meter.seconds, 3)}
    if stats is not None:
        report["padding_seconds"] = round(stats.padding_seconds_sent, 3)
        report["keepalive_seconds"] = round(stats.keepalive_seconds_sent, 3)
    return report


def summary_line(seconds: float, transcript: Transcript, wall: float) -> str:
    words = len(transcript.text.split())
    language = f" ({transcript.language_code})" if transcript.language_code else ""
    n = len(transcript)
    return (f"{seconds:.1f} s of audio, {n} segment{'s' * (n != 1)}, "
            f"{words} word{'s' * (words != 1)}{language} in {wall:.1f} s")


class _Handle(Protocol):
    """What the run uses of ``Session.stream()``'s handle (wherever the session defines it)."""

    def stop(self) -> None: ...
    def join(self, timeout: float | None = None) -> bool: ...


class _Run:
    """The parts of one run, filled in as they are opened, for the teardown to close."""

    def __init__(self, meter: Metered, interrupts: Interrupts) -> None:
        self.meter = meter
        self.interrupts = interrupts
        self.popped = Transcript()
        self.session: Session | None = None
        self.handle: _Handle | None = None
        self.display: Display | None = None
        self.out: Output | None = None
        self.written = False  # the output was written (else -o's old file stays)

    def pump(self, interrupts_allowed: int) -> bool:
        """Receive until the session ends (True), or until more than ``interrupts_allowed``
        Ctrl+C came (False). The handler only counts them here: no KeyboardInterrupt is ever
        raised inside the session's own waits, so none can leave its locks half released."""
        assert self.session is not None and self.display is not None
        while True:
            if self.interrupts.count > interrupts_allowed:
                return False
            try:
                event = self.session.recv(timeout=_POLL)
            except TimeoutError:
                self.display.tick(self.meter.seconds)
                continue
            if event is None:
                self.display.tick(self.meter.seconds, force=True)
                return True
            self.popped.add(event)
            self.display.event(event)
            self.display.tick(self.meter.seconds)

    def finish_tail(self, close_timeout: float) -> None:
        """After a Ctrl+C: stop the audio, commit what was sent and collect its transcripts,
        unless a second Ctrl+C gives up on them. ``finish()`` runs on a helper thread while
        this one keeps receiving (and counting interrupts)."""
        session = self.session
        assert session is not None
        if self.handle is not None:
            self.handle.stop()
            deadline = time.monotonic() + close_timeout
            while (not self.handle.join(_POLL) and self.interrupts.count < 2
                   and time.monotonic() < deadline):
                pass
        failure: list[BaseException] = []

        def finish() -> None:
            try:
                if not session.closed:
                    session.finish()
            except (ScribeError, TimeoutError) as exc:
                failure.append(exc)

        finisher = threading.Thread(target=finish, name="scribe-cli-finish")
        finisher.start()
        try:
            if not self.pump(interrupts_allowed=1):
                logger.info("interrupted again: giving up on the last transcripts")
        except (ScribeError, TimeoutError) as exc:
            failure.append(exc)
        finally:
            session.close()  # ends finish() too when the pump gave up first
            finisher.join()
        if failure:
            logger.warning("the last transcripts were lost: %s", failure[0])


def run_source(args: argparse.Namespace, client: ScribeClient, meter: Metered,
               kwargs: dict[str, Any], fmt: str, label: str, interrupts: Interrupts) -> int:
    """Stream ``meter``'s source through a session, showing and writing the transcript.

    Owns ``meter`` (closes it). Returns 0 or 130; raises what ended the run otherwise, after
    the output was written from what had arrived.
    """
    run = _Run(meter, interrupts)
    stdout = Output.stdout()
    started = time.monotonic()

    def start() -> None:
        run.out = open_output(args.output) if args.output is not None else stdout
        stdout_tty = redraws(stdout.isatty())
        live = stdout if stdout_tty and (fmt == "text" or run.out is not stdout) else None
        board = board_for(args)
        if stdout_tty and live is None and fmt == "jsonl":
            board = None  # jsonl scrolls on the same terminal: a redrawn line would fight it
        run.display = Display(fmt, run.out, live=live, board=board,
                              progress=board is not None and board.mode == "tty",
                              label=label, total=meter.duration, rate=Rate(args.speed))
        run.session = client.connect(**kwargs)
        run.display.event(SessionStarted(run.session.session_id, run.session.config))
        run.handle = run.session.stream(meter, speed=args.speed,
                                        commit_every=args.commit_every or None)

    # Connecting may take seconds: a Ctrl+C there raises (nothing is lost before a session).
    outcome = interrupts.run(start)
    interrupted = outcome.interrupted or interrupts.count > 0
    if outcome.error is None and not interrupted:
        try:
            interrupted = not run.pump(interrupts_allowed=0)
        except BaseException as exc:  # handed to the teardown below, then raised
            outcome = Outcome(None, exc)
    error = outcome.error
    if interrupted and run.session is not None and error is None:
        logger.info("interrupted: committing the audio sent so far")
        try:
            run.finish_tail(client.close_timeout)
        except BaseException as exc:  # the output is written whatever happened
            logger.warning("the last transcripts were lost: %s", exc)
    # The teardown: outside every window, so it always runs to its end.
    try:
        # Interrupted, a run ended well only if something arrived: Ctrl+C before the first
        # segment leaves -o's old file as it was.
        run.written = _teardown(run, stdout, ended_well=error is None and not interrupted)
    except BaseException as exc:
        if error is None or isinstance(error, KeyboardInterrupt):
            raise
        raise exc from error
    if isinstance(error, KeyboardInterrupt) or (error is None and interrupted):
        if run.session is None:
            raise KeyboardInterrupt  # interrupted before a session existed: nothing to keep
        _summary(args, run, started)
        return EXIT_INTERRUPTED
    if error is not None:
        raise error
    _summary(args, run, started)
    return EXIT_OK


def _teardown(run: _Run, stdout: Output, ended_well: bool) -> bool:
    """Close the session, then write the output from what arrived; ``True`` if written."""
    if run.handle is None:
        run.meter.close()  # not handed to a stream, which closes it when it ends
    session = run.session
    if session is not None:
        try:
            session.close()
        except ScribeError as exc:  # the transcripts already received are still written
            logger.warning("closing the session: %s", exc)
    final = received(session, run.popped)
    # Replace -o's file only with something in it: a finished run (even with no words), or the
    # segments that arrived before a failure. Otherwise the old file stays as it was.
    keep = ended_well or len(final) > 0
    written = False
    try:
        if run.display is not None:
            audio = audio_report(run.meter, session.stats if session is not None else None)
            run.display.close(final, audio, document=keep)
        written = keep
    finally:
        try:
            if run.out is not None:
                run.out.finish(written)
        finally:
            stdout.finish(True)
    return written


def _summary(args: argparse.Namespace, run: _Run, started: float) -> None:
    if args.quiet or run.session is None:
        return
    line = summary_line(run.meter.seconds, received(run.session, run.popped),
                        time.monotonic() - started)
    if args.output and run.written:
        line += f"; written to {args.output}"
    elif args.output:
        line += f"; {args.output} left as it was"
    say(f"{PROG}: {line}\n")
