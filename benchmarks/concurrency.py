"""Benchmark 3: how cost and latency grow with concurrent sessions in one client process.

For 1, 10, 50 and 200 sessions, each client (``benchmarks._concworker``: the raw loop,
``websockets.sync.client``, the scribe-sync iterator and scribe-sync callbacks, each with one
user thread per session) runs alone in its own process against the echo-commit server (in
another process; a partial every 0.3 s of audio so there are events to decode), paced at real
time with a commit every 0.5 s. Reported: client CPU per hour of audio, commit round trip
p50/p99 and their ratios to raw, threads (counted during the window) and memory per session.
The order of the clients rotates from one level to the next.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import ServerProcess, collect, machine, summarize, workers

__all__ = ["CLIENTS", "run"]

CLIENTS = ("raw", "wssync", "iterator", "callbacks")
MODES: dict[str, dict[str, Any]] = {
    "quick": {"levels": {10: 1.0}, "warmup": 0.3},
    "full": {"levels": {1: 10.0, 10: 8.0, 50: 8.0, 200: 10.0}, "warmup": 1.0},
}


def run(mode: str = "quick") -> dict[str, Any]:
    params = MODES[mode]
    levels: list[dict[str, Any]] = []
    with ServerProcess.echo(partial_every=3) as server:
        for i, (n, seconds) in enumerate(params["levels"].items()):
            level: dict[str, Any] = {"sessions": n}
            k = i % len(CLIENTS)
            for client in CLIENTS[k:] + CLIENTS[:k]:
                args = {"client": client, "url": server.base_url, "sessions": n,
                        "seconds": seconds, "warmup": params["warmup"]}
                with workers("benchmarks._concworker", [args]) as (proc,):
                    result = collect(proc, "benchmarks._concworker", seconds + 120)
                result.update(summarize(result.pop("round_trips_ns")))
                level[client] = result
            raw = level["raw"]
            for client in CLIENTS:
                stats = level[client]
                stats["cpu_to_raw"] = (stats["cpu_secs_per_audio_hour"]
                                       / raw["cpu_secs_per_audio_hour"])
                if raw["n"] and stats["n"]:
                    stats["p50_to_raw"] = stats["p50"] / raw["p50"]
                    stats["p99_to_raw"] = stats["p99"] / raw["p99"]
            levels.append(level)
    return {"params": {"levels": {str(k): v for k, v in params["levels"].items()},
                       "warmup_secs": params["warmup"], "commit_every_secs": 0.5},
            "clients": list(CLIENTS), "levels": levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    args = parser.parse_args()
    print(json.dumps({"machine": machine(), "concurrency": run("full" if args.full else "quick")},
                     indent=2))


if __name__ == "__main__":
    main()
