"""Benchmark 2: client CPU per hour of audio, unpaced and paced, each client in its own process.

Clients (``benchmarks._worker``): the naive raw loop (websocket-client, one thread,
``ws.send(json.dumps({...}))`` per chunk, ``select`` + ``recv`` for events), the 20-line
reader-thread + ``queue.Queue`` client, ``websockets.sync.client`` (a reader loop over
``recv()``), scribe-sync's iterator (a sending thread, ``for event in session`` in the caller, as
the README shows it), scribe-sync's callbacks (``send_audio`` from the caller's thread) and the
official async SDK.
They stream speech-like audio in 100 ms pcm_16000 chunks to the mock (in its own process)
with a commit every 2 s; each measures ``getrusage(RUSAGE_SELF)`` in its own process, so
the server's CPU is never counted.

- ``unpaced``: as fast as the client and server go; several runs, one client at a time, the
  order rotating between runs; the median run per client is reported, and its ratios to raw
  and to the SDK are medians of ratios paired run by run. This is the cost of the work itself
  (encoding, framing, decoding, hand-offs).
- ``paced``: real time, every client at once in parallel processes (they are mostly idle),
  for at least 120 s in ``--full`` so the figure is well above the noise: this adds the cost
  of waking up, which is what a live microphone session pays.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from ._common import CHUNK_SECS, ServerProcess, collect, machine, workers

__all__ = ["CLIENTS", "run"]

CLIENTS = ("raw", "threaded", "wssync", "iterator", "callbacks", "sdk")
MODES: dict[str, dict[str, Any]] = {
    "quick": {"unpaced_secs": 30, "unpaced_runs": 1, "paced_secs": 3},
    "full": {"unpaced_secs": 2400, "unpaced_runs": 7, "paced_secs": 120},
}


def _per_hour(result: dict[str, Any]) -> float:
    return float(result["cpu"]) / float(result["audio_secs"]) * 3600


def run(mode: str = "quick") -> dict[str, Any]:
    params = MODES[mode]
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
    paced: dict[str, Any] = {}
    with ServerProcess.mock() as server:
        order = list(CLIENTS)
        for _ in range(params["unpaced_runs"]):
            for client in order:
                args = {"client": client, "url": server.base_url,
                        "seconds": params["unpaced_secs"], "paced": False}
                with workers("benchmarks._worker", [args]) as (proc,):
                    runs[client].append(collect(proc, "benchmarks._worker", 600))
            order = order[1:] + order[:1]
        args_list = [{"client": c, "url": server.base_url, "seconds": params["paced_secs"],
                      "paced": True} for c in CLIENTS]
        with workers("benchmarks._worker", args_list) as procs:
            for client, proc in zip(CLIENTS, procs, strict=True):
                paced[client] = collect(proc, "benchmarks._worker", params["paced_secs"] + 120)
    unpaced: dict[str, Any] = {}
    for client, results in runs.items():
        per_hour = [_per_hour(r) for r in results]
        unpaced[client] = {
            "cpu_secs_per_audio_hour": statistics.median(per_hour),
            "runs_cpu_secs_per_audio_hour": per_hour,
            "x_realtime": statistics.median(r["audio_secs"] / r["wall"] for r in results),
            "cpu_secs": statistics.median(r["cpu"] for r in results),
            "events": results[0]["events"],
            # per 100 ms chunk sent: thread hand-offs and GIL waits, where CPU goes unseen
            "switches_per_chunk": statistics.median(
                r.get("switches", 0) / (r["audio_secs"] / CHUNK_SECS) for r in results),
        }
    for result in paced.values():
        result["cpu_secs_per_audio_hour"] = _per_hour(result)
    for result in paced.values():
        result["ratio_to_raw"] = result["cpu_secs_per_audio_hour"] / paced["raw"][
            "cpu_secs_per_audio_hour"]
    for result in unpaced.values():
        # Paired by round (every client once per round, the order rotating): the machine
        # drifts by 30% between rounds of under a minute, which a ratio of medians keeps.
        mine = result["runs_cpu_secs_per_audio_hour"]
        for base in ("raw", "sdk"):
            theirs = unpaced[base]["runs_cpu_secs_per_audio_hour"]
            result[f"ratio_to_{base}"] = statistics.median(
                a / b for a, b in zip(mine, theirs, strict=True))
    return {"params": params, "unpaced": unpaced, "paced": paced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    args = parser.parse_args()
    print(json.dumps({"machine": machine(), "cpu": run("full" if args.full else "quick")},
                     indent=2))


if __name__ == "__main__":
    main()
