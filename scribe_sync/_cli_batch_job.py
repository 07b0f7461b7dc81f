"""One file of a batch, run on a worker thread: its session, its output, its result.

Part of :mod:`scribe_sync._cli_batch`. A job's live figures (``position``, ``total``) are
written by its worker and read by the main thread's progress: plain floats, each written whole,
so a reader sees the last value or the one before, which is all a progress line needs.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import attrs

from ._cli_args import EXIT_INTERRUPTED
from ._cli_display import render_document
from ._cli_errors import describe, exit_code
from ._cli_io import Metered, Output, open_output
from ._cli_progress import Rate
from ._cli_run import audio_report, received
from .messages import AudioFormat
from .protocol import encode
from .transcript import Transcript

if TYPE_CHECKING:
    from .client import ScribeClient
    from .session import Session

__all__ = ["Abandon", "FileResult", "Job", "run_job"]

logger = logging.getLogger("scribe_sync.cli")
_POLL = 0.2  # how soon a worker sees the second Ctrl+C


@attrs.frozen
class FileResult:
    """One input's line of the summary (``--summary``'s ``files`` entries)."""

    input: str
    output: str
    status: str  # ok, failed, skipped, interrupted
    error: str | None = None
    exit_code: int = 0
    audio_seconds: float = 0.0
    segments: int = 0
    wall_seconds: float = 0.0


@attrs.define(eq=False)
class Job:
    """An input, where its output goes, and (once it ran) its result."""

    source: str
    output: str
    label: str
    started: bool = False
    position: float = 0.0
    total: float | None = None
    rate: Rate | None = None
    result: FileResult | None = None

    def skip(self) -> None:
        self.result = FileResult(self.source, self.output, "skipped",
                                 error=f"{self.output} exists")

    def never_started(self, cause: str = "Ctrl+C", code: int = EXIT_INTERRUPTED) -> None:
        """The batch was stopped (by ``cause``: Ctrl+C, SIGTERM, ...) before this file."""
        self.result = FileResult(self.source, self.output, "interrupted",
                                 error=f"not started ({cause})", exit_code=code)


class Abandon:
    """Set by the main thread to end the files in flight now: a second Ctrl+C, or SIGTERM,
    SIGHUP or SIGQUIT. ``cause`` names it in their results, so that a summary says which, and
    ``code`` is their exit code (130, or 128 + the signal's number)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.cause = "Ctrl+C"
        self.code = EXIT_INTERRUPTED

    def set(self, cause: str, code: int) -> None:
        # Written before the event: a worker that sees it set reads these.
        self.cause, self.code = cause, code
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


class _Abandoned(Exception):
    """The second Ctrl+C (or a signal): this file's session is closed without waiting for its
    transcripts."""


def run_job(job: Job, client: ScribeClient, options: dict[str, Any], fmt: str,
            args: argparse.Namespace, abandon: Abandon) -> None:
    """Transcribe ``job``'s input into its output; sets ``job.result`` whatever happens."""
    from .audio import open_source

    started = time.monotonic()
    meter: Metered | None = None
    out: Output | None = None
    session: Session | None = None
    popped = Transcript()
    try:
        audio_format = AudioFormat(options.get("audio_format", AudioFormat.PCM_16000))
        meter = Metered(open_source(job.source, format=audio_format, chunk_ms=args.chunk_ms))
        job.total = meter.duration
        out = open_output(job.output)
        logger.info("started: %s", job.source)
        session = client.connect(**options)
        job.rate = Rate(args.speed)
        session.stream(meter, speed=args.speed, commit_every=args.commit_every or None)
        handed = meter
        meter = None  # the stream closes it
        while True:
            job.position = handed.seconds
            if abandon.is_set():
                raise _Abandoned
            try:
                event = session.recv(timeout=_POLL)
            except TimeoutError:
                continue
            if event is None:
                break
            popped.add(event)
            if fmt == "jsonl":
                out.write(encode(event) + "\n")
        job.position = handed.seconds
        session.close()
        final = received(session, popped)
        if fmt != "jsonl":
            out.write(render_document(fmt, final, audio_report(handed, session.stats)))
        out.finish(True)
        job.result = FileResult(job.source, job.output, "ok", audio_seconds=round(
            handed.seconds, 3), segments=len(final), wall_seconds=_since(started))
        logger.info("done: %s -> %s", job.source, job.output)
    except _Abandoned:
        job.result = FileResult(job.source, job.output, "interrupted",
                                error=f"abandoned ({abandon.cause})",
                                exit_code=abandon.code,
                                audio_seconds=round(job.position, 3),
                                segments=len(received(session, popped)),
                                wall_seconds=_since(started))
    except Exception as exc:  # every failure ends this file only, as one line
        logger.debug("%s failed", job.source, exc_info=True)
        job.result = FileResult(job.source, job.output, "failed", error=describe(exc),
                                exit_code=exit_code(exc), audio_seconds=round(job.position, 3),
                                segments=len(received(session, popped)),
                                wall_seconds=_since(started))
    finally:
        # A file is written whole or not at all: a partial one would be skipped on resume.
        if out is not None:
            ok = job.result is not None and job.result.status == "ok"
            try:
                out.finish(ok)
            except Exception as exc:
                job.result = FileResult(job.source, job.output, "failed", error=describe(exc),
                                        exit_code=exit_code(exc),
                                        wall_seconds=_since(started))
        if session is not None:
            try:
                session.close()
            except Exception as exc:  # already counted in the result if it mattered
                logger.debug("closing %s: %s", job.source, exc)
        if meter is not None:
            meter.close()
        if job.result is None:  # a BaseException other than Exception: still a result
            job.result = FileResult(job.source, job.output, "failed", error="stopped",
                                    exit_code=EXIT_INTERRUPTED)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
