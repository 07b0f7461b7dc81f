"""``scribe-sync bench``: the latencies a user's own setup sees, measured in user code.

Each of N sessions (up to ``concurrency`` at once) streams the bundled sample, or a given file,
at real time the way a microphone would (chunk *k* leaves when its last sample has been
"spoken"), and records on the client's monotonic clock:

- **connect**: a TCP connection (plus the TLS handshake for ``https``/``wss``) to the server's
  host, on its own socket just before the session. It is the network's share of the cost of a
  session; nothing is sent on that socket.
- **session_started**: from calling ``connect()`` to holding the session (WebSocket upgrade,
  then the server's ``session_started``).
- **first partial**: from the first audio chunk sent to the first non-empty
  ``partial_transcript`` in user code (the service waits for about 2 s of audio first,
  docs/protocol.md §6).
- **commit -> committed**: manual strategy: from ``commit()`` to its ``committed_transcript`` in
  user code. The probe commits at the first quiet chunk after ``commit_every`` seconds of audio.
- **VAD end of speech -> committed**: ``--commit-strategy vad``: from sending the last voiced
  chunk before a pause to the ``committed_transcript`` the service's VAD sent for it. It
  includes the silence threshold itself: it is what a user waits after they stop talking.
- **client CPU per audio hour**: this process's CPU time (every thread) over the audio hours
  sent. With ``--mock`` the mock runs in a child process so that its CPU is not counted.

``--record-timing FILE`` also writes every sample of connect, first partial, commit ->
committed and VAD end -> committed as a timing profile (JSON, :mod:`scribe_sync._probe_report`)
that ``scribe-mock --timing FILE`` follows for its live delays.

Nothing here asserts a time: the command reports. The measuring is in
:mod:`scribe_sync._probe_measure`, the reports in :mod:`scribe_sync._probe_report`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any, Final

from ._cli_numbers import BENCH_COMMIT_EVERY_MIN, COMMIT_EVERY_MAX, number
from ._probe_measure import match_speech_ends, run_bench, tcp_connect_time
from ._probe_output import check_outputs, write_outputs
from ._probe_report import (
    METRICS,
    BenchConfig,
    BenchReport,
    SessionResult,
    Summary,
    render_table,
    summarize,
    write_plot,
)
from .client import API_KEY_ENV
from .errors import ConfigError, ConnectionClosedError
from .messages import CommitStrategy
from .protocol import SessionOptions

__all__ = [
    "METRICS",
    "SAMPLE_VAD_SILENCE",
    "BenchConfig",
    "BenchReport",
    "SessionResult",
    "Summary",
    "add_arguments",
    "match_speech_ends",
    "render_table",
    "run_bench",
    "run_command",
    "summarize",
    "tcp_connect_time",
    "write_plot",
]

#: The sample's pauses are about 0.6 s: a VAD threshold below that commits at each sentence.
SAMPLE_VAD_SILENCE: Final = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench command's own flags (connection and session options come from the CLI)."""
    parser.add_argument("source", nargs="?", default=None, metavar="FILE",
                        help="an audio file to send (default: the bundled 14 s sample)")
    group = parser.add_argument_group("bench")
    group.add_argument("-n", "--sessions", type=int, default=3, metavar="N",
                       help="sessions to run (default: 3)")
    group.add_argument("--concurrency", type=int, default=1, metavar="N",
                       help="sessions at once (default: 1)")
    group.add_argument("--commit-every", default=2.0, metavar="SECONDS",
                       type=number(float, BENCH_COMMIT_EVERY_MIN, COMMIT_EVERY_MAX),
                       help="manual strategy: commit at the first pause after this much audio, "
                       f"{BENCH_COMMIT_EVERY_MIN:g} to {COMMIT_EVERY_MAX:g} (default: 2)")
    group.add_argument("--chunk-ms", type=int, default=100, metavar="MS",
                       help="audio per message, 20 to 1000 ms (default: 100)")
    group.add_argument("--format", choices=("table", "json"), default="table",
                       help="table for people (default), json for machines")
    group.add_argument("--plot", default=None, metavar="IMAGE",
                       help="also write a histogram of the latencies, in the format of the "
                       "name's suffix (.png, .svg, .pdf, ...; needs matplotlib: "
                       "pip install 'scribe-sync[bench]')")
    group.add_argument("--record-timing", default=None, metavar="FILE",
                       help="also write every latency measured, as a timing profile that "
                       "the mock server (scribe-mock) can replay as its live delays")


_LISTENING: Final = re.compile(r"listening on (\S+)")


@contextlib.contextmanager
def _mock_process(script: Sequence[str] | None) -> Iterator[str]:
    """``scribe-mock`` in a child process (its CPU is not the client's, and it keeps its default
    live timing profile); yields its base URL. ``script``: one utterance per item."""
    # --stop-on-stdin-eof with a pipe we hold: if this process is killed (SIGKILL, which no
    # finally survives), the pipe closes and the server stops instead of running orphaned.
    command = [sys.executable, "-m", "mock_server", "--port", "0", "--idle-timeout-secs", "none",
               "--stop-on-stdin-eof"]
    with contextlib.ExitStack() as stack:
        if script:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="scribe-bench-"))
            path = os.path.join(directory, "script.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("\n".join(script) + "\n")
            command += ["--transcript", "@" + path]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            match = _LISTENING.search(proc.stdout.readline())
            if match is None:
                raise ConnectionClosedError("the mock server did not start (is the mock "
                                            "installed?)")
            yield match.group(1)
        finally:
            proc.terminate()  # scribe-mock stops cleanly on SIGTERM
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()


def run_command(args: argparse.Namespace, options: Mapping[str, Any],
                out: IO[str] | None = None, stop: Callable[[], bool] | None = None) -> int:
    """``scribe-sync bench``: returns 0, or 5 if a session failed (after reporting).

    ``stop`` is polled during the run (see :func:`run_bench`): once true, the sessions are
    closed, the mock server stopped, and ``KeyboardInterrupt`` raised.
    """
    check_outputs(args.plot, args.record_timing, args.source)
    options = dict(options)
    vad = SessionOptions.from_kwargs(**options).commit_strategy is CommitStrategy.VAD
    if vad and args.source is None and "vad_silence_threshold_secs" not in options:
        options["vad_silence_threshold_secs"] = SAMPLE_VAD_SILENCE
    # Everything is checked before a mock starts or a connection opens.
    BenchConfig("", None, sessions=args.sessions, concurrency=args.concurrency,
                commit_every=args.commit_every, chunk_ms=args.chunk_ms, options=options).check()
    with contextlib.ExitStack() as stack:
        if args.mock:
            from ._cli_server import mock_server_factory
            from .audio._sample import sample_sentences

            # The child would die on a missing mock extra with its message unseen: the same
            # one line (exit 2) as --mock elsewhere, before it starts.
            mock_server_factory()

            base_url = stack.enter_context(_mock_process(
                sample_sentences() if args.source is None else None))
            api_key, label = args.api_key or "mock-key", "a local mock server (scribe-mock)"
        else:
            base_url, api_key, label = args.base_url, args.api_key, args.base_url
            if not (api_key or os.environ.get(API_KEY_ENV)):
                raise ConfigError(f"no API key: set {API_KEY_ENV} (or pass --api-key), or try "
                                  "--mock to run offline", option="api_key")
        config = BenchConfig(base_url, api_key, source=args.source, sessions=args.sessions,
                             concurrency=args.concurrency, commit_every=args.commit_every,
                             chunk_ms=args.chunk_ms, options=options, label=label)

        def progress(result: SessionResult) -> None:
            if not args.quiet and sys.stderr.isatty():
                sys.stderr.write(f"scribe-sync: session {result.index} done\n")

        report = run_bench(config, progress=progress, stop=stop)
    text = (json.dumps(report.to_dict(), indent=2) + "\n" if args.format == "json"
            else render_table(report))
    write_outputs(report, text, out, args.plot, args.record_timing)
    return 5 if report.errors else 0
