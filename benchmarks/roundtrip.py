"""Benchmark 1: the round trip users feel, ``commit()`` -> ``CommittedTranscript`` in user code.

Every contender (``benchmarks._rtclient``: raw, threaded, iterator, callbacks, sdk) runs in its
own process, connected for the whole run to the same server, which runs in yet another process:
the echo-commit server (``benchmarks._echo``: pure client cost) and then the mock. Samples are
interleaved: in sample *i* each contender takes its turn, in an order that rotates with *i*, so
that drift of the machine (other load, frequency, the server's state) falls on all alike. Each
sample sends five 100 ms chunks, lets the server settle and drains what is pending *before* the
clock starts (see ``_rtclient``). The first ``warmup`` samples are dropped.

Reported per server and contender: p50/p90/p99/max, ratios to raw and to the threaded baseline
(the 20-line reader-thread + ``queue.Queue`` client), and the paired differences: the median over
samples *i* of (contender_i - baseline_i), which cancels drift that a difference of medians
keeps. The targets are judged against the echo server (the client's own cost); the mock's table
shows what a test suite sees, with fewer samples (its 15 ms settle time makes each one dear).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from typing import Any

import numpy as np

from ._common import ServerProcess, machine, summarize, workers
from ._rtclient import CLIENTS

__all__ = ["run"]

MODES: dict[str, dict[str, Any]] = {
    "quick": {"samples": {"echo": 20, "mock": 10}, "warmup": 3},
    "full": {"samples": {"echo": 2000, "mock": 500}, "warmup": 50},
}
#: Settle time per server: how long without an event before the clock may start.
QUIET = {"echo": 0.003, "mock": 0.015}


def _line(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        assert proc.stderr is not None
        raise RuntimeError(f"a round-trip client died: {proc.stderr.read()[-2000:]}")
    return int(line)


def _command(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(text + "\n")
    proc.stdin.flush()


def one_server(server: ServerProcess, quiet: float, samples: int, warmup: int
               ) -> dict[str, list[int]]:
    """Samples (ns) per contender, interleaved in rotating order, warm-up dropped."""
    args = [{"client": c, "url": server.base_url, "quiet": quiet} for c in CLIENTS]
    out: dict[str, list[int]] = {c: [] for c in CLIENTS}
    with workers("benchmarks._rtclient", args, stdin=True) as procs:
        for proc in procs:
            _line(proc)  # ready: connected, session started
        for i in range(warmup + samples):
            for k in range(len(CLIENTS)):
                j = (i + k) % len(CLIENTS)
                _command(procs[j], "s")
                value = _line(procs[j])
                if i >= warmup:
                    out[CLIENTS[j]].append(value)
        for proc in procs:
            _command(proc, "q")
        for proc in procs:
            proc.wait(30)
    return out


def analyse(samples: dict[str, list[int]]) -> dict[str, Any]:
    raw = np.asarray(samples["raw"], dtype=np.int64)
    threaded = np.asarray(samples["threaded"], dtype=np.int64)
    floor, plain = summarize(raw), summarize(threaded)
    clients: dict[str, Any] = {}
    for name, values in samples.items():
        data = np.asarray(values, dtype=np.int64)
        stats: dict[str, Any] = summarize(data)
        for key in ("p50", "p90", "p99"):
            stats[f"{key}_to_raw"] = stats[key] / floor[key]
            stats[f"{key}_to_threaded"] = stats[key] / plain[key]
        stats["paired_minus_raw_us"] = float(np.median(data - raw)) / 1000.0
        stats["paired_minus_threaded_us"] = float(np.median(data - threaded)) / 1000.0
        # the paired median as a share of the baseline's p50: the "+5 %" of the targets
        stats["paired_to_threaded"] = stats["paired_minus_threaded_us"] / plain["p50"]
        clients[name] = stats
    return clients


def run(mode: str = "quick") -> dict[str, Any]:
    params = dict(MODES[mode])
    results: dict[str, Any] = {"params": {**params, "quiet_secs": QUIET}, "servers": {},
                               "samples_us": {}}
    servers = {"echo": ServerProcess.echo(), "mock": ServerProcess.mock()}
    for name, server in servers.items():
        with server:
            samples = one_server(server, QUIET[name], params["samples"][name],
                                 params["warmup"])
        results["servers"][name] = analyse(samples)
        results["samples_us"][name] = {
            c: np.round(np.asarray(v, dtype=np.float64) / 1000.0, 1).tolist()
            for c, v in samples.items()
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    args = parser.parse_args()
    result = run("full" if args.full else "quick")
    result.pop("samples_us")
    print(json.dumps({"machine": machine(), "roundtrip": result}, indent=2))


if __name__ == "__main__":
    main()
