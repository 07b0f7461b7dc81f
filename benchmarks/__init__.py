"""Benchmarks for scribe-sync: round trips, CPU, concurrency, micro-benchmarks, batch, mock scale.

Run ``python -m benchmarks [--quick|--full] [--only NAME] [--out DIR]`` (``tox -e bench``), or one
benchmark alone with ``python -m benchmarks.<name>``; ``python -m benchmarks.report`` rewrites the
figures of BENCHMARKS.md from ``benchmarks/report/results.json``.

Every benchmark module has ``run(mode: str) -> dict`` (mode ``"quick"`` or ``"full"``). Every
figure is compared with baselines measured in the same run (a raw websocket-client loop, the
20-line reader-thread + ``queue.Queue`` client, ``websockets.sync.client``, the official
``elevenlabs`` async SDK), against servers running in their own processes. Nothing here is a
timed assertion.
"""

__all__ = ["BENCHMARKS", "OPTIONAL"]

#: The benchmark modules, in the order ``python -m benchmarks`` runs them.
BENCHMARKS = ("roundtrip", "cpu", "concurrency", "micro", "batch", "scale")
#: Modules written alongside the others: when one is not in the tree, its section and targets
#: say "not measured" instead of failing the run.
OPTIONAL = ("micro", "batch", "scale")
