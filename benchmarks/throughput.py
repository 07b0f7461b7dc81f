"""Benchmark 3: sending.

- ``unpaced``: audio streamed as fast as the client can, in 100 ms chunks, through the mock
  (which decodes, runs its VAD and transcriber on every chunk) until the last commit is
  answered: audio seconds per wall second.
- ``paced``: real time, 100 ms chunks, a commit every 2 s, events handled by callbacks: client
  CPU seconds (user + system, ``getrusage`` of the client's own process) per hour of audio.

Clients: the raw websocket-client floor (one thread: send, then ``select`` + ``recv`` until the
next chunk is due), the official async SDK, scribe-sync. Each runs in its own process; the mock
runs in another. The paced clients run at the same time (they are mostly idle).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import MockProcess, collect, machine, run_worker, workers

__all__ = ["CLIENTS", "run"]

CLIENTS = ("raw", "sdk", "ours")
MODES: dict[str, dict[str, Any]] = {
    "quick": {"unpaced_secs": 60, "paced_secs": 3},
    "full": {"unpaced_secs": 600, "paced_secs": 60},
}


def run(mode: str = "quick") -> dict[str, Any]:
    params = MODES[mode]
    out: dict[str, Any] = {"params": params, "unpaced": {}, "paced": {}}
    with MockProcess(idle_timeout_secs=None, journal_frames=False) as server:
        for client in CLIENTS:
            result = run_worker(
                "benchmarks._worker",
                {"task": "unpaced", "client": client, "url": server.base_url,
                 "seconds": params["unpaced_secs"]},
                timeout=300,
            )
            result["x_realtime"] = result["audio_secs"] / result["wall"]
            result["client_cpu_share"] = result["cpu"] / result["wall"]
            out["unpaced"][client] = result
        args = [{"task": "paced", "client": c, "url": server.base_url,
                 "seconds": params["paced_secs"]} for c in CLIENTS]
        with workers("benchmarks._worker", args) as procs:
            for client, proc in zip(CLIENTS, procs, strict=True):
                result = collect(proc, "benchmarks._worker", params["paced_secs"] + 60)
                result["cpu_secs_per_audio_hour"] = result["cpu"] / result["audio_secs"] * 3600
                out["paced"][client] = result
    raw = out["paced"]["raw"]["cpu_secs_per_audio_hour"]
    for result in out["paced"].values():
        result["ratio_to_raw"] = result["cpu_secs_per_audio_hour"] / raw
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    args = parser.parse_args()
    print(json.dumps({"machine": machine(), "throughput": run("full" if args.full else "quick")},
                     indent=2))


if __name__ == "__main__":
    main()
