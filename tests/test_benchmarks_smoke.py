"""The benchmarks keep working: quick mode runs and reports every figure (never a timing)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

# No importorskip: psutil and matplotlib are test dependencies, so this test cannot quietly skip.
from benchmarks import BENCHMARKS
from benchmarks.__main__ import run_all
from benchmarks.report import BEGIN, END, update_doc

CONTENDERS = ("raw", "threaded", "iterator", "callbacks", "sdk")


@pytest.mark.timeout(300)
def test_quick_mode_runs_and_reports(tmp_path: Path) -> None:
    """`python -m benchmarks --quick` writes JSON, markdown, plots and a held/missed table."""
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\nmethod\n\n{BEGIN}\nold figures\n{END}\n\nlimits\n")
    results = run_all("quick", out=tmp_path, log=io.StringIO(), doc=doc)
    written = json.loads((tmp_path / "results.json").read_text())
    assert set(BENCHMARKS) <= set(written)
    assert {"cpu_model", "cpu_count", "python", "load_average"} <= set(written["machine"])
    for server in ("echo", "mock"):
        clients = written["roundtrip"]["servers"][server]
        assert set(clients) == set(CONTENDERS)
        for stats in clients.values():
            assert stats["n"] == written["roundtrip"]["params"]["samples"]
            assert {"p50", "p90", "p99", "max", "p50_to_raw", "p99_to_threaded",
                    "paired_minus_raw_us", "paired_minus_threaded_us"} <= set(stats)
        assert clients["raw"]["paired_minus_raw_us"] == 0
    for mode in ("unpaced", "paced"):
        for client in ("raw", "ours", "sdk"):
            assert written["cpu"][mode][client]["cpu_secs_per_audio_hour"] > 0
    for level in written["concurrency"]["levels"]:
        for client in ("raw", "ours"):
            assert level[client]["n"] > 0
            assert {"p50", "p99", "cpu_secs_per_audio_hour", "threads_per_session",
                    "rss_per_session"} <= set(level[client])
    for level in written["scale"]["levels"]:
        assert level["errors"] == {}
        assert {"sessions", "p50_us", "p99_us", "server_cpu_share", "rss_per_session"} <= set(
            level)
    markdown = (tmp_path / "results.md").read_text()
    assert "### Targets (this run)" in markdown
    assert "iterator round trip p50 ≤ 1.10x raw (echo server)" in markdown
    assert "| held |" in markdown or "**missed**" in markdown
    for name in ("roundtrip", "concurrency", "scale"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    text = doc.read_text()
    assert "old figures" not in text and "method" in text and text.endswith("limits\n")
    assert "### Targets (this run)" in text
    assert results["mode"] == "quick"


def test_doc_update_refuses_a_page_without_markers(tmp_path: Path) -> None:
    """The figures never land in a page that lost its markers (they would be appended blindly)."""
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n")
    results = {"mode": "full", "started": "now", "machine": {
        "cpu_model": "x", "cpu_count": 2, "implementation": "CPython", "python": "3",
        "platform": "linux"}}
    with pytest.raises(SystemExit, match="markers"):
        update_doc(results, doc)
    assert doc.read_text() == "# Benchmarks\n"
