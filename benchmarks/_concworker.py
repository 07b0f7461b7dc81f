"""Concurrency worker: N real-time sessions in this one process, as one application would run them.

``python -m benchmarks._concworker '{"client": NAME, "url": ..., "sessions": N, "seconds": S,
"warmup": W}'`` connects N sessions, then runs one thread per session (the user's) that sends a
100 ms chunk every 100 ms (real time; the sessions' phases spread over the 100 ms) and commits
every 0.5 s. After W s of warm-up it measures a window of S seconds and prints one JSON line:
this process's CPU (``getrusage``), the commit round trips (``commit`` called ->
``committed_transcript`` in user code) started in the window, and threads (counted several
times during the window, the most kept) and memory per session.

- ``raw``: websocket-client; the session's thread sends and, until the next chunk is due,
  ``select`` + ``recv`` for events (the naive loop of the CPU benchmark).
- ``wssync``: ``websockets.sync.client``; the session's thread sends and, until the next chunk
  is due, loops over ``recv(timeout=...)`` (websockets adds its own reader thread).
- ``iterator``: scribe-sync, the same shape: ``send_audio``/``commit``, then ``recv(timeout=...)``
  (one step of ``for event in session``) until the next chunk is due; scribe-sync adds its reader.
- ``callbacks``: scribe-sync, ``send_audio``/``commit`` from the session's thread, events to a
  callback (scribe-sync adds its reader and its dispatcher).

``library_threads_per_session`` is the threads per session beyond the user's one.
"""

from __future__ import annotations

import gc
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


def wssync_session(run: Run, url: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    from websockets.sync.client import connect

    # legacy=True: websockets' documented way to keep a connection open past a `with` block
    ws = connect(url.replace("http", "ws", 1) + QUERY, additional_headers={"xi-api-key": API_KEY},
                 legacy=True)
    ws.recv()  # session_started
    commit = frame(b"", commit=True)

    def loop(index: int) -> None:
        pending: deque[int] = deque()
        k = 0
        while not run.stop.is_set():
            due = run.due(index, k)
            while (wait := due - time.monotonic()) > 0:
                try:
                    message = json.loads(ws.recv(timeout=wait))
                except TimeoutError:
                    break
                if message["message_type"] == "committed_transcript":
                    run.record(pending.popleft(), time.monotonic_ns())
            ws.send(frame(run.chunks[k % len(run.chunks)]))
            k += 1
            if k % COMMIT_EVERY == 0:
                pending.append(time.monotonic_ns())
                ws.send(commit)

    return loop, ws.close


def iterator_session(run: Run, url: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    from scribe_sync import CommittedTranscript, ScribeClient

    session = ScribeClient(API_KEY, base_url=url).connect(audio_format="pcm_16000")

    def loop(index: int) -> None:
        pending: deque[int] = deque()
        k = 0
        while not run.stop.is_set():
            due = run.due(index, k)
            while (wait := due - time.monotonic()) > 0:
                try:
                    event = session.recv(timeout=wait)
                except TimeoutError:
                    break
                if isinstance(event, CommittedTranscript):
                    run.record(pending.popleft(), time.monotonic_ns())
            session.send_audio(run.chunks[k % len(run.chunks)])
            k += 1
            if k % COMMIT_EVERY == 0:
                pending.append(time.monotonic_ns())
                if not session.commit():
                    pending.pop()

    return loop, session.close


def callbacks_session(run: Run, url: str) -> tuple[Callable[[int], None], Callable[[], None]]:
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


OPENERS = {"raw": raw_session, "wssync": wssync_session, "iterator": iterator_session,
           "callbacks": callbacks_session}


def main() -> None:
    import psutil

    args: dict[str, Any] = json.loads(sys.argv[1])
    n, seconds = int(args["sessions"]), float(args["seconds"])
    opener = OPENERS[args["client"]]
    # imported before the thread baseline
    for module in ("websocket", "websockets.sync.client", "scribe_sync"):
        importlib.import_module(module)
    me = psutil.Process()
    run = Run(n, seconds, float(args.get("warmup", 1.0)))
    threads0 = me.num_threads()
    opener(run, args["url"])[1]()  # caches warm before the memory baseline
    rss0 = me.memory_info().rss
    opened = [opener(run, args["url"]) for _ in range(n)]
    # Collect the garbage of connecting now, as a server would once at start-up: otherwise the
    # first full collection (26 ms for 200 sessions on a 2-vCPU VM) falls in whichever window
    # comes first, a one-off that then decides a 10 s window's p99 (BENCHMARKS.md, History).
    gc.collect()
    run.begin()
    for i, (loop, _) in enumerate(opened):
        threading.Thread(target=loop, args=(i,), name=f"bench-session-{i}").start()
    time.sleep(max(0.0, run.window[0] - time.monotonic()))
    c0 = cpu_seconds()
    threads = me.num_threads()
    # the threads are counted during the window, not after it: a thread per session that
    # comes and goes (a timer, a per-commit helper) counts too
    while (left := run.window[1] - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))
        threads = max(threads, me.num_threads())
    cpu = cpu_seconds() - c0
    rss = me.memory_info().rss
    run.stop.set()
    for thread in threading.enumerate():
        if thread.name.startswith("bench-session-"):
            thread.join()
    for _, close in opened:
        close()
    print(json.dumps({
        "sessions": n, "window_secs": seconds, "cpu": cpu,
        "cpu_secs_per_audio_hour": cpu / (n * seconds) * 3600, "cpu_share": cpu / seconds,
        "threads_per_session": (threads - threads0) / n,
        "library_threads_per_session": (threads - threads0) / n - 1,  # beyond the user's one
        "rss_per_session": (rss - rss0) / n,
        "round_trips_ns": run.round_trips,
    }), flush=True)


if __name__ == "__main__":
    main()
