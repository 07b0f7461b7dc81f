"""Benchmark 3: how cost and latency grow with concurrent sessions in one client process.

For 1, 10, 50 and 200 sessions, each client (``benchmarks._concworker``: the raw loop,
``websockets.sync.client``, the scribe-sync iterator and scribe-sync callbacks, each with one
user thread per session) runs alone in its own process against the echo-commit server (in
another process; a partial every 0.3 s of audio so there are events to decode), paced at real
time with a commit every 0.5 s. Each level runs in rounds (three in ``--full``): every client
runs one window per round, back to back, the order rotating between rounds. Reported, as the
median over the rounds: client CPU per hour of audio, commit round trip p50/p99, and their
ratios to raw paired round by round (the machine's state changes between minutes, and a
window's p99 rests on a few dozen round trips); threads (counted during the windows) and
memory per session.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from ._common import ServerProcess, collect, machine, summarize, workers

__all__ = ["CLIENTS", "run"]

CLIENTS = ("raw", "wssync", "iterator", "callbacks")
MODES: dict[str, dict[str, Any]] = {
    "quick": {"levels": {10: 1.0}, "warmup": 0.3, "rounds": 1},
    "full": {"levels": {1: 6.0, 10: 5.0, 50: 5.0, 200: 8.0}, "warmup": 1.0, "rounds": 3},
}


def _window(client: str, url: str, n: int, seconds: float, warmup: float) -> dict[str, Any]:
    args = {"client": client, "url": url, "sessions": n, "seconds": seconds, "warmup": warmup}
    with workers("benchmarks._concworker", [args]) as (proc,):
        result = collect(proc, "benchmarks._concworker", seconds + 120)
    result.update(summarize(result.pop("round_trips_ns")))
    return result


def _level(n: int, windows: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """One level's figures from its rounds: medians of the rounds' figures, and ratios to raw
    paired round by round (a round's clients ran back to back, on the same machine)."""
    level: dict[str, Any] = {"sessions": n, "rounds": len(windows)}
    for client in CLIENTS:
        rounds = [w[client] for w in windows]
        stats: dict[str, Any] = {
            "n": sum(int(r["n"]) for r in rounds),
            "threads_per_session": max(r["threads_per_session"] for r in rounds),
            "library_threads_per_session": max(r["library_threads_per_session"] for r in rounds),
        }
        for key in ("cpu_secs_per_audio_hour", "cpu_share", "rss_per_session", "p50", "p90",
                    "p99", "mean", "max"):
            values = [r[key] for r in rounds if key in r]
            if values:
                stats[key] = statistics.median(values)
        stats["p99_rounds"] = [r.get("p99") for r in rounds]
        for key in ("cpu_secs_per_audio_hour", "p50", "p99"):
            pairs = [(w[client][key], w["raw"][key]) for w in windows
                     if key in w[client] and key in w["raw"]]
            if pairs:
                name = "cpu_to_raw" if key.startswith("cpu") else f"{key}_to_raw"
                stats[name] = statistics.median(a / b for a, b in pairs)
        level[client] = stats
    return level


def run(mode: str = "quick") -> dict[str, Any]:
    params = MODES[mode]
    levels: list[dict[str, Any]] = []
    with ServerProcess.echo(partial_every=3) as server:
        for i, (n, seconds) in enumerate(params["levels"].items()):
            windows: list[dict[str, dict[str, Any]]] = []
            for r in range(params["rounds"]):
                k = (i + r) % len(CLIENTS)  # the order rotates from round to round
                windows.append({client: _window(client, server.base_url, n, seconds,
                                                params["warmup"])
                                for client in CLIENTS[k:] + CLIENTS[:k]})
            levels.append(_level(n, windows))
    return {"params": {"levels": {str(k): v for k, v in params["levels"].items()},
                       "warmup_secs": params["warmup"], "commit_every_secs": 0.5,
                       "rounds": params["rounds"]},
            "clients": list(CLIENTS), "levels": levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    args = parser.parse_args()
    print(json.dumps({"machine": machine(), "concurrency": run("full" if args.full else "quick")},
                     indent=2))


if __name__ == "__main__":
    main()
