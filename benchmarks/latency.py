"""Benchmark 1: event delivery latency, server send -> user code.

The mock (in its own process) stamps every frame with ``_mock_sent_ns`` (CLOCK_MONOTONIC) just
before writing it, and with ``bench_stream_count`` sends a steady stream of
``partial_transcript`` frames whatever the audio. Four clients take turns on the same stream, in
interleaved rounds (the order rotates every round):

- ``raw``: the floor, a minimal websocket-client loop (``ws.recv()``, ``json.loads``);
- ``sdk``: the official ``elevenlabs`` async SDK, a ``RealtimeEvents.PARTIAL_TRANSCRIPT``
  callback;
- ``iterator``: ``for event in session``;
- ``callbacks``: ``session.on(PartialTranscript, cb)``.

Each records ``time.monotonic_ns()`` the moment user code holds the event. Typed events do not
carry the stamp, so every client records ``(time, text)`` and the stamps are joined afterwards
from the mock's journal by the text (``"tick <n> ..."``, unique within a session).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

from ._common import API_KEY, MockProcess, fetch_sessions, machine, summarize

__all__ = ["CLIENTS", "run"]

CLIENTS = ("raw", "sdk", "iterator", "callbacks")
QUERY = "?model_id=scribe_v2_realtime&audio_format=pcm_16000"
WARMUP = 10  # first samples of every run dropped (connection warm-up, lazy imports)

Samples = list[tuple[int, str]]

MODES: dict[str, dict[str, Any]] = {
    "quick": {"rounds": 1, "messages": 60, "interval": 0.003},
    "full": {"rounds": 8, "messages": 400, "interval": 0.005},
}


def raw_client(server: MockProcess, want: int, timeout: float) -> Samples:
    """The floor: websocket-client, one thread, ``recv`` then ``json.loads``."""
    import websocket

    ws = websocket.create_connection(
        server.ws_url + QUERY, header=[f"xi-api-key: {API_KEY}"], timeout=timeout,
        skip_utf8_validation=True,
    )
    got: Samples = []
    try:
        while len(got) < want:
            obj = json.loads(ws.recv())
            t = time.monotonic_ns()
            if obj["message_type"] == "partial_transcript":
                got.append((t, obj["text"]))
    finally:
        ws.close()
    return got


def sdk_client(server: MockProcess, want: int, timeout: float) -> Samples:
    """The official async SDK: a partial-transcript callback on its message task."""
    from elevenlabs import AsyncElevenLabs
    from elevenlabs.realtime import AudioFormat, RealtimeEvents

    got: Samples = []

    async def main() -> None:
        done = asyncio.Event()

        def on_partial(data: dict[str, Any]) -> None:
            got.append((time.monotonic_ns(), data["text"]))
            if len(got) >= want:
                done.set()

        client = AsyncElevenLabs(api_key=API_KEY, base_url=server.base_url)
        conn = await client.speech_to_text.realtime.connect(
            {"model_id": "scribe_v2_realtime", "audio_format": AudioFormat.PCM_16000,
             "sample_rate": 16000}
        )
        conn.on(RealtimeEvents.PARTIAL_TRANSCRIPT, on_partial)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        finally:
            await conn.close()

    asyncio.run(main())
    return got


def iterator_client(server: MockProcess, want: int, timeout: float) -> Samples:
    """scribe-sync: ``for event in session``."""
    from scribe_sync import PartialTranscript, ScribeClient

    got: Samples = []
    session = ScribeClient(API_KEY, base_url=server.base_url).connect(audio_format="pcm_16000")
    try:
        for event in session:
            t = time.monotonic_ns()
            if isinstance(event, PartialTranscript):
                got.append((t, event.text))
                if len(got) >= want:
                    break
    finally:
        session.close()
    return got


def callbacks_client(server: MockProcess, want: int, timeout: float) -> Samples:
    """scribe-sync: ``session.on(PartialTranscript, callback)`` (dispatcher thread)."""
    from scribe_sync import PartialTranscript, ScribeClient

    got: Samples = []
    done = threading.Event()

    def on_partial(event: PartialTranscript) -> None:
        got.append((time.monotonic_ns(), event.text))
        if len(got) >= want:
            done.set()

    session = ScribeClient(API_KEY, base_url=server.base_url).connect(audio_format="pcm_16000")
    try:
        session.on(PartialTranscript, on_partial)
        if not done.wait(timeout):
            raise TimeoutError(f"callbacks: {len(got)} of {want} events in {timeout:g} s")
    finally:
        session.close()
    return list(got[:want])


RUNNERS: dict[str, Callable[[MockProcess, int, float], Samples]] = {
    "raw": raw_client,
    "sdk": sdk_client,
    "iterator": iterator_client,
    "callbacks": callbacks_client,
}


def _stamps(server: MockProcess) -> dict[str, int]:
    """text -> _mock_sent_ns of the latest session's stream; then forget the journal."""
    sessions = fetch_sessions(server.base_url)
    request = urllib.request.Request(server.base_url + "/_mock/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    latest = max(sessions, key=lambda s: s["index"])
    return {
        f["data"]["text"]: f["data"]["_mock_sent_ns"]
        for f in latest["frames"]
        if f["direction"] == "out" and f["message_type"] == "partial_transcript"
    }


def run(mode: str = "quick") -> dict[str, Any]:
    """Run the benchmark; returns per-client percentiles (µs) and ratios to the raw floor."""
    params = MODES[mode]
    want = params["messages"] + WARMUP
    timeout = 30.0 + want * params["interval"] * 4
    per_client: dict[str, list[int]] = {name: [] for name in CLIENTS}
    order = list(CLIENTS)
    with MockProcess(
        bench_stream_count=want + 20, bench_stream_interval_secs=params["interval"],
        idle_timeout_secs=None,
    ) as server:
        for _ in range(params["rounds"]):
            for name in order:
                samples = RUNNERS[name](server, want, timeout)
                stamps = _stamps(server)
                per_client[name].extend(t - stamps[text] for t, text in samples[WARMUP:want])
            order = order[1:] + order[:1]
    results: dict[str, Any] = {}
    floor = summarize(per_client["raw"])
    for name in CLIENTS:
        stats = summarize(per_client[name])
        stats["ratio_p50"] = stats["p50"] / floor["p50"]
        stats["ratio_p90"] = stats["p90"] / floor["p90"]
        stats["ratio_p99"] = stats["p99"] / floor["p99"]
        results[name] = stats
    return {
        "params": params,
        "clients": results,
        "samples_us": {
            name: np.round(np.asarray(v, dtype=np.float64) / 1000.0, 1).tolist()
            for name, v in per_client.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    args = parser.parse_args()
    result = run("full" if args.full else "quick")
    result.pop("samples_us")
    print(json.dumps({"machine": machine(), "latency": result}, indent=2))


if __name__ == "__main__":
    main()
