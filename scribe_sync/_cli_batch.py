"""Many inputs: ``scribe-sync transcribe a.wav b.mp3 talks/*.flac -o out/ --jobs 4``.

One session per file, up to ``--jobs`` at once on named worker threads, each output written
whole (through a temporary file renamed into place) or not at all, so that ``--skip-existing``
can resume an interrupted batch. A failure (a missing or corrupt file, a server error after the
reconnect policy gave up) ends that file only. The main thread only waits and draws the
progress (:mod:`scribe_sync._cli_progress`), and counts Ctrl+C (:mod:`scribe_sync._cli_signals`):
the first starts no new file and lets those in flight finish, the second abandons them.
SIGTERM, SIGHUP and SIGQUIT do both at once, and the results name the signal, not Ctrl+C. The
results go to stderr and, with ``--summary FILE``, to JSON.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._cli_args import EXIT_INTERRUPTED, EXIT_OK, EXIT_OUTPUT, PROG, default_jobs
from ._cli_batch_job import Abandon, Job, run_job
from ._cli_errors import describe
from ._cli_io import OutputError, check_not_input, check_writable, clean, open_output, say
from ._cli_progress import Rate, clock, status
from ._cli_run import board_for
from ._cli_signals import Interrupts
from .errors import ConfigError

if TYPE_CHECKING:
    from .client import ScribeClient

__all__ = ["SUFFIXES", "is_batch", "plan", "run_batch"]

#: The output file's suffix for each format.
SUFFIXES: Final = {"text": ".txt", "jsonl": ".jsonl", "json": ".json", "srt": ".srt",
                   "vtt": ".vtt"}


def _names_directory(output: str | None) -> bool:
    return output is not None and (output.endswith(os.sep) or os.path.isdir(output))


def is_batch(args: argparse.Namespace) -> bool:
    """Many inputs, one input with ``-o`` naming a directory, or a run that asks for what only
    a batch does (``--summary``, ``--skip-existing``)."""
    return (len(args.sources) > 1 or _names_directory(args.output)
            or args.summary is not None or args.skip_existing)


def plan(sources: Sequence[str], outdir: str, fmt: str) -> list[Job]:
    """One job per input, its output named after it in ``outdir``.

    Raises:
        ConfigError: stdin among many inputs, two inputs with the same output name, or an
            output that is an input.
    """
    jobs: list[Job] = []
    taken: dict[str, str] = {}
    for source in sources:
        if source == "-" and len(sources) > 1:
            raise ConfigError("- (stdin) cannot be one of many inputs", option="output")
        if source == "-":
            raise ConfigError(f"- (stdin) has no name to give its output in {outdir}: name the "
                              f"file, e.g. -o {os.path.join(outdir, 'stdin' + SUFFIXES[fmt])}",
                              option="output")
        stem = os.path.splitext(os.path.basename(source.rstrip("/")))[0] or "output"
        output = os.path.join(outdir, stem + SUFFIXES[fmt])
        if output in taken:
            raise ConfigError(f"{taken[output]} and {source} would both be written to "
                              f"{output}; rename one or run them apart", option="output")
        taken[output] = source
        check_not_input(output, sources)
        jobs.append(Job(source=source, output=output, label=clean(os.path.basename(source))))
    return jobs


def _check_summary_not_an_output(summary: str, jobs: Sequence[Job]) -> None:
    """Refuse a ``--summary`` that is one of the outputs: written last, it would replace that
    transcript with the summary, silently.

    Raises:
        ConfigError: (option ``output``) the summary is an output.
    """
    where = os.path.realpath(summary)
    for job in jobs:
        if os.path.realpath(job.output) == where:
            raise ConfigError(f"--summary {summary} is the output of {job.source}: it would "
                              "replace that transcript; choose another file", option="output")


def _make_directory(outdir: str) -> list[str]:
    """Create ``-o DIR/`` (and its parents); returns the folders created, outermost first.

    Raises:
        OutputError: it cannot be created (exit 6, as any output that cannot be written): a
            folder we may not write to, or a file of that name (``-o notes.txt/``).
    """
    missing: list[str] = []
    folder = os.path.abspath(outdir)
    while not os.path.lexists(folder) and os.path.dirname(folder) != folder:
        missing.insert(0, folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(outdir, exist_ok=True)
    except FileExistsError:  # exist_ok: the name is taken by something other than a folder
        raise OutputError(f"-o {outdir}", NotADirectoryError(
            errno.ENOTDIR, f"{outdir.rstrip(os.sep)} is not a directory"),
            action="create") from None
    except OSError as exc:
        raise OutputError(f"-o {outdir}", exc, action="create") from None
    return missing


def _unmake(folders: list[str]) -> None:
    """Remove the folders :func:`_make_directory` created for a run refused before it began
    (innermost first; one that is no longer empty stays, with its parents)."""
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            return


@attrs.define
class _Board:
    """What the main thread shows: an overall line and one status line per file in flight."""

    jobs: list[Job]
    rate: Rate

    def lines(self) -> list[str]:
        done = [j for j in self.jobs if j.result is not None]
        flying = [j for j in self.jobs if j.result is None and j.started]
        failed = sum(1 for j in done if j.result is not None and j.result.status == "failed")
        skipped = sum(1 for j in done if j.result is not None and j.result.status == "skipped")
        audio_done = sum(j.position for j in self.jobs)
        known = [j.total for j in self.jobs if j.total is not None]
        waiting = sum(1 for j in self.jobs if not j.started)
        total = sum(known) + (waiting * sum(known) / len(known) if known else 0.0)
        head = f"{len(done)}/{len(self.jobs)} done"
        extra = [f"{failed} failed"] * bool(failed) + [f"{skipped} skipped"] * bool(skipped)
        if extra:
            head += " (" + ", ".join(extra) + ")"
        head += f", {len(flying)} in flight; audio {clock(audio_done)}"
        if total:
            percent = min(100, int(100 * audio_done / total))
            head += f"/{'~' * bool(waiting)}{clock(total)} {percent}%"
        speed = self.rate.speed(audio_done)
        if speed is not None:
            head += f" {speed:.1f}x"
            if total:
                head += f" ETA {clock(max(0.0, total - audio_done) / speed)}"
        return [head] + ["  " + status(j.label, j.position, j.total, j.rate) for j in flying]


def run_batch(args: argparse.Namespace, client: ScribeClient, kwargs: dict[str, Any],
              fmt: str, interrupts: Interrupts) -> int:
    """Transcribe every input; returns 0, 130 or the first failed input's exit code."""
    if args.output is None:
        raise ConfigError("many inputs, --summary and --skip-existing need -o (a directory for "
                          "many inputs)", option="output")
    made: list[str] = []
    if len(args.sources) == 1 and not _names_directory(args.output):
        # One input and -o FILE, with --summary or --skip-existing: a batch of one, into FILE.
        source = args.sources[0]
        if source == "-":
            raise ConfigError("--summary and --skip-existing take files, not - (stdin)",
                              option="output")
        check_not_input(args.output, args.sources)
        jobs = [Job(source=source, output=args.output,
                    label=clean(os.path.basename(source)))]
    else:
        outdir = args.output
        if os.path.exists(outdir) and not os.path.isdir(outdir):
            raise ConfigError(f"-o {outdir} must be a directory with many inputs",
                              option="output")
        jobs = plan(args.sources, outdir, fmt)
        # Made before --summary is checked, which may name a file in it; unmade if refused.
        made = _make_directory(outdir)
    if args.summary is not None:
        try:
            check_not_input(args.summary, args.sources, "--summary")
            _check_summary_not_an_output(args.summary, jobs)
            # Written after the whole run: found unwritable only then, it would waste the run.
            check_writable(args.summary, f"--summary {args.summary}")
        except (ConfigError, OutputError):
            _unmake(made)
            raise
    if args.skip_existing:
        for job in jobs:
            if os.path.exists(job.output):
                job.skip()
    workers = min(args.jobs or default_jobs(), max(1, len(jobs)))
    options = dict(kwargs, reconnect=True)  # server failures retried per the default policy
    stop = threading.Event()  # first Ctrl+C: start no new file
    abandon = Abandon()  # second Ctrl+C, or SIGTERM/SIGHUP/SIGQUIT: end the files in flight now
    lock = threading.Lock()  # guards handing out the jobs
    changed = threading.Condition()
    pending = iter(jobs)
    started = time.monotonic()

    def next_job() -> Job | None:
        with lock:
            for job in pending:
                if job.result is None:
                    job.started = True
                    return job
            return None

    def work() -> None:
        while not stop.is_set() and (job := next_job()) is not None:
            run_job(job, client, options, fmt, args, abandon)
            with changed:
                changed.notify_all()

    threads = [threading.Thread(target=work, name=f"scribe-batch-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    board = board_for(args)
    view = _Board(jobs, Rate(None))

    def wait(allowed: int) -> bool:
        """Until every worker ended (True) or more than ``allowed`` Ctrl+C came (False). The
        handler only counts them: none is raised inside a wait, where it could leave the
        condition's lock half released."""
        while any(t.is_alive() for t in threads):
            if interrupts.count > allowed:
                return False
            with changed:
                changed.wait(0.1)
            if board is not None and board.due():
                board.show(view.lines())
        return True

    interrupted = False
    stopped_by = ("Ctrl+C", EXIT_INTERRUPTED)  # named in the results of the files not started
    try:
        if not wait(0):
            interrupted = True
            stop.set()
            stopped_by = _cause(interrupts)
            flying = sum(1 for j in jobs if j.started and j.result is None)
            if interrupts.signal is None:
                say(f"\n{PROG}: interrupted: no new file; finishing {flying} in flight "
                    "(Ctrl+C again to abandon them)\n")
                if not wait(1):
                    abandon.set(*_cause(interrupts))  # a second Ctrl+C, or a signal after it
            else:
                # A kill, a closed terminal, Ctrl+\: no time to finish anything (the sender
                # may follow with SIGKILL), so no promise to finish them either.
                say(f"\n{PROG}: terminated ({stopped_by[0]}): no new file"
                    + (f"; abandoning {flying} in flight" if flying else "") + "\n")
                abandon.set(*stopped_by)
    except BaseException:  # a bug here, or a KeyboardInterrupt from another handler
        abandon.set(*_cause(interrupts))
        raise
    finally:
        # The workers end (abandoned sessions close at once) and are joined, whatever happened.
        stop.set()
        for thread in threads:
            thread.join()
        if board is not None:
            board.clear()
    for job in jobs:
        if job.result is None:
            job.never_started(*stopped_by)
    # The exit code of a batch ended by a signal is the process's (128 + its number), in the
    # summary too, not the 130 of Ctrl+C.
    return _report(args, jobs, time.monotonic() - started,
                   interrupted=_cause(interrupts)[1] if interrupted else None)


def _cause(interrupts: Interrupts) -> tuple[str, int]:
    """What interrupted the batch, as its results say it (Ctrl+C, or the signal's name), and
    its exit code (130, or 128 + the signal's number)."""
    number = interrupts.signal
    if number is None:
        return "Ctrl+C", EXIT_INTERRUPTED
    try:
        return signal.Signals(number).name, 128 + number
    except ValueError:
        return f"signal {number}", 128 + number


def _report(args: argparse.Namespace, jobs: list[Job], wall: float, *,
            interrupted: int | None) -> int:
    """The per-file lines, the totals and --summary; the exit code (``interrupted``: the code
    of what interrupted the batch)."""
    results = [job.result for job in jobs if job.result is not None]
    failed = [r for r in results if r.status == "failed"]
    code = (interrupted if interrupted is not None else failed[0].exit_code if failed
            else EXIT_OK)
    counts = {status: sum(1 for r in results if r.status == status)
              for status in ("ok", "failed", "skipped", "interrupted")}
    audio = sum(r.audio_seconds for r in results)
    totals = dict(counts, files=len(results), audio_seconds=round(audio, 3),
                  segments=sum(r.segments for r in results), wall_seconds=round(wall, 3))
    if not args.quiet:
        # A file name may hold a newline or an escape: one line per file, whatever it is named.
        names = [clean(r.input) for r in results]
        width = max(len(name) for name in names)
        for r, name in zip(results, names, strict=True):
            line = f"{r.status:<11} {name:<{width}}"
            if r.status in ("ok", "failed") or r.audio_seconds:
                line += (f"  {r.audio_seconds:7.1f} s  {r.segments:4d} segment"
                         f"{'s' * (r.segments != 1)}  {r.wall_seconds:6.1f} s")
            if r.error:
                line += f"  {r.error}"
            say(line + "\n")
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        files = f"{len(results)} file{'s' * (len(results) != 1)}"
        say(f"{PROG}: {files}: {summary}; {clock(audio)} of audio in "
            f"{clock(wall)}\n")
    if args.summary is not None:
        document = {"files": [attrs.asdict(r) for r in results], "totals": totals,
                    "exit_code": code}
        try:
            out = open_output(args.summary)
            try:
                out.write(_summary_json(document))
            except BaseException:
                out.finish(False)
                raise
            out.finish(True)
        except ConfigError:
            raise
        except Exception as exc:  # the outputs are written; the summary's failure is one line
            say(f"{PROG}: error: --summary: {describe(exc)}\n")
            return code if code != EXIT_OK else EXIT_OUTPUT
    return code


def _summary_json(document: dict[str, Any]) -> str:
    """The summary as JSON text, non-ASCII names as they are. A name that is not UTF-8 (a byte
    such as 0xff, legal in a Linux file name) is held as a lone surrogate, which no UTF-8 file
    can hold: then every non-ASCII character is escaped (``\\udcff``), which JSON can carry and
    ``os.fsencode`` turns back into the name's bytes."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(document, indent=2, ensure_ascii=True) + "\n"
    return text
