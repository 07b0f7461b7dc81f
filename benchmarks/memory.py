"""Benchmark 5: client resident memory per open session.

A fresh process per client opens one session and closes it (imports and caches warm), then
opens N sessions and holds them: (RSS after - RSS before) / N. scribe-sync holds a reader thread
per session; the raw floor holds a bare websocket-client socket; the SDK an asyncio task.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import MockProcess, machine, run_worker

__all__ = ["run"]

CLIENTS = ("raw", "sdk", "ours")
MODES: dict[str, dict[str, Any]] = {"quick": {"sessions": 5}, "full": {"sessions": 200}}


def run(mode: str = "quick") -> dict[str, Any]:
    params = MODES[mode]
    out: dict[str, Any] = {"params": params, "clients": {}}
    with MockProcess(idle_timeout_secs=None, journal_frames=False) as server:
        for client in CLIENTS:
            out["clients"][client] = run_worker(
                "benchmarks._worker",
                {"task": "memory", "client": client, "url": server.base_url,
                 "sessions": params["sessions"]},
                timeout=120,
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    args = parser.parse_args()
    print(json.dumps({"machine": machine(), "memory": run("full" if args.full else "quick")},
                     indent=2))


if __name__ == "__main__":
    main()
