"""The benchmarks keep working: quick mode runs and reports every section (never a timing)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

# No importorskip: psutil and matplotlib are test dependencies, so this test cannot quietly skip.
from benchmarks import BENCHMARKS, OPTIONAL
from benchmarks.__main__ import run_all
from benchmarks.report import BEGIN, END, markdown, targets, update_doc

CONTENDERS = ("raw", "threaded", "wssync", "iterator", "callbacks", "sdk")
CPU_CLIENTS = ("raw", "threaded", "wssync", "iterator", "callbacks", "sdk")
CONCURRENCY_CLIENTS = ("raw", "wssync", "iterator", "callbacks")
STATUSES = {"held", "**missed**", "not measured"}
MACHINE = {"cpu_model": "x", "cpu_count": 2, "implementation": "CPython", "python": "3",
           "platform": "linux"}


@pytest.mark.timeout(300)
def test_quick_mode_runs_and_reports(tmp_path: Path) -> None:
    """`python -m benchmarks --quick` writes JSON, markdown, plots and a targets table."""
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\nmethod\n\n{BEGIN}\nold figures\n{END}\n\nlimits\n")
    results = run_all("quick", out=tmp_path, log=io.StringIO(), doc=doc)
    written = json.loads((tmp_path / "results.json").read_text())
    assert set(BENCHMARKS) <= set(written)
    assert {"cpu_model", "cpu_count", "python", "load_average"} <= set(written["machine"])
    assert written["commit"]
    for server in ("echo", "mock"):
        clients = written["roundtrip"]["servers"][server]
        assert set(clients) == set(CONTENDERS)
        for stats in clients.values():
            assert stats["n"] == written["roundtrip"]["params"]["samples"][server]
            assert {"p50", "p90", "p99", "max", "p50_to_raw", "p99_to_threaded",
                    "paired_minus_raw_us", "paired_minus_threaded_us",
                    "paired_to_threaded"} <= set(stats)
        assert clients["raw"]["paired_minus_raw_us"] == 0
        assert clients["threaded"]["paired_minus_threaded_us"] == 0
    for mode in ("unpaced", "paced"):
        assert set(written["cpu"][mode]) == set(CPU_CLIENTS)
        for stats in written["cpu"][mode].values():
            assert stats["cpu_secs_per_audio_hour"] > 0
    for level in written["concurrency"]["levels"]:
        for client in CONCURRENCY_CLIENTS:
            assert level[client]["n"] > 0
            assert {"p50", "p99", "cpu_secs_per_audio_hour", "threads_per_session",
                    "library_threads_per_session", "rss_per_session"} <= set(level[client])
    for name in OPTIONAL:  # measured when the module is in the tree, and then without failing
        why = written[name].get("not_measured")
        assert why is None or why == f"benchmarks/{name}.py is not in this tree"
    markdown_text = (tmp_path / "results.md").read_text()
    assert "### Targets (this run)" in markdown_text
    for title in ("### 1. Round trip", "### 2. Client CPU", "### 3. Concurrent sessions",
                  "### 4. Micro-benchmarks", "### 5. Many files at once",
                  "### 6. Mock server scale"):
        assert title in markdown_text
    rows = targets(written)
    assert {status for _, _, status in rows} <= STATUSES
    assert any("p50 within +5 % of the 20-line client" in t for t, _, _ in rows)
    # a quick run has no 200-session level: that target is not measured, never judged
    assert [s for t, _, s in rows if t.startswith("200 concurrent")] == ["not measured"] * 3
    for name in ("roundtrip", "concurrency"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    text = doc.read_text()
    assert "old figures" not in text and "method" in text and text.endswith("limits\n")
    assert "### Targets (this run)" in text
    assert results["mode"] == "quick"


def test_absent_sections_are_marked_not_measured() -> None:
    """A run without a benchmark's figures marks its targets "not measured", never held."""
    results = {"mode": "full", "started": "now", "machine": MACHINE,
               "micro": {"not_measured": "benchmarks/micro.py is not in this tree"}}
    rows = targets(results)
    assert rows and {status for _, _, status in rows} == {"not measured"}
    text = markdown(results)
    assert "Not measured: benchmarks/micro.py is not in this tree." in text
    assert "Not measured: not run." in text


def test_optional_sections_are_judged_from_their_figures() -> None:
    """micro, batch and scale figures in the documented shape are marked held or missed."""
    results = {"mode": "full", "started": "now", "machine": MACHINE,
               "micro": {"decode_ratio": 1.5, "send_audio_us": 45.0, "import_ratio": 1.1},
               "batch": {"wall_ratio": 0.2, "cpu_ratio": 1.08},
               "scale": {"params": {"workers": 1}, "levels": [
                   {"sessions": 1000, "p99_us": 40_000.0, "errors": {},
                    "rss_per_session": 70 * 1024, "server_cpu_us_per_frame": 55.0,
                    "server_cpu_share": 0.9}]}}
    judged = {t: s for t, _, s in targets(results)}
    assert judged["decoding a 9-word timestamped answer: ≤ 2x json.loads"] == "held"
    assert judged["send_audio of one 100 ms chunk: ≤ 30 µs"] == "**missed**"
    assert judged["batch: client CPU per audio hour < +5 % over single-file runs"] == "**missed**"
    assert judged["mock, 1000 sessions on one worker: p99 ≤ 50 ms with 0 errors"] == "held"
    assert judged["mock: memory per session ≤ 64 KiB"] == "**missed**"
    assert "Sessions per server core" in markdown(results)


def test_doc_update_refuses_a_page_without_markers(tmp_path: Path) -> None:
    """The figures never land in a page that lost its markers (they would be appended blindly)."""
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n")
    results = {"mode": "full", "started": "now", "machine": MACHINE}
    with pytest.raises(SystemExit, match="markers"):
        update_doc(results, doc)
    assert doc.read_text() == "# Benchmarks\n"


@pytest.mark.timeout(120)
def test_stages_runs_every_contender() -> None:
    """`python -m benchmarks.stages`: every contender, the rules one included, completes its
    round trips and is reported against the 20-line client (never a timing judged)."""
    from benchmarks.stages import CONTENDERS as STAGES
    from benchmarks.stages import run

    result = run(samples=3, warmup=1)
    assert result["samples"] == 3
    assert set(STAGES) == {"20-line", "parts", "rules", "iterator"} <= set(result)
    for name in STAGES:
        assert result[name]["round trip"] > 0 and result[name]["send path"] > 0
    assert result["20-line"]["paired round trip"] == 0
