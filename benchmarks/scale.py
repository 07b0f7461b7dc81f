"""Benchmark 4: the mock server under N concurrent realtime-paced sessions.

The mock runs alone in one process (frames not journaled); one asyncio load generator
process (``benchmarks._loadgen``, websockets client, precomputed frames) opens N sessions over
a ramp, streams 100 ms chunks at real time with a commit every 2 s, and measures the commit
round trip (commit sent -> ``committed_transcript`` received). Over the measured window this
process samples the server's CPU time and resident memory (psutil); memory per session is
(RSS in the window - RSS before any session) / N.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from typing import Any

from ._common import ROOT, ServerProcess, _cmd, _env, machine

__all__ = ["run"]

MODES: dict[str, dict[str, Any]] = {
    "quick": {"levels": [10], "seconds": 2.5},
    "full": {"levels": [100, 500, 1000], "seconds": 15.0},
}


def one_level(n: int, seconds: float) -> dict[str, Any]:
    import psutil

    ramp = max(0.2, n / 200)  # at most 200 new connections per second
    with ServerProcess.mock() as server:
        proc_server = psutil.Process(server.pid)
        time.sleep(0.2)
        rss0 = proc_server.memory_info().rss
        args = {"url": server.ws_url, "sessions": n, "ramp": ramp, "seconds": seconds}
        gen = subprocess.Popen(_cmd("benchmarks._loadgen", args),
                               stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
        try:
            assert gen.stdout is not None
            steady = json.loads(gen.stdout.readline())
            cpu0 = proc_server.cpu_times()
            t0 = time.monotonic()
            rss_samples = []
            ended = None
            while ended is None:
                line = gen.stdout.readline()
                if not line:
                    raise RuntimeError("the load generator died")
                ended = json.loads(line) if '"end"' in line else None
                rss_samples.append(proc_server.memory_info().rss)
            cpu1 = proc_server.cpu_times()
            window = time.monotonic() - t0
            result: dict[str, Any] = json.loads(gen.stdout.readline())
            gen.wait(60)
        finally:
            if gen.poll() is None:
                gen.terminate()
                gen.wait(10)
            if gen.stdout is not None:
                gen.stdout.close()
        rss = max([*rss_samples, proc_server.memory_info().rss])
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    result.pop("event", None)
    result.update(
        sessions=n,
        connected_at_start=steady["connected"],
        server_cpu_share=cpu / window,  # 1.0 = one core busy
        server_rss_before=rss0,
        server_rss=rss,
        rss_per_session=(rss - rss0) / n,
    )
    return result


def run(mode: str = "quick", levels: list[int] | None = None) -> dict[str, Any]:
    params = dict(MODES[mode])
    if levels is not None:
        params["levels"] = levels
    return {"params": params,
            "levels": [one_level(n, params["seconds"]) for n in params["levels"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    parser.add_argument("--levels", type=int, nargs="*", help="session counts to run")
    args = parser.parse_args()
    result = run("full" if args.full else "quick", args.levels)
    print(json.dumps({"machine": machine(), "scale": result}, indent=2))


if __name__ == "__main__":
    main()
