"""Benchmarks for scribe-sync: round trips, CPU, concurrency and mock scale.

Run ``python -m benchmarks [--quick|--full] [--only NAME] [--out DIR]`` (``tox -e bench``), or one
benchmark alone with ``python -m benchmarks.<name>``; ``python -m benchmarks.report`` rewrites the
figures of BENCHMARKS.md from ``benchmarks/report/results.json``.

Every figure is compared with baselines measured in the same run (a raw websocket-client loop,
a plain reader-thread + queue client, the official ``elevenlabs`` async SDK), against servers
running in their own processes. Nothing here is a timed assertion.
"""

__all__ = ["BENCHMARKS"]

#: The benchmark modules, in the order ``python -m benchmarks`` runs them.
BENCHMARKS = ("roundtrip", "cpu", "concurrency", "scale")
