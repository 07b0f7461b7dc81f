"""Benchmark 4: the mock server under N concurrent realtime-paced sessions.

The mock runs alone in one process (frames not journaled); one asyncio load generator
process (``benchmarks._loadgen``, websockets client, precomputed frames) opens N sessions over
a ramp, streams 100 ms chunks at real time with a commit every 2 s, and measures the commit
round trip (commit sent -> ``committed_transcript`` received). Over the measured window this
process samples the server's CPU time and resident memory (psutil); memory per session is
(RSS in the window - RSS before any session) / N. With ``--workers N`` the server is
``scribe-mock --workers N`` (CPU and RSS summed over its worker processes), and
``--generators`` spreads the sessions over several load generator processes.

The load generator must not share the server's cores: with ``taskset`` available and at least
two CPUs, the server is pinned to the last CPU (``--server-cpus``) and the generators to the
others (``--generator-cpus``); ``--no-pin`` turns that off. Every level reports the
generators' CPU (``loadgen_cpu_share``; a share near the number of generator cores means the
generator, not the server, was the limit) and the scale-out figure: ``sessions_per_core``,
the sessions one fully busy server core carries at the measured cost per session
(sessions / server CPU share), and ``server_cpu_us_per_frame``, the server's CPU time per
received frame (robust on a busy machine, unlike the latencies).

Quick check with small counts: ``python -m benchmarks.scale --levels 20 --seconds 3``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._common import QUERY, ROOT, ServerProcess, _cmd, _env, machine

__all__ = ["run"]

MODES: dict[str, dict[str, Any]] = {
    "quick": {"levels": [10], "seconds": 2.5},
    "full": {"levels": [100, 500, 1000], "seconds": 15.0},
}


def default_pinning() -> tuple[str | None, str | None]:
    """(server CPUs, generator CPUs) for ``taskset -c``: the last CPU for the server, the
    others for the load generators; ``(None, None)`` without taskset or with one CPU."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(cpus) < 2:
        return None, None
    return str(cpus[-1]), ",".join(str(c) for c in cpus[:-1])


def _taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


class _Workers:
    """``scribe-mock --workers N`` as the server under test (CPU and RSS of all workers)."""

    def __init__(self, workers: int, prefix: Sequence[str] = ()) -> None:
        self.workers = workers
        self.prefix = list(prefix)  # taskset: the workers inherit the parent's affinity
        self.proc: subprocess.Popen[str] | None = None
        self.ws_url = ""

    def __enter__(self) -> _Workers:
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "mock_server", "--port", "0", "--workers",
             str(self.workers),
             "--journal-frames", "none", "--idle-timeout-secs", "none", "--timing", "instant"],
            stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
        )
        assert self.proc.stdout is not None
        lines = [self.proc.stdout.readline() for _ in range(4)]
        base = lines[0].split()[-1]
        self.ws_url = base.replace("http://", "ws://") + QUERY
        return self

    def processes(self) -> list[Any]:
        import psutil

        assert self.proc is not None
        return list(psutil.Process(self.proc.pid).children())

    def __exit__(self, *exc_info: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _server(workers: int, cpus: str | None) -> contextlib.AbstractContextManager[Any]:
    if workers > 1:
        return _Workers(workers, _taskset(cpus))
    server = ServerProcess.mock()
    if cpus:
        server.prefix = tuple(_taskset(cpus))  # this server only (other benchmarks unpinned)
    return server


def one_level(n: int, seconds: float, workers: int = 1, generators: int = 1, *,
              server_cpus: str | None = None, generator_cpus: str | None = None
              ) -> dict[str, Any]:
    """N sessions against a mock of ``workers`` processes, from ``generators`` processes,
    each side pinned to its CPUs when given."""
    import psutil

    ramp = max(0.2, n / 200)  # at most 200 new connections per second
    with _server(workers, server_cpus) as server:
        procs = (server.processes() if isinstance(server, _Workers)
                 else [psutil.Process(server.pid)])
        time.sleep(0.2)

        def rss_now() -> int:
            return sum(p.memory_info().rss for p in procs)

        def cpu_now() -> float:
            return sum(sum(p.cpu_times()[:2]) for p in procs)

        rss0 = rss_now()
        gens = []
        for g in range(generators):
            share = n // generators + (g < n % generators)
            args = {"url": server.ws_url, "sessions": share, "ramp": ramp, "seconds": seconds,
                    "raw": generators > 1}
            gens.append(subprocess.Popen([*_taskset(generator_cpus),
                                          *_cmd("benchmarks._loadgen", args)],
                                         stdout=subprocess.PIPE, text=True, env=_env(),
                                         cwd=ROOT))
        try:
            steady = [json.loads(_read(gen)) for gen in gens]
            cpu0 = cpu_now()
            t0 = time.monotonic()
            rss_samples = [rss_now()]
            for gen in gens:
                json.loads(_read(gen))  # {"event": "end"}
                rss_samples.append(rss_now())
            cpu1 = cpu_now()
            window = time.monotonic() - t0
            results: list[dict[str, Any]] = [json.loads(_read(gen)) for gen in gens]
            for gen in gens:
                gen.wait(60)
        finally:
            for gen in gens:
                if gen.poll() is None:
                    gen.terminate()
                    gen.wait(10)
                if gen.stdout is not None:
                    gen.stdout.close()
        rss = max([*rss_samples, rss_now()])
    cpu = cpu1 - cpu0
    result = _merge(results)
    cpu_share = cpu / window
    result.update(
        sessions=n,
        workers=workers,
        generators=generators,
        server_cpus=server_cpus,
        generator_cpus=generator_cpus,
        # The scale-out figure: sessions a fully busy server core carries at this cost.
        sessions_per_core=n / cpu_share if cpu_share > 0 else None,
        connected_at_start=sum(s["connected"] for s in steady),
        server_cpu_share=cpu_share,  # 1.0 = one core busy
        server_rss_before=rss0,
        server_rss=rss,
        rss_per_session=(rss - rss0) / n,
        # Server CPU per frame received: robust to a busy machine, unlike the latencies.
        server_cpu_us_per_frame=cpu / max(1, result["sent"]) * 1e6,
    )
    return result


def _read(gen: subprocess.Popen[str]) -> str:
    assert gen.stdout is not None
    line = gen.stdout.readline()
    if not line:
        raise RuntimeError("the load generator died")
    return line


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    if len(results) == 1:
        result = dict(results[0])
        result.pop("event", None)
        return result
    lat = np.asarray([x for r in results for x in r["latencies_us"]], dtype=np.float64)
    errors: dict[str, int] = {}
    for r in results:
        for kind, count in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    return {
        "connected": sum(r["connected"] for r in results),
        "round_trips": int(lat.size),
        "messages": sum(r["messages"] for r in results),
        "sent": sum(r["sent"] for r in results),
        "p50_us": float(np.percentile(lat, 50)) if lat.size else None,
        "p90_us": float(np.percentile(lat, 90)) if lat.size else None,
        "p99_us": float(np.percentile(lat, 99)) if lat.size else None,
        "max_us": float(lat.max()) if lat.size else None,
        "errors": errors,
        "window": max(r["window"] for r in results),
        "loadgen_cpu_share": sum(r["loadgen_cpu_share"] for r in results),
    }


def run(mode: str = "quick", levels: list[int] | None = None, *, seconds: float | None = None,
        workers: int = 1, generators: int = 1, pin: bool = True,
        server_cpus: str | None = None, generator_cpus: str | None = None) -> dict[str, Any]:
    """Every level of ``mode`` (or ``levels``); pinned as :func:`default_pinning` says unless
    ``pin`` is false or CPUs are given."""
    params = dict(MODES[mode])
    if levels is not None:
        params["levels"] = levels
    if seconds is not None:
        params["seconds"] = seconds
    if pin:
        default_server, default_generator = default_pinning()
        server_cpus = server_cpus or default_server
        generator_cpus = generator_cpus or default_generator
    params.update(workers=workers, generators=generators, server_cpus=server_cpus,
                  generator_cpus=generator_cpus)
    return {"params": params,
            "levels": [one_level(n, params["seconds"], workers, generators,
                                 server_cpus=server_cpus, generator_cpus=generator_cpus)
                       for n in params["levels"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    parser.add_argument("--levels", type=int, nargs="*", help="session counts to run")
    parser.add_argument("--seconds", type=float, help="measured window per level")
    parser.add_argument("--workers", type=int, default=1, help="scribe-mock --workers N")
    parser.add_argument("--generators", type=int, default=1, help="load generator processes")
    parser.add_argument("--server-root", type=Path,
                        help="run the (single-process) mock from this checkout instead")
    parser.add_argument("--server-cpus",
                        help="pin the server: taskset -c CPUS (default: the last CPU)")
    parser.add_argument("--generator-cpus",
                        help="pin the load generators: taskset -c CPUS (default: the others)")
    parser.add_argument("--no-pin", action="store_true", help="pin nothing")
    args = parser.parse_args()
    if args.server_root is not None:
        ServerProcess.root = args.server_root.resolve()
    result = run("full" if args.full else "quick", args.levels, seconds=args.seconds,
                 workers=args.workers, generators=args.generators, pin=not args.no_pin,
                 server_cpus=args.server_cpus, generator_cpus=args.generator_cpus)
    print(json.dumps({"machine": machine(), "scale": result}, indent=2))


if __name__ == "__main__":
    main()
