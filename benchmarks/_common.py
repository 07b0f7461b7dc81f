"""Shared helpers: the mock in a subprocess, percentiles, machine description, audio."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "API_KEY",
    "CHUNK_BYTES",
    "CHUNK_SECS",
    "ROOT",
    "MockProcess",
    "fetch_sessions",
    "machine",
    "pcm_speech",
    "python_cmd",
    "summarize",
]

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
RATE = 16000
CHUNK_SECS = 0.1
CHUNK_BYTES = int(RATE * 2 * CHUNK_SECS)  # 100 ms of 16-bit PCM at 16 kHz


def python_cmd(module: str, *args: str) -> list[str]:
    """``python -m module args`` with the repository first on the path (no install needed)."""
    return [sys.executable, "-m", module, *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def summarize(samples_ns: Sequence[int] | np.ndarray, *, pcts: Sequence[float] = (50, 90, 99)
              ) -> dict[str, float]:
    """Percentiles, mean and max of nanosecond samples, in microseconds."""
    data = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    if data.size == 0:
        return {"n": 0}
    out: dict[str, float] = {"n": int(data.size)}
    for p in pcts:
        out[f"p{p:g}"] = float(np.percentile(data, p))
    out["mean"] = float(data.mean())
    out["max"] = float(data.max())
    return out


def machine() -> dict[str, Any]:
    """CPU model, core count, memory, OS and interpreter of this machine."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(ImportError):
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    versions = {}
    for name in ("websocket", "websockets", "elevenlabs", "numpy"):
        with contextlib.suppress(ImportError, AttributeError):
            versions[name] = __import__(name).__version__
    from scribe_sync import __version__

    versions["scribe_sync"] = __version__
    info["versions"] = versions
    return info


def pcm_speech(seconds: float, seed: int = 0) -> bytes:
    """Speech-like noise (16 kHz 16-bit PCM) that the mock's VAD hears as speech."""
    from mock_server.testing import speech

    return speech(seconds, seed=seed)


class MockProcess:
    """The mock server in its own process (so it gets its own core and its CPU is its own)."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("api_keys", None)
        settings.setdefault("stamp_send_times", True)
        self.settings = settings
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.pid = 0

    def __enter__(self) -> MockProcess:
        self.proc = subprocess.Popen(
            python_cmd("benchmarks._mockproc", json.dumps(self.settings)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the mock server process did not start")
        info = json.loads(line)
        self.port, self.pid = info["port"], info["pid"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self.proc = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/speech-to-text/realtime"


def fetch_sessions(base_url: str) -> list[dict[str, Any]]:
    """The mock's journal (admin API)."""
    with urllib.request.urlopen(base_url + "/_mock/sessions", timeout=30) as response:
        data: list[dict[str, Any]] = json.loads(response.read())
    return data


def run_worker(module: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``python -m module '<args JSON>'`` in a fresh process; its last stdout line is JSON."""
    with workers(module, [args]) as (proc,):
        return collect(proc, module, timeout)


@contextlib.contextmanager
def workers(
    module: str, arg_list: Sequence[dict[str, Any]]
) -> Iterator[list[subprocess.Popen[str]]]:
    """Start several ``python -m module '<args>'`` processes; terminate any still running."""
    procs = [
        subprocess.Popen(
            python_cmd(module, json.dumps(args)), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
        )
        for args in arg_list
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def collect(proc: subprocess.Popen[str], module: str, timeout: float) -> dict[str, Any]:
    """Wait for a worker started by :func:`workers` and parse its JSON line."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"{module} timed out after {timeout:g} s: {err[-2000:]}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed ({proc.returncode}): {err[-2000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def now_ns() -> int:
    """CLOCK_MONOTONIC in ns: the clock of the mock's ``_mock_sent_ns`` stamps (Linux)."""
    return time.monotonic_ns()
