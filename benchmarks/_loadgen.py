"""Load generator for the scale benchmark: N realtime-paced sessions on one asyncio loop.

``python -m benchmarks._loadgen '<JSON>'`` with ``url`` (ws://...), ``sessions``, ``ramp``
(seconds over which connections are spread), ``seconds`` (the measured window once all are
connected) and optionally ``raw`` (also return every latency sample). Each session sends
precomputed 100 ms chunks at real time (speech bursts and pauses, a commit every 2 s) and reads
everything; latency is the commit round trip (commit sent -> its ``committed_transcript``
received), which needs nothing from the mock but the protocol. Prints ``{"event": "steady"}``
when the window starts (so the parent can sample the server), then one result line.
"""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import sys
import time
from collections import deque
from typing import Any

import numpy as np

from ._common import CHUNK_SECS, pcm_speech

__all__ = ["main"]

COMMIT_EVERY = 20


def _frames() -> list[str]:
    pattern = pcm_speech(1.5) + b"\x00" * 16000  # 1.5 s speech, 0.5 s silence
    chunks = [pattern[i : i + 3200] for i in range(0, len(pattern), 3200)]
    return [json.dumps({"message_type": "input_audio_chunk",
                        "audio_base_64": base64.b64encode(c).decode(), "commit": False,
                        "sample_rate": 16000}) for c in chunks]


COMMIT = json.dumps({"message_type": "input_audio_chunk", "audio_base_64": "", "commit": True,
                     "sample_rate": 16000})


class Stats:
    def __init__(self) -> None:
        self.latencies: list[int] = []
        self.measuring = False
        self.errors: dict[str, int] = {}
        self.messages = 0
        self.connected = 0
        self.sent = 0  # frames sent while measuring

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def session(url: str, delay: float, stop: asyncio.Event, stats: Stats,
                  frames: list[str]) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    await asyncio.sleep(delay)
    try:
        ws = await connect(url, additional_headers={"xi-api-key": "bench-key"},
                           compression=None, ping_interval=None, open_timeout=60,
                           max_queue=None)
    except Exception as exc:
        stats.error(f"connect: {type(exc).__name__}")
        return
    stats.connected += 1
    pending: deque[int] = deque()  # send times of unanswered commits

    async def reader() -> None:
        try:
            async for message in ws:
                now = time.monotonic_ns()
                obj = json.loads(message)
                stats.messages += 1
                kind = obj["message_type"]
                if kind == "committed_transcript" and pending:
                    sent = pending.popleft()
                    if stats.measuring:
                        stats.latencies.append(now - sent)
                if kind not in ("session_started", "partial_transcript",
                                "committed_transcript"):
                    stats.error(kind)
        except ConnectionClosed:
            pass
        if not stop.is_set():
            stats.error(f"closed early: {ws.close_code}")

    task = asyncio.create_task(reader())
    loop = asyncio.get_running_loop()
    start = loop.time()
    k = 0
    try:
        while not stop.is_set():
            due = start + (k + 1) * CHUNK_SECS
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await ws.send(frames[k % len(frames)])
            k += 1
            if k % COMMIT_EVERY == 0:
                pending.append(time.monotonic_ns())
                await ws.send(COMMIT)
            if stats.measuring:
                stats.sent += 1 + (k % COMMIT_EVERY == 0)
    except ConnectionClosed:
        pass
    finally:
        await ws.close()
        await task


async def amain(args: dict[str, Any]) -> dict[str, Any]:
    n, ramp, seconds = args["sessions"], args["ramp"], args["seconds"]
    url = args["url"]  # ws://.../v1/speech-to-text/realtime?...
    frames = _frames()
    stats = Stats()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(session(url, ramp * i / n, stop, stats, frames))
             for i in range(n)]
    await asyncio.sleep(ramp + min(1.0, ramp))  # connections spread over the ramp, then settle
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"event": "steady", "connected": stats.connected}), flush=True)
    stats.measuring = True
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    stats.measuring = False
    window = time.monotonic() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"event": "end"}), flush=True)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    lat = np.asarray(stats.latencies, dtype=np.float64) / 1000.0
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return {
        "event": "result",
        "connected": stats.connected,
        "round_trips": int(lat.size),
        "messages": stats.messages,
        "p50_us": float(np.percentile(lat, 50)) if lat.size else None,
        "p90_us": float(np.percentile(lat, 90)) if lat.size else None,
        "p99_us": float(np.percentile(lat, 99)) if lat.size else None,
        "max_us": float(lat.max()) if lat.size else None,
        "errors": stats.errors,
        "window": window,
        "loadgen_cpu_share": cpu / window,
        "sent": stats.sent,
        # Every sample, for a parent that merges several generators' percentiles.
        **({"latencies_us": lat.tolist()} if args.get("raw") else {}),
    }


def main() -> None:
    args: dict[str, Any] = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(amain(args))), flush=True)


if __name__ == "__main__":
    main()
