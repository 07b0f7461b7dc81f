"""The command on many files: ``python -m benchmarks.batch [--files N] [--seconds S] [--jobs J]``.

N WAV files of S seconds of speech-like audio (20 of 60 s by default; ``--quick``: 4 of 10 s),
transcribed against the mock in its own process, with ``--fast``, two ways:

- batch: one ``scribe-sync transcribe f1 ... fN -o out/ --jobs J`` process;
- one by one: N ``scribe-sync transcribe fi -o out/fi.txt`` processes, one after the other.

Reported: wall time of each and their ratio (target: batch < 1/4 of one by one at J = 4), and
client CPU per audio hour of each (user + system of the command's processes, from
``RUSAGE_CHILDREN``; target: batch < +5 % over one by one). One by one pays an interpreter
start and the imports per file, so the CPU is also given with one bare start-up per process
(``python -c 'import scribe_sync.cli, scribe_sync.audio'``, measured here) taken out of both.
Nothing here is a timed assertion; on a shared machine the wall times are noisy, CPU less so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from benchmarks._common import API_KEY, ROOT, ServerProcess, machine, pcm_speech

__all__ = ["main", "run"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ELEVENLABS_API_KEY", None)
    return env


def _server_cpu(pid: int) -> float:
    try:
        import psutil
    except ImportError:
        return float("nan")
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


_SERVER_CPU: dict[str, float] = {}


def _timed(args: list[str], server_pid: int = 0, key: str = "") -> tuple[float, float]:
    """Wall seconds and child CPU seconds of one process (which must succeed); the server's
    CPU meanwhile is added to ``_SERVER_CPU[key]``."""
    before = _server_cpu(server_pid) if server_pid else 0.0
    cpu, wall = _children_cpu(), time.monotonic()
    proc = subprocess.run(args, env=_env(), capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - wall, _children_cpu() - cpu
    if server_pid:
        _SERVER_CPU[key] = _SERVER_CPU.get(key, 0.0) + _server_cpu(server_pid) - before
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... exited {proc.returncode}: "
                           f"{proc.stderr[-500:]}")
    return wall, cpu


def _files(folder: Path, n: int, seconds: float) -> list[str]:
    # Speech in bursts, so that the manual commits (every 20 s, at a pause) find pauses.
    burst = pcm_speech(1.5) + b"\x00" * 16000
    audio = (burst * (int(seconds / 2) + 1))[: int(seconds * 32000)]
    names = []
    for i in range(n):
        path = folder / f"talk{i:02d}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(audio)
        names.append(str(path))
    return names


def run(files: int, seconds: float, jobs: int) -> dict[str, Any]:
    """Measure both ways once; the figures as a dict."""
    cli = [sys.executable, "-m", "scribe_sync.cli", "transcribe"]
    _SERVER_CPU.clear()
    with tempfile.TemporaryDirectory() as tmp, ServerProcess.mock() as server:
        folder = Path(tmp)
        names = _files(folder, files, seconds)
        common = ["--fast", "-q", "--base-url", server.base_url, "--api-key", API_KEY]
        startup_wall, startup_cpu = _timed(
            [sys.executable, "-c", "import scribe_sync.cli, scribe_sync.audio"])
        batch_wall, batch_cpu = _timed([*cli, *names, "-o", str(folder / "batch"),
                                        "--jobs", str(jobs), *common], server.pid, "batch")
        single_wall = single_cpu = 0.0
        os.mkdir(folder / "single")
        for name in names:
            out = folder / "single" / (Path(name).stem + ".txt")
            wall, cpu = _timed([*cli, name, "-o", str(out), *common], server.pid, "single")
            single_wall += wall
            single_cpu += cpu
        same = all((folder / "batch" / p.name).read_text() == p.read_text()
                   for p in (folder / "single").iterdir())
    hours = files * seconds / 3600
    return {
        "params": {"files": files, "seconds": seconds, "jobs": jobs},
        "machine": machine(),
        "same_transcripts": same,
        "batch": {"wall_secs": round(batch_wall, 3), "cpu_secs": round(batch_cpu, 3),
                  "cpu_secs_per_audio_hour": round(batch_cpu / hours, 2)},
        "one_by_one": {"wall_secs": round(single_wall, 3), "cpu_secs": round(single_cpu, 3),
                       "cpu_secs_per_audio_hour": round(single_cpu / hours, 2)},
        "mock_cpu_secs": {way: round(cpu, 3) for way, cpu in _SERVER_CPU.items()},
        "startup": {"wall_secs": round(startup_wall, 3), "cpu_secs": round(startup_cpu, 3)},
        "wall_ratio": round(batch_wall / single_wall, 3),
        "cpu_ratio": round(batch_cpu / single_cpu, 3),
        "cpu_ratio_without_startups": round(
            (batch_cpu - startup_cpu) / max(1e-9, single_cpu - files * startup_cpu), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="4 files of 10 s (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.seconds = 4, 10.0
    result = run(args.files, args.seconds, args.jobs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    b, s = result["batch"], result["one_by_one"]
    print(f"{args.files} files of {args.seconds:g} s, --fast, --jobs {args.jobs}, load "
          f"{result['machine']['load_average']}")
    print(f"  batch       {b['wall_secs']:8.2f} s wall  {b['cpu_secs']:7.2f} s CPU  "
          f"{b['cpu_secs_per_audio_hour']:7.1f} CPU s per audio hour")
    print(f"  one by one  {s['wall_secs']:8.2f} s wall  {s['cpu_secs']:7.2f} s CPU  "
          f"{s['cpu_secs_per_audio_hour']:7.1f} CPU s per audio hour")
    print(f"  the mock's CPU meanwhile (another process): {result['mock_cpu_secs']}")
    print(f"  wall ratio {result['wall_ratio']:.3f} (target < 0.25); CPU ratio "
          f"{result['cpu_ratio']:.3f}, {result['cpu_ratio_without_startups']:.3f} without the "
          f"start-ups (target < 1.05); same transcripts: {result['same_transcripts']}")


if __name__ == "__main__":
    main()
