"""The benchmarks keep working: quick mode runs and reports every figure (never a timing)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

# No importorskip: psutil and matplotlib are test dependencies, so this test cannot quietly skip.
from benchmarks import BENCHMARKS
from benchmarks.__main__ import run_all


@pytest.mark.timeout(300)
def test_quick_mode_runs_and_reports(tmp_path: Path) -> None:
    """`python -m benchmarks --quick` writes JSON, markdown and plots with the expected keys."""
    results = run_all("quick", out=tmp_path, log=io.StringIO())
    written = json.loads((tmp_path / "results.json").read_text())
    assert set(BENCHMARKS) <= set(written)
    assert {"cpu_model", "cpu_count", "python"} <= set(written["machine"])
    for client in ("raw", "sdk", "iterator", "callbacks"):
        assert {"p50", "p90", "p99", "max", "ratio_p50", "ratio_p99"} <= set(
            written["latency"]["clients"][client]
        )
    assert {"raw", "sdk", "iterator"} <= set(written["roundtrip"]["commit"])
    assert {"p50", "p95", "p99"} <= set(written["roundtrip"]["vad_time_to_final"])
    for client in ("raw", "sdk", "ours"):
        assert "x_realtime" in written["throughput"]["unpaced"][client]
        assert "cpu_secs_per_audio_hour" in written["throughput"]["paced"][client]
        assert "per_session" in written["memory"]["clients"][client]
    for level in written["scale"]["levels"]:
        assert {"sessions", "p50_us", "p99_us", "server_cpu_share", "rss_per_session",
                "errors"} <= set(level)
    markdown = (tmp_path / "results.md").read_text()
    assert "### Targets" in markdown and "| raw |" in markdown
    assert (tmp_path / "latency.png").stat().st_size > 0
    assert (tmp_path / "scale.png").stat().st_size > 0
    assert results["mode"] == "quick"
