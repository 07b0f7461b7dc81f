"""``python -m benchmarks [--quick|--full] [--only NAME ...] [--out DIR]``: run, then write
``results.json``, ``results.md`` and the PNG plots to DIR."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import BENCHMARKS
from ._common import ROOT, machine
from .report import markdown, plots

__all__ = ["main", "run_all"]


def run_all(mode: str, only: list[str] | None = None, out: Path | None = None,
            log: Any = sys.stderr) -> dict[str, Any]:
    """Run the selected benchmarks in ``mode``; write the results to ``out`` if given."""
    names = list(only or BENCHMARKS)
    results: dict[str, Any] = {"mode": mode, "machine": machine(),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for name in names:
        started = time.monotonic()
        print(f"[benchmarks] {name} ({mode}) ...", file=log, flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        results[name] = module.run(mode)
        results[name]["elapsed_secs"] = round(time.monotonic() - started, 2)
        print(f"[benchmarks] {name} done in {results[name]['elapsed_secs']} s", file=log,
              flush=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "results.md").write_text(markdown(results) + "\n")
        plots(results, out)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="a few seconds (the default)")
    group.add_argument("--full", action="store_true", help="the figures of BENCHMARKS.md")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, help="results directory (default: "
                        "benchmarks/report for --full, benchmarks/results otherwise)")
    args = parser.parse_args(argv)
    mode = "full" if args.full else "quick"
    out = args.out or ROOT / "benchmarks" / ("report" if args.full else "results")
    results = run_all(mode, args.only, out)
    print(markdown(results))
    print(f"\nwritten to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
