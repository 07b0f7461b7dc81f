"""``scribe-sync bench``: the latency probe reports every metric it promises, from real sessions.

Nothing here checks how fast anything is (that is the probe's job, not the suite's): the tests
check the report's structure, that every number that should be there is there and positive,
that counts match what was sent, and the command's errors and exit codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile

from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync import _probe
from scribe_sync._probe import (
    METRICS,
    BenchConfig,
    BenchReport,
    SessionResult,
    match_speech_ends,
    render_table,
    run_bench,
    summarize,
)
from scribe_sync.cli import EXIT_AUTH, EXIT_OK, EXIT_USAGE, main
from tests.test_readme import REPO, blocks

# Two spoken phrases, each followed by a pause longer than the VAD threshold used below.
PHRASES = 2
AUDIO = speech(0.9, seed=3) + silence(0.8) + speech(0.9, seed=4) + silence(0.8)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("probe") / "two-phrases.wav"
    soundfile.write(path, np.frombuffer(AUDIO, dtype="<i2"), 16000, subtype="PCM_16")
    return path


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """main() configures logging (levels, a stderr handler): undo it for the next tests."""
    root = logging.getLogger()
    names = ("scribe_sync", "mock_server")
    saved = (root.level, list(root.handlers), [logging.getLogger(n).level for n in names])
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in zip(names, saved[2], strict=True):
        logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(idle_timeout_secs=None, warmup_secs=0.5) as mock:
        yield mock


def test_summarize_gives_percentiles_in_ms_and_nothing_for_no_samples() -> None:
    """Percentiles are in milliseconds, ordered, and absent (not zero) without samples."""
    empty = summarize([])
    assert (empty.n, empty.p50, empty.p99, empty.max) == (0, None, None, None)
    s = summarize([0.001 * i for i in range(1, 101)])
    assert s.n == 100
    assert s.p50 is not None and s.p90 is not None and s.p99 is not None
    assert 50 <= s.p50 <= 51 and s.p50 < s.p90 < s.p99 <= s.max == pytest.approx(100.0)


def test_speech_ends_are_claimed_once_by_the_next_transcript() -> None:
    """A VAD transcript belongs to the last end of speech before it; short pauses that ended no
    segment are skipped, and a transcript with no unclaimed end of speech is not counted."""
    ends = [1.0, 2.0, 3.0]
    # 2.0 ended no segment (a pause shorter than the threshold): 2.6 answers the end at 2.0...
    assert match_speech_ends(ends, [2.6, 3.5]) == pytest.approx([0.6, 0.5])
    # ... and a second transcript before the next end of speech claims nothing.
    assert match_speech_ends(ends, [1.5, 1.7, 3.4]) == pytest.approx([0.5, 0.4])
    assert match_speech_ends([], [1.0]) == []


def test_table_has_one_row_per_metric_and_dashes_for_missing() -> None:
    """The table shows every metric, '-' where there were no samples, and the CPU line."""
    config = BenchConfig("ws://x", "k")
    report = BenchReport(config, (SessionResult(1, connect=0.002, session_started=0.01,
                                                audio_seconds=3.0),), 0.03, 3.1, "a.wav", 3.0)
    table = render_table(report)
    for _, label in METRICS:
        assert label in table
    assert "client CPU per audio hour: 36.0 s" in table
    row = next(line for line in table.splitlines() if line.startswith("first partial"))
    assert row.split()[2:] == ["0", "-", "-", "-", "-"]


def _check_positive(report: BenchReport, present: tuple[str, ...]) -> None:
    summaries = report.summaries()
    for key in present:
        s = summaries[key]
        assert s.n > 0, key
        assert s.p50 is not None and s.p90 is not None and s.p99 is not None and s.max is not None
        assert 0 < s.p50 <= s.p90 <= s.p99 <= s.max, (key, s)


def test_manual_commits_measure_every_metric(server: MockServer, wav: pathlib.Path) -> None:
    """Two concurrent sessions: connect, session_started, first partial and one latency per
    commit with speech (at each pause after --commit-every) are all there."""
    config = BenchConfig(server.base_url, "k", source=str(wav), sessions=2, concurrency=2,
                         commit_every=0.5)
    report = run_bench(config)
    assert report.errors == []
    _check_positive(report, ("connect", "session_started", "first_partial", "commit"))
    assert report.summaries()["vad"].n == 0
    for result in report.results:
        assert result.audio_seconds == pytest.approx(len(AUDIO) / 32000)
        # One measured commit per phrase, at its pause; finish() then commits the trailing
        # silence (answered "", not measured).
        assert len(result.commit) == PHRASES
        assert result.committed == PHRASES + 1
    cpu = report.cpu_per_audio_hour
    assert cpu is not None and cpu > 0
    data = json.loads(json.dumps(report.to_dict()))
    assert data["sessions"] == 2 and data["commit_strategy"] == "manual"
    assert set(data["latency_ms"]) == {key for key, _ in METRICS}
    # The sessions are in the server's journal, each with all of the audio.
    records = server.wait_idle(count=len(server.sessions()))
    assert sum(r.audio_bytes == len(AUDIO) for r in records) >= 2


def test_vad_measures_end_of_speech_to_committed(server: MockServer, wav: pathlib.Path) -> None:
    """With the VAD strategy every phrase's pause gives one end-of-speech latency, which
    includes the silence threshold (it is what a speaker waits)."""
    config = BenchConfig(server.base_url, "k", source=str(wav), sessions=1,
                         options={"commit_strategy": "vad", "vad_silence_threshold_secs": 0.4})
    report = run_bench(config)
    assert report.errors == []
    _check_positive(report, ("connect", "session_started", "first_partial", "vad"))
    assert report.summaries()["commit"].n == 0
    assert len(report.results[0].vad) == PHRASES
    assert min(report.samples("vad")) >= 0.4 - 0.1  # at chunk granularity (100 ms)
    assert "VAD commits after 0.4 s of silence" in render_table(report)


def test_a_failing_session_is_reported_not_raised(wav: pathlib.Path) -> None:
    """A refused key ends each session with its error in the report; nothing is measured."""
    with MockServer(api_keys=["right"]) as mock:
        report = run_bench(BenchConfig(mock.base_url, "wrong", source=str(wav), sessions=2))
    assert len(report.errors) == 2
    assert all(r.session_started is None and r.connect is not None for r in report.results)
    assert report.cpu_per_audio_hour is None
    assert "error: session 1:" in render_table(report)


def test_bench_command_against_the_mock_prints_json(
    wav: pathlib.Path, capfd: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """`scribe-sync bench --mock FILE --format json --plot P` measures against a mock in a child
    process, prints the JSON report and writes a PNG."""
    pytest.importorskip("matplotlib")
    png = tmp_path / "latency.png"
    code = main(["bench", "--mock", str(wav), "-n", "1", "--commit-every", "0.5",
                 "--format", "json", "--plot", str(png)])
    out = capfd.readouterr().out
    assert code == EXIT_OK
    data = json.loads(out)
    assert data["target"].startswith("a local mock server")
    assert data["errors"] == []
    for key in ("connect", "session_started", "first_partial", "commit"):
        assert data["latency_ms"][key]["n"] >= 1 and data["latency_ms"][key]["p50"] > 0, key
    assert data["cpu_seconds_per_audio_hour"] > 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_plot_without_matplotlib_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], wav: pathlib.Path
) -> None:
    """--plot without matplotlib fails at once, naming the extra to install."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["bench", "--mock", str(wav), "--plot", "x.png"])
    assert code == EXIT_USAGE
    assert "pip install 'scribe-sync[bench]'" in capfd.readouterr().err


@pytest.mark.parametrize("flags", [["--sessions", "0"], ["--concurrency", "0"],
                                   ["--commit-every", "0"], ["--vad-threshold", "5"]])
def test_invalid_bench_options_fail_before_connecting(
    flags: list[str], capfd: pytest.CaptureFixture[str], wav: pathlib.Path
) -> None:
    """Bad numbers are usage errors naming the flag, found before a mock even starts (by the
    parser, which exits, for a flag whose range it states: --commit-every)."""
    try:
        code = main(["bench", "--mock", str(wav), *flags])
    except SystemExit as exc:
        code = exc.code
    assert code == EXIT_USAGE
    assert f"{flags[0]}" in capfd.readouterr().err


def test_bench_without_a_key_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Against the service without a key: exit 3, pointing at the variable and --mock."""
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    code = main(["bench", "--base-url", "ws://127.0.0.1:9"])
    assert code == EXIT_AUTH
    assert "--mock" in capfd.readouterr().err


def test_bench_parser_takes_session_options() -> None:
    """Every session option flag works on bench too (e.g. --commit-strategy vad)."""
    from scribe_sync.cli import build_parser

    args = build_parser().parse_args(["bench", "--mock", "--commit-strategy", "vad"])
    assert isinstance(args, argparse.Namespace)
    assert args.opt_commit_strategy == "vad" and args.sessions == 3
    assert _probe.SAMPLE_VAD_SILENCE < 0.6  # below the sample's pauses: one commit per sentence


def test_readme_bench_example_prints_the_table_shown(tmp_path: pathlib.Path) -> None:
    """The guide's `scribe-sync bench --mock` command (docs/latency.md) runs and prints a table
    with the rows and columns of the guide's illustrative output (numbers aside)."""
    text = (REPO / "docs" / "latency.md").read_text(encoding="utf-8")
    (command,) = [line for block in blocks("sh", text) for line in block.splitlines()
                  if line.startswith("scribe-sync bench")]
    (shown,) = blocks("text", text)
    proc = subprocess.run([sys.executable, "-m", "scribe_sync.cli", *command.split()[1:]],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**_clean_env(), "PYTHONPATH": str(REPO)}, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def skeleton(table: str) -> list[list[str]]:
        return [re.sub(r"\d+(\.\d+)?", "N", line).split() for line in table.splitlines()]

    assert skeleton(proc.stdout) == skeleton(shown)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("ELEVENLABS_API_KEY", "SCRIBE_SYNC_BASE_URL", "COLUMNS")}
