"""Micro-benchmarks of the codec and of start-up, as ratios against baselines of the same run.

``python -m benchmarks.micro [--quick|--full]`` prints a small table; :func:`run` returns the
same figures as a dict, for the full report (``run("quick")`` or ``run("full")``):

- ``decode``: ``protocol.decode`` of a ``committed_transcript_with_timestamps`` of 9 items (5
  words with one-character ``characters``, 4 spacings: the documented form the mock sends)
  against ``json.loads`` of the same text. Target: ratio <= 2.
- ``encode_audio``: ``protocol.encode_audio_chunk`` of a 100 ms chunk (3200 bytes of 16 kHz
  PCM), the encoding step of ``Session.send_audio``, against ``base64.b64encode`` of the same
  audio (the floor) and the naive ``json.dumps`` of the message dict.
- ``import``: ``python -c "import scribe_sync; scribe_sync.connect"`` against
  ``python -c "import websocket, attrs"``, whole processes, interleaved A B A B, median CPU
  time (user + sys, from the kernel's accounting of each child) and wall time. Target: ratio
  <= 1.2.
- ``send_audio``: ``Session.send_audio`` of one 100 ms chunk on a session open to the
  echo-commit server (``benchmarks._echo``, another process), the caller's whole cost: the
  rules, the encoding and the socket write. Target: <= 30 µs.

In-process times are the fastest of interleaved rounds (the least disturbed by other load),
the decode ratio the median of ratios paired round by round; the import figures are medians
of paired runs. Nothing here is a timed assertion.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

from scribe_sync import protocol

__all__ = ["IMPORT_BASELINE", "IMPORT_COMMAND", "main", "run", "timestamped_frame"]

IMPORT_COMMAND = "import scribe_sync; scribe_sync.connect"
IMPORT_BASELINE = "import websocket, attrs"
_SETTINGS = {"quick": {"rounds": 15, "imports": 11}, "full": {"rounds": 60, "imports": 41}}


def timestamped_frame() -> str:
    """A 9-item ``committed_transcript_with_timestamps`` as the service sends it."""
    words: list[dict[str, Any]] = []
    at = 0.0
    tokens = ["The", "quick", "brown", "fox", "jumps"]
    for index, token in enumerate(tokens):
        words.append({"text": token, "start": round(at, 2), "end": round(at + 0.3, 2),
                      "type": "word", "logprob": -0.01 * (index + 1),
                      "characters": list(token)})
        at += 0.3
        if index < len(tokens) - 1:
            words.append({"text": " ", "start": round(at, 2), "end": round(at + 0.04, 2),
                          "type": "spacing"})
            at += 0.04
    return json.dumps({"message_type": "committed_transcript_with_timestamps",
                       "text": "The quick brown fox jumps.", "language_code": "en",
                       "words": words})


def _timed(functions: list[Callable[[], object]], rounds: int, number: int
           ) -> tuple[list[float], list[list[float]]]:
    """Microseconds per call of each function: the fastest of ``rounds`` interleaved rounds,
    and every round's figure (for ratios paired round by round, which machine drift spares)."""
    per_round: list[list[float]] = [[] for _ in functions]
    for _ in range(rounds):
        for index, function in enumerate(functions):
            seconds = timeit.timeit(function, number=number) / number
            per_round[index].append(seconds * 1e6)
    return [min(figures) for figures in per_round], per_round


def _paired_ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def bench_decode(rounds: int) -> dict[str, Any]:
    frame = timestamped_frame()
    assert len(protocol.decode(frame).words) == 9  # type: ignore[attr-defined]
    (decode_us, loads_us), (decodes, loads) = _timed(
        [lambda: protocol.decode(frame), lambda: json.loads(frame)], rounds * 4, 500
    )
    return {"frame_bytes": len(frame), "decode_us": round(decode_us, 2),
            "json_loads_us": round(loads_us, 2),
            "ratio": round(_paired_ratio(decodes, loads), 2), "target_ratio": 2.0}


def bench_encode_audio(rounds: int) -> dict[str, Any]:
    audio = bytes(range(256)) * 12 + bytes(128)  # 3200 bytes: 100 ms of 16 kHz 16-bit PCM

    def naive() -> bytes:
        return json.dumps({"message_type": "input_audio_chunk",
                           "audio_base_64": base64.b64encode(audio).decode("ascii"),
                           "commit": False, "sample_rate": 16000}).encode()

    assert json.loads(naive()) == json.loads(protocol.encode_audio_chunk(audio, False, 16000, None))
    (encode_us, floor_us, naive_us), _ = _timed(
        [lambda: protocol.encode_audio_chunk(audio, False, 16000, None),
         lambda: base64.b64encode(audio), naive], rounds, 5000,
    )
    return {"chunk_bytes": len(audio), "encode_us": round(encode_us, 2),
            "base64_us": round(floor_us, 2), "naive_json_us": round(naive_us, 2),
            "over_base64_us": round(encode_us - floor_us, 2)}


def _child(code: str, env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + sys) and wall seconds of one ``python -c code`` process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"python -c {code!r} exited {process.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


def bench_import(runs: int) -> dict[str, Any]:
    # Bytecode as an installed package has it: pip compiles .pyc files on install, so a run
    # that recompiled every module from source (PYTHONDONTWRITEBYTECODE in a source checkout)
    # would time the compiler, not the import. The warm-up runs write the caches.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(2):
        _child(IMPORT_COMMAND, env)
        _child(IMPORT_BASELINE, env)
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    for _ in range(runs):
        ours.append(_child(IMPORT_COMMAND, env))
        base.append(_child(IMPORT_BASELINE, env))
    cpu_ratios = [a[0] / b[0] for a, b in zip(ours, base, strict=True) if b[0] > 0]
    wall_ratios = [a[1] / b[1] for a, b in zip(ours, base, strict=True)]
    return {
        "command": f'python -c "{IMPORT_COMMAND}"',
        "baseline": f'python -c "{IMPORT_BASELINE}"',
        "runs": runs,
        "cpu_ms": round(statistics.median(a[0] for a in ours) * 1e3, 1),
        "baseline_cpu_ms": round(statistics.median(b[0] for b in base) * 1e3, 1),
        "wall_ms": round(statistics.median(a[1] for a in ours) * 1e3, 1),
        "baseline_wall_ms": round(statistics.median(b[1] for b in base) * 1e3, 1),
        "cpu_ratio": round(statistics.median(cpu_ratios), 2),
        "wall_ratio": round(statistics.median(wall_ratios), 2),
        "target_ratio": 1.2,
    }


def bench_send_audio(rounds: int) -> dict[str, Any]:
    """The fastest per-chunk time of ``rounds`` bursts of 200 ``send_audio`` calls."""
    import scribe_sync  # here, so that the import benchmark's children measure a cold import

    from ._common import ServerProcess

    chunk = bytes(range(256)) * 12 + bytes(128)  # 3200 bytes: 100 ms of 16 kHz 16-bit PCM
    burst = 200
    best = float("inf")
    with ServerProcess.echo() as server:
        client = scribe_sync.ScribeClient(api_key="bench-key", base_url=server.base_url)
        with client.connect() as session:
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(burst):
                    session.send_audio(chunk)
                best = min(best, (time.perf_counter() - started) / burst)
    return {"chunk_bytes": len(chunk), "send_audio_us": round(best * 1e6, 2),
            "bursts": rounds, "burst": burst, "target_us": 30.0}


def run(mode: str = "quick") -> dict[str, Any]:
    """Run the micro-benchmarks; ``mode`` is "quick" (seconds) or "full" (longer).

    Besides a section per benchmark, the dict has the flat figures the full report judges:
    ``decode_ratio``, ``send_audio_us`` and ``import_ratio`` (CPU), with ``import_ms`` and
    ``import_baseline_ms``.
    """
    settings = _SETTINGS[mode]
    results: dict[str, Any] = {
        "mode": mode,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "decode": bench_decode(settings["rounds"]),
        "encode_audio": bench_encode_audio(settings["rounds"]),
        "import": bench_import(settings["imports"]),
        "send_audio": bench_send_audio(settings["rounds"]),
    }
    results.update(
        decode_ratio=results["decode"]["ratio"],
        decode_us=results["decode"]["decode_us"],
        json_loads_us=results["decode"]["json_loads_us"],
        send_audio_us=results["send_audio"]["send_audio_us"],
        import_ratio=results["import"]["cpu_ratio"],
        import_ms=results["import"]["cpu_ms"],
        import_baseline_ms=results["import"]["baseline_cpu_ms"],
    )
    return results


def table(results: dict[str, Any]) -> str:
    """The figures of :func:`run` as a small Markdown table."""
    d, e, i = results["decode"], results["encode_audio"], results["import"]
    rows = [
        ("decode, 9-item timestamped answer", f"{d['decode_us']} µs",
         f"json.loads {d['json_loads_us']} µs", f"{d['ratio']}x (target <= {d['target_ratio']}x)"),
        ("encode one 100 ms chunk", f"{e['encode_us']} µs",
         f"base64 {e['base64_us']} µs; json.dumps {e['naive_json_us']} µs",
         f"+{e['over_base64_us']} µs over base64"),
        ("import scribe_sync; scribe_sync.connect", f"{i['cpu_ms']} ms CPU",
         f"import websocket, attrs {i['baseline_cpu_ms']} ms CPU",
         f"{i['cpu_ratio']}x CPU, {i['wall_ratio']}x wall (target <= {i['target_ratio']}x)"),
        ("Session.send_audio of one 100 ms chunk", f"{results['send_audio']['send_audio_us']} µs",
         "", "(target <= 30 µs)"),
    ]
    lines = ["| figure | scribe-sync | baseline | ratio |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="more rounds and import runs")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    results = run("full" if args.full else "quick")
    print(table(results))
    print(f"(load average at start: {results['load_average']})")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
