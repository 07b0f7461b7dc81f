"""Shared helpers: servers and workers in subprocesses, percentiles, machine, audio, clocks."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "API_KEY",
    "CHUNK_BYTES",
    "CHUNK_SECS",
    "QUERY",
    "ROOT",
    "ServerProcess",
    "audio_chunks",
    "collect",
    "cpu_seconds",
    "frame",
    "machine",
    "pcm_speech",
    "revision",
    "summarize",
    "workers",
]

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
RATE = 16000
CHUNK_SECS = 0.1
CHUNK_BYTES = int(RATE * 2 * CHUNK_SECS)  # 100 ms of 16-bit PCM at 16 kHz
QUERY = "/v1/speech-to-text/realtime?model_id=scribe_v2_realtime&audio_format=pcm_16000"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cmd(module: str, args: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", module, json.dumps(args)]


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


def cpu_seconds() -> float:
    """User + system CPU of this process only (``RUSAGE_SELF``: no server, no children)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def context_switches() -> int:
    """Voluntary + involuntary context switches of this process so far (every thread): each
    thread hand-off and each wait for the GIL costs some."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


def machine() -> dict[str, Any]:
    """CPU model, core count, memory, load, OS and interpreter of this machine."""
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
        "load_average": [round(x, 2) for x in os.getloadavg()],
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


def revision() -> str:
    """The commit measured, ``-dirty`` when tracked files differ from it (the page of figures
    and the report directory, which a run rewrites, excepted); ``unknown`` outside git."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                      ":(exclude)BENCHMARKS.md", ":(exclude)benchmarks/report")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if changed else head


def pcm_speech(seconds: float, seed: int = 0) -> bytes:
    """Speech-like noise (16 kHz 16-bit PCM) that the mock's VAD hears as speech.

    Band-limited noise at 30 % of full scale, like ``mock_server.testing.speech``; made here so
    that client processes never import the mock (its import time and memory are not theirs).
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    smooth = np.convolve(rng.standard_normal(n + 8), np.ones(8) / 8, mode="valid")[:n]
    smooth /= max(1e-9, float(np.max(np.abs(smooth))))
    return (smooth * 0.3 * 32767).astype("<i2").tobytes()


def audio_chunks(seconds: float) -> list[bytes]:
    """Speech in 1.5 s bursts separated by 0.5 s of silence, as 100 ms chunks."""
    pattern = pcm_speech(1.5) + b"\x00" * int(0.5 * RATE * 2)
    whole = pattern * (int(seconds / 2) + 1)
    whole = whole[: int(seconds * RATE * 2)]
    return [whole[i : i + CHUNK_BYTES] for i in range(0, len(whole), CHUNK_BYTES)]


def frame(audio: bytes, commit: bool = False) -> str:
    """The naive raw client's frame: base64 and ``json.dumps`` of a dict, per chunk."""
    return json.dumps({"message_type": "input_audio_chunk",
                       "audio_base_64": base64.b64encode(audio).decode(), "commit": commit,
                       "sample_rate": RATE})


class ServerProcess:
    """A server in its own process: the mock (``benchmarks._mockproc``) or the echo server.

    The child prints ``{"port": ..., "pid": ...}`` once listening and serves until its stdin
    closes, so it never outlives this process.
    """

    #: Where the server's code comes from (another checkout, to compare versions under one
    #: load generator) and a command prefix (``taskset -c 1`` pins it to one core).
    root: Path = ROOT
    prefix: Sequence[str] = ()

    def __init__(self, module: str = "benchmarks._mockproc", **settings: Any) -> None:
        self.module = module
        self.settings = settings
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.pid = 0

    @classmethod
    def mock(cls, **settings: Any) -> ServerProcess:
        """The mock answering at once (no simulated service delays), with no idle timeout and
        no frame journal (benchmarks stream for long)."""
        settings.setdefault("timing", "instant")
        settings.setdefault("idle_timeout_secs", None)
        settings.setdefault("journal_frames", False)
        return cls("benchmarks._mockproc", **settings)

    @classmethod
    def echo(cls, **settings: Any) -> ServerProcess:
        """The echo-commit server (``benchmarks._echo``): pure client cost."""
        return cls("benchmarks._echo", **settings)

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.root) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([*self.prefix, *_cmd(self.module, self.settings)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env, cwd=self.root)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"{self.module} did not start")
        info = json.loads(line)
        self.port, self.pid = info["port"], info["pid"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        _stop(proc, 10)
        if proc.stdout is not None:
            proc.stdout.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{QUERY}"


def _stop(proc: subprocess.Popen[str], grace: float) -> None:
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def workers(module: str, arg_list: Sequence[dict[str, Any]], *, stdin: bool = False
            ) -> Iterator[list[subprocess.Popen[str]]]:
    """Start several ``python -m module '<args>'`` processes; terminate any still running."""
    procs = [
        subprocess.Popen(_cmd(module, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                         text=True, env=_env(), cwd=ROOT)
        for args in arg_list
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            _stop(proc, 5)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def collect(proc: subprocess.Popen[str], module: str, timeout: float) -> dict[str, Any]:
    """Wait for a worker started by :func:`workers` and parse its last stdout line (JSON)."""
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
