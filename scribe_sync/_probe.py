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
  PROTOCOL.md §6).
- **commit -> committed**: manual strategy: from ``commit()`` to its ``committed_transcript`` in
  user code. The probe commits at the first quiet chunk after ``commit_every`` seconds of audio.
- **VAD end of speech -> committed**: ``--commit-strategy vad``: from sending the last voiced
  chunk before a pause to the ``committed_transcript`` the service's VAD sent for it. It
  includes the silence threshold itself: it is what a user waits after they stop talking.
- **client CPU per audio hour**: this process's CPU time (every thread) over the audio hours
  sent. With ``--mock`` the mock runs in a child process so that its CPU is not counted.

Nothing here asserts a time: the command reports.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any, Final

import attrs

from .client import API_KEY_ENV, ScribeClient
from .errors import ConfigError, ConnectionClosedError, ScribeError
from .messages import AudioFormat, CommitStrategy, CommittedTranscript, PartialTranscript
from .protocol import SessionOptions
from .session import Session

__all__ = [
    "METRICS",
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

#: Peak level below which a chunk counts as a pause (about -30 dBFS, as Session.stream uses).
QUIET_PEAK: Final = 1000
#: The sample's pauses are about 0.6 s: a VAD threshold below that commits at each sentence.
SAMPLE_VAD_SILENCE: Final = 0.5

#: (key, label) of each latency metric, in the order reports show them.
METRICS: Final = (
    ("connect", "connect (TCP+TLS)"),
    ("session_started", "session_started"),
    ("first_partial", "first partial"),
    ("commit", "commit -> committed"),
    ("vad", "VAD end of speech -> committed"),
)


@attrs.frozen
class BenchConfig:
    """What to measure. ``source`` ``None`` is the bundled sample."""

    base_url: str
    api_key: str | None
    source: str | None = None
    sessions: int = 3
    concurrency: int = 1
    commit_every: float = 2.0
    chunk_ms: int = 100
    options: Mapping[str, Any] = attrs.field(factory=dict)
    label: str = ""

    def session_options(self) -> SessionOptions:
        """The validated session options (``ConfigError`` if invalid)."""
        return SessionOptions.from_kwargs(**self.options)

    def check(self) -> SessionOptions:
        """Validate everything (``ConfigError`` naming the option); the session options."""
        if self.sessions < 1:
            raise ConfigError(f"--sessions must be at least 1, got {self.sessions}",
                              option="sessions")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {self.concurrency}",
                              option="concurrency")
        if not self.commit_every > 0:
            raise ConfigError(f"--commit-every must be > 0 seconds, got {self.commit_every:g}",
                              option="commit_every")
        return self.session_options()


@attrs.frozen
class SessionResult:
    """One session's measurements, in seconds (``None``: not reached)."""

    index: int
    connect: float | None = None
    session_started: float | None = None
    first_partial: float | None = None
    commit: tuple[float, ...] = ()
    vad: tuple[float, ...] = ()
    audio_seconds: float = 0.0
    committed: int = 0
    error: str | None = None


@attrs.frozen
class Summary:
    """Percentiles of one metric, in milliseconds (``None`` when there is no sample)."""

    n: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: v if v is None or k == "n" else round(v, 3)
                for k, v in attrs.asdict(self).items()}


def summarize(samples_s: Sequence[float]) -> Summary:
    """p50/p90/p99/max in milliseconds (linear interpolation between samples)."""
    if not samples_s:
        return Summary(0, None, None, None, None)
    ms = sorted(v * 1000.0 for v in samples_s)

    def percentile(p: float) -> float:
        k = (len(ms) - 1) * p / 100
        low = math.floor(k)
        high = min(low + 1, len(ms) - 1)
        return ms[low] + (ms[high] - ms[low]) * (k - low)

    return Summary(len(ms), percentile(50), percentile(90), percentile(99), ms[-1])


@attrs.frozen
class BenchReport:
    """Everything a run measured."""

    config: BenchConfig
    results: tuple[SessionResult, ...]
    cpu_seconds: float
    wall_seconds: float
    source_name: str
    source_seconds: float

    @property
    def audio_seconds(self) -> float:
        return sum(r.audio_seconds for r in self.results)

    @property
    def cpu_per_audio_hour(self) -> float | None:
        """Client CPU seconds per hour of audio sent."""
        audio = self.audio_seconds
        return None if audio <= 0 else self.cpu_seconds * 3600.0 / audio

    @property
    def errors(self) -> list[str]:
        return [f"session {r.index}: {r.error}" for r in self.results if r.error is not None]

    def samples(self, metric: str) -> list[float]:
        """Every sample of one metric (seconds) across sessions."""
        values: list[float] = []
        for result in self.results:
            value = getattr(result, metric)
            if isinstance(value, tuple):
                values.extend(value)
            elif value is not None:
                values.append(value)
        return values

    def summaries(self) -> dict[str, Summary]:
        return {key: summarize(self.samples(key)) for key, _ in METRICS}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--format json``); latencies in milliseconds."""
        options = self.config.session_options()
        cpu = self.cpu_per_audio_hour
        return {
            "target": self.config.label or self.config.base_url,
            "source": self.source_name,
            "source_seconds": round(self.source_seconds, 3),
            "sessions": len(self.results),
            "concurrency": self.config.concurrency,
            "commit_strategy": options.commit_strategy.value,
            "vad_silence_threshold_secs": options.vad_silence_threshold_secs,
            "audio_format": options.audio_format.value,
            "latency_ms": {key: s.to_dict() for key, s in self.summaries().items()},
            "audio_seconds": round(self.audio_seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_seconds_per_audio_hour": None if cpu is None else round(cpu, 2),
            "wall_seconds": round(self.wall_seconds, 3),
            "errors": self.errors,
        }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def render_table(report: BenchReport) -> str:
    """The report for people: one line per metric, then CPU and errors."""
    data = report.to_dict()
    n, at_once = data["sessions"], min(data["concurrency"], data["sessions"])
    if data["commit_strategy"] == "vad":
        threshold = data["vad_silence_threshold_secs"]
        commits = ("VAD commits after the server's default silence" if threshold is None
                   else f"VAD commits after {threshold:g} s of silence")
    else:
        commits = f"manual commits at the first pause after {report.config.commit_every:g} s"
    lines = [
        f"{n} session{'s' * (n != 1)} ({at_once} at once) of {report.source_name} "
        f"({report.source_seconds:.1f} s) at real time",
        f"against {data['target']}; {commits}",
        "",
        f"{'latency (ms)':<32}{'n':>5}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}",
    ]
    for key, label in METRICS:
        s = report.summaries()[key]
        lines.append(f"{label:<32}{s.n:>5}{_ms(s.p50):>8}{_ms(s.p90):>8}{_ms(s.p99):>8}"
                     f"{_ms(s.max):>8}")
    cpu = report.cpu_per_audio_hour
    lines.append("")
    if cpu is None:
        lines.append("client CPU per audio hour: - (no audio was sent)")
    else:
        lines.append(f"client CPU per audio hour: {cpu:.1f} s ({cpu / 36:.2f} % of one core)")
    lines.extend(f"error: {e}" for e in report.errors)
    return "\n".join(lines) + "\n"


def match_speech_ends(speech_ends: Sequence[float], committed_at: Sequence[float]
                      ) -> list[float]:
    """End of speech -> committed latencies for VAD commits.

    Each committed transcript belongs to the last end of speech sent before it, if no earlier
    transcript claimed that one already (a pause shorter than the VAD threshold ends no
    segment, so some ends of speech have no transcript; a transcript with no unclaimed end of
    speech before it, such as the final commit's, is not a VAD decision and is left out).
    """
    latencies: list[float] = []
    claimed = -1
    for at in committed_at:
        before = [i for i, end in enumerate(speech_ends) if end < at]
        if before and before[-1] > claimed:
            claimed = before[-1]
            latencies.append(at - speech_ends[claimed])
    return latencies


# =============================================================================================
# Measuring


def tcp_connect_time(base_url: str, timeout: float) -> float:
    """Seconds to open a TCP connection (and finish TLS for https/wss) to ``base_url``'s host."""
    parts = urllib.parse.urlsplit(base_url)
    secure = parts.scheme in ("https", "wss")
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if secure:
            context = ssl.create_default_context()
            with context.wrap_socket(sock, server_hostname=host):
                return time.monotonic() - start
        return time.monotonic() - start


class _Sender:
    """Sends a source at real time on a named thread, committing and noting times."""

    def __init__(self, session: Session, chunks: Iterator[bytes], fmt: AudioFormat, *,
                 commit_every: float | None, name: str) -> None:
        self._session = session
        self._chunks = chunks
        self._format = fmt
        self._commit_every = commit_every
        self._stop = threading.Event()
        # Written by the sender thread only, read after join().
        self.first_sent: float | None = None
        self.commits: list[float] = []
        self.speech_ends: list[float] = []
        self.audio_seconds = 0.0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _quiet(self, chunk: bytes) -> bool:
        import numpy as np

        from .audio import decode_audio

        samples = decode_audio(chunk, self._format)
        return samples.size == 0 or int(np.max(np.abs(samples.astype(np.int32)))) < QUIET_PEAK

    def _run(self) -> None:
        rate = self._format.bytes_per_second
        start = time.monotonic()
        sent = 0
        since_commit = 0
        voiced_since_commit = False
        voiced_at: float | None = None  # when the last voiced chunk of the current run left
        try:
            for chunk in self._chunks:
                sent += len(chunk)
                # A microphone delivers a chunk once its last sample was spoken.
                delay = start + sent / rate - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                if self._stop.is_set():
                    return
                now = time.monotonic()
                self._session.send_audio(chunk)
                if self.first_sent is None:
                    self.first_sent = now
                self.audio_seconds = sent / rate
                since_commit += len(chunk)
                quiet = self._quiet(chunk)
                if not quiet:
                    voiced_at = now
                elif voiced_at is not None:
                    self.speech_ends.append(voiced_at)
                    voiced_at = None
                voiced_since_commit = voiced_since_commit or not quiet
                # Commit at a pause, and only segments with speech: a commit over silence
                # answers "" and measures nothing a user waits for.
                if (self._commit_every is not None and quiet and voiced_since_commit
                        and since_commit >= self._commit_every * rate):
                    now = time.monotonic()
                    if self._session.commit():
                        self.commits.append(now)
                    since_commit = 0
                    voiced_since_commit = False
            if self._commit_every is not None and voiced_since_commit:
                now = time.monotonic()
                if self._session.commit():
                    self.commits.append(now)
            self._session.finish()  # commits any trailing silence too, unmeasured
        except BaseException as exc:  # reported with the session's result
            self.error = exc
            self._session.close()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _run_session(config: BenchConfig, client: ScribeClient, index: int,
                 source: str) -> SessionResult:
    options = config.session_options()
    try:
        connect = tcp_connect_time(config.base_url, client.open_timeout)
    except OSError as exc:
        return SessionResult(index, error=f"could not connect: {exc}")
    t0 = time.monotonic()
    try:
        session = client.connect(**config.options)
    except (ScribeError, TimeoutError) as exc:
        return SessionResult(index, connect=connect, error=str(exc) or type(exc).__name__)
    started = time.monotonic() - t0
    manual = options.commit_strategy is CommitStrategy.MANUAL
    first_partial_at: float | None = None
    committed_at: list[float] = []
    error: str | None = None
    sender: _Sender | None = None
    try:
        from .audio import open_source

        chunks = open_source(source, format=options.audio_format, chunk_ms=config.chunk_ms)
        sender = _Sender(session, iter(chunks), options.audio_format,
                         commit_every=config.commit_every if manual else None,
                         name=f"scribe-bench-send-{index}")
        for event in session:
            now = time.monotonic()
            if isinstance(event, PartialTranscript):
                if first_partial_at is None and event.text.strip():
                    first_partial_at = now
            elif isinstance(event, CommittedTranscript):
                committed_at.append(now)
    except (ScribeError, TimeoutError) as exc:
        error = str(exc) or type(exc).__name__
    finally:
        if sender is not None:
            sender.stop()
            sender.join(client.close_timeout + client.finish_timeout)
        session.close()
    if sender is None:
        return SessionResult(index, connect=connect, session_started=started, error=error)
    if error is None and sender.error is not None:
        error = str(sender.error) or type(sender.error).__name__
    first = sender.first_sent
    commits = sender.commits
    return SessionResult(
        index,
        connect=connect,
        session_started=started,
        first_partial=(None if first is None or first_partial_at is None
                       else first_partial_at - first),
        # The n-th committed transcript answers the n-th commit (the service answers in order);
        # a session cut short has fewer answers than commits.
        commit=(tuple(done - sent for sent, done in zip(commits, committed_at, strict=False))
                if manual else ()),
        vad=() if manual else tuple(match_speech_ends(sender.speech_ends, committed_at)),
        audio_seconds=sender.audio_seconds,
        committed=len(committed_at),
        error=error,
    )


def _source_seconds(source: str, fmt: AudioFormat) -> float:
    total = 0
    from .audio import open_source

    chunks = open_source(source, format=fmt)
    for chunk in chunks:
        total += len(chunk)
    return total / fmt.bytes_per_second


def run_bench(config: BenchConfig, *, progress: Callable[[SessionResult], None] | None = None
              ) -> BenchReport:
    """Run the sessions and measure; session failures are reported, not raised.

    Raises:
        ConfigError: invalid options (nothing was sent).
        AudioSourceError: the source cannot be read.
    """
    options = config.check()
    from .audio import sample_path

    source = config.source or str(sample_path())
    seconds = _source_seconds(source, options.audio_format)
    client = ScribeClient(config.api_key, base_url=config.base_url)
    cpu0, wall0 = time.process_time(), time.monotonic()
    results: list[SessionResult] = []
    workers = min(config.concurrency, config.sessions)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="scribe-bench"
                                               ) as pool:
        futures = [pool.submit(_run_session, config, client, i + 1, source)
                   for i in range(config.sessions)]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            if progress is not None:
                progress(result)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    name = os.path.basename(source) if config.source else "the bundled sample"
    return BenchReport(config, tuple(sorted(results, key=lambda r: r.index)), cpu, wall, name,
                       seconds)


# =============================================================================================
# The command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench command's own flags (connection and session options come from the CLI)."""
    parser.add_argument("source", nargs="?", default=None, metavar="FILE",
                        help="an audio file to send (default: the bundled 14 s sample)")
    group = parser.add_argument_group("bench")
    group.add_argument("-n", "--sessions", type=int, default=3, metavar="N",
                       help="sessions to run (default: 3)")
    group.add_argument("--concurrency", type=int, default=1, metavar="N",
                       help="sessions at once (default: 1)")
    group.add_argument("--commit-every", type=float, default=2.0, metavar="SECONDS",
                       help="manual strategy: commit at the first pause after this much audio "
                       "(default: 2)")
    group.add_argument("--chunk-ms", type=int, default=100, metavar="MS",
                       help="audio per message, 20 to 1000 ms (default: 100)")
    group.add_argument("--format", choices=("table", "json"), default="table",
                       help="table for people (default), json for machines")
    group.add_argument("--plot", default=None, metavar="PNG",
                       help="also write a histogram of the latencies (needs matplotlib: "
                       "pip install 'scribe-sync[bench]')")


_LISTENING: Final = re.compile(r"listening on (\S+)")


@contextlib.contextmanager
def _mock_process(script: Sequence[str] | None) -> Iterator[str]:
    """``scribe-mock`` in a child process (its CPU is not the client's, and it keeps its default
    live timing profile); yields its base URL. ``script``: one utterance per item."""
    command = [sys.executable, "-m", "mock_server", "--port", "0", "--idle-timeout-secs", "none"]
    with contextlib.ExitStack() as stack:
        if script:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="scribe-bench-"))
            path = os.path.join(directory, "script.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("\n".join(script) + "\n")
            command += ["--transcript", "@" + path]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, text=True)
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
            if proc.stdout is not None:
                proc.stdout.close()


def _check_plot(path: str | None) -> None:
    if path is None:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'scribe-sync[bench]'",
                          option="plot") from None


def write_plot(report: BenchReport, path: str) -> None:
    """A PNG with one latency histogram per metric that has samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [(key, label) for key, label in METRICS if report.samples(key)]
    fig, axes = plt.subplots(len(present) or 1, 1, figsize=(7, 2.2 * max(1, len(present))),
                             squeeze=False)
    for ax, (key, label) in zip(axes[:, 0], present, strict=False):
        ms = [v * 1000.0 for v in report.samples(key)]
        ax.hist(ms, bins=max(5, min(40, int(math.sqrt(len(ms))) * 3)))
        s = summarize(report.samples(key))
        ax.set_title(f"{label}: p50 {_ms(s.p50)} ms, p99 {_ms(s.p99)} ms (n={s.n})", fontsize=9)
        ax.set_xlabel("ms")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_command(args: argparse.Namespace, options: Mapping[str, Any],
                out: IO[str] | None = None) -> int:
    """``scribe-sync bench``: returns 0, or 5 if a session failed (after reporting)."""
    out = sys.stdout if out is None else out
    _check_plot(args.plot)
    options = dict(options)
    vad = SessionOptions.from_kwargs(**options).commit_strategy is CommitStrategy.VAD
    if vad and args.source is None and "vad_silence_threshold_secs" not in options:
        options["vad_silence_threshold_secs"] = SAMPLE_VAD_SILENCE
    # Everything is checked before a mock starts or a connection opens.
    BenchConfig("", None, sessions=args.sessions, concurrency=args.concurrency,
                commit_every=args.commit_every, options=options).check()
    with contextlib.ExitStack() as stack:
        if args.mock:
            from .audio._sample import sample_sentences

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

        report = run_bench(config, progress=progress)
    if args.format == "json":
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        out.write(render_table(report))
    if args.plot is not None:
        write_plot(report, args.plot)
    return 5 if report.errors else 0
