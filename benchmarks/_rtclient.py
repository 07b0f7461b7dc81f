"""One round-trip contender, kept connected in its own process and driven over stdin/stdout.

``python -m benchmarks._rtclient '{"client": ..., "url": ..., "quiet": ...}'`` connects, prints
``ready``, then answers every ``s`` line on stdin with one sample (nanoseconds) on stdout, until
``q`` or EOF. A sample, the same for every contender:

1. send the same five 100 ms chunks (each client encodes them its own way);
2. settle: read and discard events until none has arrived for ``quiet`` seconds, so nothing
   left over from the audio (partials, the mock's post-commit partial) is pending;
3. start the clock, commit, stop it when the ``committed_transcript`` reaches user code.

Contenders: ``raw`` (websocket-client, one thread: ``send`` then ``recv`` until the commit),
``threaded`` (the 20-line design: a reader thread feeding a ``queue.Queue``; the baseline of the
paired medians), ``wssync`` (``websockets.sync.client`` with its defaults, as a new user writes
it: ``send``, then a loop over ``recv()``), ``iterator`` (``for event in session``),
``callbacks`` (``session.on``), ``sdk`` (the official async SDK).
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

from ._common import API_KEY, CHUNK_BYTES, QUERY, frame, pcm_speech

__all__ = ["CHUNKS", "CLIENTS", "connect_raw", "main", "threaded"]

CLIENTS = ("raw", "threaded", "wssync", "iterator", "callbacks", "sdk")
CHUNKS = [pcm_speech(0.5)[i : i + CHUNK_BYTES] for i in range(0, 5 * CHUNK_BYTES, CHUNK_BYTES)]
Sampler = Callable[[], int]


def _commands() -> Any:
    """stdin lines until ``q`` or EOF."""
    for line in sys.stdin:
        if line.strip() == "q":
            return
        yield line


def _answer(value: int) -> None:
    sys.stdout.write(f"{value}\n")
    sys.stdout.flush()


def connect_raw(url: str) -> Any:
    """A websocket-client connection to the server at ``url``, past ``session_started``."""
    import websocket

    ws = websocket.create_connection(url.replace("http", "ws", 1) + QUERY,
                                     header=[f"xi-api-key: {API_KEY}"],
                                     skip_utf8_validation=True)
    ws.recv()  # session_started
    return ws


def raw(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    ws = connect_raw(url)
    sock = ws.sock
    commit = frame(b"", commit=True)

    def sample() -> int:
        for chunk in CHUNKS:
            ws.send(frame(chunk))
        while select.select([sock], [], [], quiet)[0]:
            ws.recv()
        t0 = time.monotonic_ns()
        ws.send(commit)
        while json.loads(ws.recv())["message_type"] != "committed_transcript":
            pass
        return time.monotonic_ns() - t0

    return sample, ws.close


def threaded(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    """The plain threaded design a user might write in twenty lines."""
    import websocket

    ws = connect_raw(url)
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
    commit = frame(b"", commit=True)

    def sample() -> int:
        for chunk in CHUNKS:
            ws.send(frame(chunk))
        try:
            while True:
                events.get(timeout=quiet)
        except queue.Empty:
            pass
        t0 = time.monotonic_ns()
        ws.send(commit)
        while True:
            event = events.get()
            if event is None or event["message_type"] == "committed_transcript":
                break
        return time.monotonic_ns() - t0

    def close() -> None:
        ws.close()
        thread.join()

    return sample, close


def wssync(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    """``websockets.sync.client`` as its documentation shows it: defaults, ``recv()`` in a loop
    (its own background thread reads the socket into an assembler, as scribe-sync's does)."""
    from websockets.sync.client import connect

    # legacy=True: websockets' documented way to keep a connection open past a `with` block
    ws = connect(url.replace("http", "ws", 1) + QUERY, additional_headers={"xi-api-key": API_KEY},
                 legacy=True)
    ws.recv()  # session_started
    commit = frame(b"", commit=True)

    def sample() -> int:
        for chunk in CHUNKS:
            ws.send(frame(chunk))
        try:
            while True:
                ws.recv(timeout=quiet)
        except TimeoutError:
            pass
        t0 = time.monotonic_ns()
        ws.send(commit)
        while json.loads(ws.recv())["message_type"] != "committed_transcript":
            pass
        return time.monotonic_ns() - t0

    return sample, ws.close


def iterator(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    from scribe_sync import CommittedTranscript, ScribeClient

    session = ScribeClient(API_KEY, base_url=url).connect(audio_format="pcm_16000")

    def sample() -> int:
        for chunk in CHUNKS:
            session.send_audio(chunk)
        try:
            while True:
                session.recv(timeout=quiet)
        except TimeoutError:
            pass
        t0 = time.monotonic_ns()
        session.commit()
        for event in session:
            if isinstance(event, CommittedTranscript):
                break
        return time.monotonic_ns() - t0

    return sample, session.close


def callbacks(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    from scribe_sync import CommittedTranscript, Event, ScribeClient

    session = ScribeClient(API_KEY, base_url=url).connect(audio_format="pcm_16000")
    arrived = threading.Condition()  # guards seen and done_at
    seen = 0
    done_at: list[int] = []

    def on_event(event: Event) -> None:
        nonlocal seen
        now = time.monotonic_ns()
        with arrived:
            seen += 1
            if isinstance(event, CommittedTranscript):
                done_at.append(now)
            arrived.notify_all()

    session.on(Event, on_event)

    def sample() -> int:
        for chunk in CHUNKS:
            session.send_audio(chunk)
        with arrived:
            while True:
                before = seen
                arrived.wait(quiet)
                if seen == before:
                    break
            done_at.clear()
        t0 = time.monotonic_ns()
        session.commit()
        with arrived:
            arrived.wait_for(lambda: bool(done_at), timeout=30)
            return done_at[0] - t0

    return sample, session.close


SYNC: dict[str, Callable[[str, float], tuple[Sampler, Callable[[], None]]]] = {
    "raw": raw, "threaded": threaded, "wssync": wssync, "iterator": iterator,
    "callbacks": callbacks,
}


async def sdk(url: str, quiet: float) -> None:
    """The official async SDK, its event callbacks, commands read on the same event loop."""
    from elevenlabs import AsyncElevenLabs
    from elevenlabs.realtime import AudioFormat, RealtimeEvents

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    client = AsyncElevenLabs(api_key=API_KEY, base_url=url)
    conn = await client.speech_to_text.realtime.connect(
        {"model_id": "scribe_v2_realtime", "audio_format": AudioFormat.PCM_16000,
         "sample_rate": 16000}
    )
    arrived = asyncio.Event()
    committed = asyncio.Event()
    done_at: list[int] = []

    def on_partial(data: dict[str, Any]) -> None:
        arrived.set()

    def on_committed(data: dict[str, Any]) -> None:
        done_at.append(time.monotonic_ns())
        arrived.set()
        committed.set()

    conn.on(RealtimeEvents.PARTIAL_TRANSCRIPT, on_partial)
    conn.on(RealtimeEvents.COMMITTED_TRANSCRIPT, on_committed)
    _answer(0)  # ready
    while (await stdin.readline()).strip() not in (b"q", b""):
        for chunk in CHUNKS:
            await conn.send({"audio_base_64": base64.b64encode(chunk).decode()})
        while True:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), quiet)
            except TimeoutError:
                break
        done_at.clear()
        committed.clear()
        t0 = time.monotonic_ns()
        await conn.commit()
        await asyncio.wait_for(committed.wait(), 30)
        _answer(done_at[0] - t0)
    await conn.close()


def main() -> None:
    args: dict[str, Any] = json.loads(sys.argv[1])
    name, url, quiet = args["client"], args["url"], float(args["quiet"])
    if name == "sdk":
        asyncio.run(sdk(url, quiet))
        return
    sample, close = SYNC[name](url, quiet)
    _answer(0)  # ready
    try:
        for _ in _commands():
            _answer(sample())
    finally:
        close()


if __name__ == "__main__":
    main()
