"""CPU workers: one client streams audio in its own process, which measures its own CPU.

``python -m benchmarks._worker '{"client": NAME, "url": ..., "seconds": S, "paced": bool}'``
(NAME one of :data:`STREAMERS`) streams S seconds of speech-like audio (1.5 s bursts, 0.5 s
pauses) in 100 ms pcm_16000 chunks with a commit every 2 s, handles every event, waits for the
last commit's answer and prints one JSON line: wall and CPU seconds (``getrusage(RUSAGE_SELF)``:
this process, every thread, never the server) from after the connect to the last answer.
Every client encodes its own base64, as its users must: the raw loop is the naive one,
``ws.send(json.dumps({...}))`` per chunk. The clients that read on a thread of their own (the
20-line ``threaded`` client, ``wssync``, scribe-sync's callbacks) send from the caller's thread;
scribe-sync's iterator follows the README: a thread sends, the caller iterates.
"""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ._common import (
    API_KEY,
    CHUNK_SECS,
    QUERY,
    audio_chunks,
    context_switches,
    cpu_seconds,
    frame,
)

__all__ = ["main"]

COMMIT_EVERY = 20  # chunks (2 s of audio) between manual commits


class _Pacer:
    """Absolute deadlines: chunk k is sent once it has been 'captured' (k * 100 ms)."""

    def __init__(self, paced: bool) -> None:
        self.paced = paced
        self.start = time.monotonic()

    def due(self, k: int) -> float:
        return self.start + (k + 1) * CHUNK_SECS if self.paced else 0.0


# ------------------------------------------------------------------------------------------
# Streaming: raw floor, the 20-line threaded client, websockets.sync.client, official SDK,
# scribe-sync. Each returns counters; the caller times.


def stream_raw(url: str, chunks: list[bytes], paced: bool) -> dict[str, Any]:
    """One thread: send a chunk, then read whatever arrived until the next chunk is due."""
    import websocket

    ws = websocket.create_connection(url.replace("http", "ws", 1) + QUERY,
                                     header=[f"xi-api-key: {API_KEY}"], skip_utf8_validation=True)
    sock = ws.sock
    assert sock is not None
    events = 0
    committed = 0
    ws.recv()  # session_started
    t0, c0, s0 = time.monotonic(), cpu_seconds(), context_switches()

    def drain(until: float, want: int | None = None) -> None:
        nonlocal events, committed
        while want is None or committed < want:
            wait = max(0.0, until - time.monotonic())
            if not select.select([sock], [], [], wait)[0]:
                return
            message = json.loads(ws.recv())
            events += 1
            committed += message["message_type"] == "committed_transcript"

    pacer = _Pacer(paced)
    commits = 0
    for k, chunk in enumerate(chunks):
        drain(pacer.due(k))
        ws.send(frame(chunk))
        if (k + 1) % COMMIT_EVERY == 0:
            ws.send(frame(b"", commit=True))
            commits += 1
    if len(chunks) % COMMIT_EVERY:
        ws.send(frame(b"", commit=True))
        commits += 1
    drain(time.monotonic() + 10.0, commits)
    wall, cpu, switches = time.monotonic() - t0, cpu_seconds() - c0, context_switches() - s0
    ws.close()
    return {"wall": wall, "cpu": cpu, "events": events, "switches": switches}


def _send_all(send: Callable[[str], object], chunks: list[bytes], paced: bool,
              between: Callable[[], None] = lambda: None) -> int:
    """Send every chunk (paced or not) and a commit every 2 s; returns the commits sent."""
    pacer = _Pacer(paced)
    commits = 0
    for k, chunk in enumerate(chunks):
        if paced:
            time.sleep(max(0.0, pacer.due(k) - time.monotonic()))
        send(frame(chunk))
        between()
        if (k + 1) % COMMIT_EVERY == 0:
            send(frame(b"", commit=True))
            commits += 1
    if len(chunks) % COMMIT_EVERY:
        send(frame(b"", commit=True))
        commits += 1
    return commits


def stream_threaded(url: str, chunks: list[bytes], paced: bool) -> dict[str, Any]:
    """The 20-line client: a reader thread feeds a ``queue.Queue``; the caller sends, and
    handles whatever the queue holds after each chunk."""
    import websocket

    ws = websocket.create_connection(url.replace("http", "ws", 1) + QUERY,
                                     header=[f"xi-api-key: {API_KEY}"], skip_utf8_validation=True)
    ws.recv()  # session_started
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def reader() -> None:
        try:
            while message := ws.recv():  # empty once the close handshake is done
                events.put(json.loads(message))
        except (websocket.WebSocketException, OSError):
            pass
        events.put(None)

    thread = threading.Thread(target=reader, name="bench-threaded-reader")
    thread.start()
    counts = {"events": 0, "committed": 0}

    def handle(event: dict[str, Any] | None) -> None:
        if event is None:
            raise RuntimeError("the connection ended early")
        counts["events"] += 1
        counts["committed"] += event["message_type"] == "committed_transcript"

    def drain() -> None:
        while True:
            try:
                handle(events.get_nowait())
            except queue.Empty:
                return

    t0, c0, s0 = time.monotonic(), cpu_seconds(), context_switches()
    commits = _send_all(ws.send, chunks, paced, drain)
    while counts["committed"] < commits:
        handle(events.get(timeout=10.0))
    wall, cpu, switches = time.monotonic() - t0, cpu_seconds() - c0, context_switches() - s0
    ws.close()
    thread.join()
    return {"wall": wall, "cpu": cpu, "events": counts["events"], "switches": switches}


def stream_wssync(url: str, chunks: list[bytes], paced: bool) -> dict[str, Any]:
    """``websockets.sync.client`` with its defaults: the caller sends, a thread of the user's
    loops over ``recv()`` (websockets' own background thread reads the socket)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    # legacy=True: websockets' documented way to keep a connection open past a `with` block
    ws = connect(url.replace("http", "ws", 1) + QUERY, additional_headers={"xi-api-key": API_KEY},
                 legacy=True)
    ws.recv()  # session_started
    counts = {"events": 0, "committed": 0}
    changed = threading.Condition()  # guards counts["committed"]

    def reader() -> None:
        try:
            while True:
                message = json.loads(ws.recv())
                with changed:
                    counts["events"] += 1
                    if message["message_type"] == "committed_transcript":
                        counts["committed"] += 1
                        changed.notify_all()
        except ConnectionClosed:
            pass

    thread = threading.Thread(target=reader, name="bench-wssync-reader")
    thread.start()
    t0, c0, s0 = time.monotonic(), cpu_seconds(), context_switches()
    commits = _send_all(ws.send, chunks, paced)
    with changed:
        if not changed.wait_for(lambda: counts["committed"] >= commits, timeout=10.0):
            raise RuntimeError("commits left unanswered")
    wall, cpu, switches = time.monotonic() - t0, cpu_seconds() - c0, context_switches() - s0
    ws.close()
    thread.join()
    return {"wall": wall, "cpu": cpu, "events": counts["events"], "switches": switches}


def stream_sdk(url: str, chunks: list[bytes], paced: bool) -> dict[str, Any]:
    from elevenlabs import AsyncElevenLabs
    from elevenlabs.realtime import AudioFormat, RealtimeEvents

    out: dict[str, Any] = {}

    async def main() -> None:
        client = AsyncElevenLabs(api_key=API_KEY, base_url=url)
        conn = await client.speech_to_text.realtime.connect(
            {"model_id": "scribe_v2_realtime", "audio_format": AudioFormat.PCM_16000,
             "sample_rate": 16000}
        )
        counts = {"events": 0, "committed": 0}
        changed = asyncio.Event()

        def on_partial(data: dict[str, Any]) -> None:
            counts["events"] += 1

        def on_committed(data: dict[str, Any]) -> None:
            counts["events"] += 1
            counts["committed"] += 1
            changed.set()

        conn.on(RealtimeEvents.PARTIAL_TRANSCRIPT, on_partial)
        conn.on(RealtimeEvents.COMMITTED_TRANSCRIPT, on_committed)
        t0, c0, s0 = time.monotonic(), cpu_seconds(), context_switches()
        pacer = _Pacer(paced)
        commits = 0
        for k, chunk in enumerate(chunks):
            if paced:
                await asyncio.sleep(max(0.0, pacer.due(k) - time.monotonic()))
            # the SDK takes base64: encoding is the caller's job, so it is timed here too
            await conn.send({"audio_base_64": base64.b64encode(chunk).decode()})
            if (k + 1) % COMMIT_EVERY == 0:
                await conn.commit()
                commits += 1
        if len(chunks) % COMMIT_EVERY:
            await conn.commit()
            commits += 1
        while counts["committed"] < commits:
            changed.clear()
            await asyncio.wait_for(changed.wait(), 10.0)
        out.update(wall=time.monotonic() - t0, cpu=cpu_seconds() - c0, events=counts["events"],
                   switches=context_switches() - s0)
        await conn.close()

    asyncio.run(main())
    return out


def stream_callbacks(url: str, chunks: list[bytes], paced: bool) -> dict[str, Any]:
    """scribe-sync as documented: send from this thread, events to callbacks."""
    from scribe_sync import CommittedTranscript, PartialTranscript, ScribeClient

    session = ScribeClient(API_KEY, base_url=url).connect(audio_format="pcm_16000")
    counts = {"events": 0, "committed": 0}
    changed = threading.Condition()

    def on_partial(event: PartialTranscript) -> None:
        counts["events"] += 1

    def on_committed(event: CommittedTranscript) -> None:
        with changed:
            counts["events"] += 1
            counts["committed"] += 1
            changed.notify_all()

    session.on(PartialTranscript, on_partial)
    session.on(CommittedTranscript, on_committed)
    t0, c0, s0 = time.monotonic(), cpu_seconds(), context_switches()
    pacer = _Pacer(paced)
    commits = 0
    for k, chunk in enumerate(chunks):
        if paced:
            time.sleep(max(0.0, pacer.due(k) - time.monotonic()))
        session.send_audio(chunk)
        if (k + 1) % COMMIT_EVERY == 0:
            commits += session.commit()
    commits += session.commit()
    with changed:
        changed.wait_for(lambda: counts["committed"] >= commits, timeout=10.0)
    wall, cpu, switches = time.monotonic() - t0, cpu_seconds() - c0, context_switches() - s0
    session.close()
    return {"wall": wall, "cpu": cpu, "events": counts["events"], "switches": switches}


def stream_iterator(url: str, chunks: list[bytes], paced: bool) -> dict[str, Any]:
    """scribe-sync as the README's quickstart: a thread sends and then calls ``finish()``,
    ``for event in session`` here until the session ends."""
    from scribe_sync import CommittedTranscript, ScribeClient

    session = ScribeClient(API_KEY, base_url=url).connect(audio_format="pcm_16000")
    counts = {"events": 0, "committed": 0}

    def send() -> None:
        pacer = _Pacer(paced)
        for k, chunk in enumerate(chunks):
            if paced:
                time.sleep(max(0.0, pacer.due(k) - time.monotonic()))
            session.send_audio(chunk)
            if (k + 1) % COMMIT_EVERY == 0:
                session.commit()
        session.finish()  # commits the tail, waits for its transcript, closes

    t0, c0, s0 = time.monotonic(), cpu_seconds(), context_switches()
    sender = threading.Thread(target=send, name="bench-sender")
    sender.start()
    for event in session:
        counts["events"] += 1
        counts["committed"] += isinstance(event, CommittedTranscript)
    wall, cpu, switches = time.monotonic() - t0, cpu_seconds() - c0, context_switches() - s0
    sender.join()
    session.close()
    return {"wall": wall, "cpu": cpu, "events": counts["events"], "switches": switches}


STREAMERS: dict[str, Callable[[str, list[bytes], bool], dict[str, Any]]] = {
    "raw": stream_raw,
    "threaded": stream_threaded,
    "wssync": stream_wssync,
    "sdk": stream_sdk,
    "iterator": stream_iterator,
    "callbacks": stream_callbacks,
}


def main() -> None:
    args: dict[str, Any] = json.loads(sys.argv[1])
    chunks = audio_chunks(args["seconds"])
    result = STREAMERS[args["client"]](args["url"], chunks, args["paced"])
    result["audio_secs"] = len(chunks) * CHUNK_SECS
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
