"""``python -m benchmarks [--quick|--full] [--only NAME ...] [--out DIR]``: run, then write
``results.json``, ``results.md`` and the PNG plots to DIR. A complete ``--full`` run into the
default directory also rewrites the figures of BENCHMARKS.md (``benchmarks.report``)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import BENCHMARKS, OPTIONAL
from ._common import ROOT, machine, revision
from .report import markdown, write

__all__ = ["main", "run_all"]


def run_all(mode: str, only: list[str] | None = None, out: Path | None = None,
            log: Any = sys.stderr, doc: Path | None = None) -> dict[str, Any]:
    """Run the selected benchmarks in ``mode``; write the results to ``out`` (and the figures
    to ``doc``) if given."""
    names = list(only or BENCHMARKS)
    results: dict[str, Any] = {"mode": mode, "machine": machine(), "commit": revision(),
                               "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    began = time.monotonic()
    for name in names:
        started = time.monotonic()
        print(f"[benchmarks] {name} ({mode}) ...", file=log, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if name not in OPTIONAL or exc.name != f"benchmarks.{name}":
                raise
            results[name] = {"not_measured": f"benchmarks/{name}.py is not in this tree"}
            print(f"[benchmarks] {name}: not in this tree, not measured", file=log, flush=True)
            continue
        load = [round(x, 2) for x in os.getloadavg()]
        try:
            results[name] = module.run(mode)
        except Exception as exc:
            if name not in OPTIONAL:
                raise
            # a module written alongside this harness must not cost the rest of a long run;
            # its failure is shown where its figures would be
            traceback.print_exc(file=log)
            results[name] = {"not_measured": f"benchmarks/{name}.py failed: {exc!r}"[:300]}
            continue
        results[name]["load_average_at_start"] = load
        results[name]["elapsed_secs"] = round(time.monotonic() - started, 2)
        print(f"[benchmarks] {name} done in {results[name]['elapsed_secs']} s", file=log,
              flush=True)
    results["elapsed_secs"] = round(time.monotonic() - began, 1)
    if out is not None:
        write(results, out, doc)
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
    # BENCHMARKS.md takes only a complete full run written to the committed report directory.
    doc = ROOT / "BENCHMARKS.md" if args.full and not args.only and not args.out else None
    results = run_all(mode, args.only, out, doc=doc)
    print(markdown(results))
    if doc is not None:
        print(f"rewrote the figures of {doc}", file=sys.stderr)
    print(f"\nwritten to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
