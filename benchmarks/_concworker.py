"""Concurrency worker: N real-time sessions in this one process, as one application would run them.

``python -m benchmarks._concworker '{"client": "raw"|"ours", "url": ..., "sessions": N,
"seconds": S, "warmup": W}'`` connects N sessions, then runs one sending thread per session
that sends a 100 ms chunk every 100 ms (real time; the sessions' phases spread over the 100 ms)
and commits every 0.5 s. After W s of warm-up it measures a window of S seconds and prints one
JSON line: this process's CPU (``getrusage``), the commit round trips (``commit`` called ->
``committed_transcript`` in user code) started in the window, threads and memory per session.

- ``raw``: websocket-client, one thread per session that sends and, until the next chunk is
  due, ``select`` + ``recv`` for events (the naive loop of the CPU benchmark).
- ``ours``: scribe-sync, one thread per session calling ``send_audio``/``commit``, events to
  a callback (scribe-sync adds its reader and dispatcher threads).
"""

from __future__ import annotations

import importlib
import json
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._common import API_KEY, CHUNK_SECS, QUERY, audio_chunks, cpu_seconds, frame

__all__ = ["main"]

COMMIT_EVERY = 5  # chunks: a commit every 0.5 s


class Run:
    """The shared clock, the measured window and the round trips recorded in it."""

    def __init__(self, sessions: int, seconds: float, warmup: float) -> None:
        self.sessions = sessions
        self.warmup = warmup
        self.seconds = seconds
        self.begin()
        self.stop = threading.Event()
        self.lock = threading.Lock()  # guards round_trips
        self.round_trips: list[int] = []
        self.chunks = audio_chunks(2.0)

    def begin(self) -> None:
        """Start the clock (once every session is connected)."""
        self.start = time.monotonic() + 0.2
        self.window = (self.start + self.warmup, self.start + self.warmup + self.seconds)

    def due(self, index: int, k: int) -> float:
        return self.start + index * CHUNK_SECS / self.sessions + k * CHUNK_SECS

    def record(self, t0: int, t1: int) -> None:
        lo, hi = self.window
        if lo * 1e9 <= t0 <= hi * 1e9:
            with self.lock:
                self.round_trips.append(t1 - t0)


def raw_session(run: Run, url: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    import websocket

    ws = websocket.create_connection(url.replace("http", "ws", 1) + QUERY,
                                     header=[f"xi-api-key: {API_KEY}"], skip_utf8_validation=True)
    ws.recv()  # session_started
    sock = ws.sock
    assert sock is not None
    commit = frame(b"", commit=True)

    def loop(index: int) -> None:
        pending: deque[int] = deque()
        k = 0
        while not run.stop.is_set():
            due = run.due(index, k)
            while (wait := due - time.monotonic()) > 0 and select.select([sock], [], [], wait)[0]:
                message = json.loads(ws.recv())
                if message["message_type"] == "committed_transcript":
                    run.record(pending.popleft(), time.monotonic_ns())
            ws.send(frame(run.chunks[k % len(run.chunks)]))
            k += 1
            if k % COMMIT_EVERY == 0:
                pending.append(time.monotonic_ns())
                ws.send(commit)

    return loop, ws.close


def ours_session(run: Run, url: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    from scribe_sync import CommittedTranscript, Event, ScribeClient

    session = ScribeClient(API_KEY, base_url=url).connect(audio_format="pcm_16000")
    pending: deque[int] = deque()  # commit times; appended before the commit is sent

    def on_event(event: Event) -> None:
        if isinstance(event, CommittedTranscript):
            run.record(pending.popleft(), time.monotonic_ns())

    session.on(Event, on_event)

    def loop(index: int) -> None:
        k = 0
        while not run.stop.is_set():
            wait = run.due(index, k) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            session.send_audio(run.chunks[k % len(run.chunks)])
            k += 1
            if k % COMMIT_EVERY == 0:
                pending.append(time.monotonic_ns())
                if not session.commit():
                    pending.pop()

    return loop, session.close


def main() -> None:
    import psutil

    args: dict[str, Any] = json.loads(sys.argv[1])
    n, seconds = int(args["sessions"]), float(args["seconds"])
    opener = {"raw": raw_session, "ours": ours_session}[args["client"]]
    for module in ("websocket", "scribe_sync"):  # imported before the thread baseline
        importlib.import_module(module)
    me = psutil.Process()
    run = Run(n, seconds, float(args.get("warmup", 1.0)))
    threads0 = me.num_threads()
    opener(run, args["url"])[1]()  # caches warm before the memory baseline
    rss0 = me.memory_info().rss
    opened = [opener(run, args["url"]) for _ in range(n)]
    run.begin()
    for i, (loop, _) in enumerate(opened):
        threading.Thread(target=loop, args=(i,), name=f"bench-session-{i}").start()
    time.sleep(max(0.0, run.window[0] - time.monotonic()))
    c0 = cpu_seconds()
    time.sleep(max(0.0, run.window[1] - time.monotonic()))
    cpu = cpu_seconds() - c0
    threads, rss = me.num_threads(), me.memory_info().rss
    run.stop.set()
    for thread in threading.enumerate():
        if thread.name.startswith("bench-session-"):
            thread.join()
    for _, close in opened:
        close()
    print(json.dumps({
        "sessions": n, "window_secs": seconds, "cpu": cpu,
        "cpu_secs_per_audio_hour": cpu / (n * seconds) * 3600, "cpu_share": cpu / seconds,
        "threads_per_session": (threads - threads0) / n, "rss_per_session": (rss - rss0) / n,
        "round_trips_ns": run.round_trips,
    }), flush=True)


if __name__ == "__main__":
    main()
