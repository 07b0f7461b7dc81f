"""``scribe-sync bench``'s data and its reports: what a run measured (:class:`BenchReport`),
the table and the plot for people, the JSON for machines, and the timing profile
(``--record-timing``) that ``scribe-mock --timing FILE`` replays as its live delays."""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import IO, Any, Final

import attrs

from ._cli_numbers import BENCH_COMMIT_EVERY_MIN, COMMIT_EVERY_MAX
from .errors import ConfigError
from .protocol import SessionOptions

__all__ = [
    "METRICS",
    "TIMING_FORMAT",
    "TIMING_VERSION",
    "BenchConfig",
    "BenchReport",
    "SessionResult",
    "Summary",
    "render_table",
    "summarize",
    "timing_profile",
    "write_plot",
    "write_timing",
]

#: (key, label) of each latency metric, in the order reports show them.
METRICS: Final = (
    ("connect", "connect (TCP+TLS)"),
    ("session_started", "session_started"),
    ("first_partial", "first partial"),
    ("commit", "commit -> committed"),
    ("vad", "VAD end of speech -> committed"),
)


#: The most sessions one run takes (one at a time, some 40 hours of the sample at real time).
MAX_SESSIONS: Final = 10_000
#: --chunk-ms' range, the same as the audio sources'.
MIN_CHUNK_MS: Final = 20
MAX_CHUNK_MS: Final = 1000


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
        if not 1 <= self.sessions <= MAX_SESSIONS:
            # The bound keeps an absurd -n from queueing billions of sessions in memory.
            raise ConfigError(f"--sessions must be between 1 and {MAX_SESSIONS}, got "
                              f"{self.sessions}", option="sessions")
        if not MIN_CHUNK_MS <= self.chunk_ms <= MAX_CHUNK_MS:
            raise ConfigError(f"--chunk-ms must be between {MIN_CHUNK_MS} and {MAX_CHUNK_MS}, "
                              f"got {self.chunk_ms}", option="chunk_ms")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {self.concurrency}",
                              option="concurrency")
        if not BENCH_COMMIT_EVERY_MIN <= self.commit_every <= COMMIT_EVERY_MAX:  # nan too
            raise ConfigError(f"--commit-every must be {BENCH_COMMIT_EVERY_MIN:g} to "
                              f"{COMMIT_EVERY_MAX:g} seconds, got {self.commit_every:g}",
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


def write_plot(report: BenchReport, target: str | IO[bytes], format: str | None = None) -> None:
    """An image (PNG unless ``format`` or ``target``'s suffix says otherwise) with one latency
    histogram per metric that has samples."""
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
    try:
        fig.savefig(target, format=format)
    finally:
        plt.close(fig)


#: The timing profile file (``scribe-sync bench --record-timing FILE``).
TIMING_FORMAT: Final = "scribe-timing"
TIMING_VERSION: Final = 1
#: The metrics a timing profile keeps, every sample of each.
TIMING_METRICS: Final = ("connect", "first_partial", "commit", "vad")


def _target(report: BenchReport) -> str:
    """Where the run went, without any user:password a URL might carry."""
    label = report.config.label or report.config.base_url
    parts = urllib.parse.urlsplit(label)
    if parts.scheme and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    return label


def timing_profile(report: BenchReport) -> dict[str, Any]:
    """The measured distributions, every sample in seconds: connect, first partial,
    commit -> committed and VAD end of speech -> committed (which includes the silence
    threshold, recorded beside it so that a reader can take it out)."""
    options = report.config.session_options()
    return {
        "format": TIMING_FORMAT,
        "version": TIMING_VERSION,
        "target": _target(report),
        "sessions": len(report.results),
        "commit_strategy": options.commit_strategy.value,
        "vad_silence_threshold_secs": options.vad_silence_threshold_secs,
        "samples_s": {key: [round(v, 4) for v in report.samples(key)]
                      for key in TIMING_METRICS},
    }


def write_timing(report: BenchReport, path: str) -> None:
    """Write :func:`timing_profile` as JSON to ``path``."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(timing_profile(report), indent=1) + "\n")
