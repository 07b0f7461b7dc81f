"""Benchmarks for scribe-sync: latency, round trips, throughput, mock scale and memory.

Run ``python -m benchmarks [--quick|--full] [--only NAME] [--out DIR]`` (``tox -e bench``), or one
benchmark alone with ``python -m benchmarks.<name>``. See BENCHMARKS.md for the latest figures.

Every figure is compared with baselines measured in the same run: a minimal websocket-client
loop (the floor) and the official ``elevenlabs`` async SDK. Nothing here is a timed assertion.
"""

__all__ = ["BENCHMARKS"]

#: The benchmark modules, in the order ``python -m benchmarks`` runs them.
BENCHMARKS = ("latency", "roundtrip", "throughput", "scale", "memory")
