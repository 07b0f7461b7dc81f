"""Benchmark 2: round trips seen by user code.

- ``commit``: ``commit()`` called -> ``CommittedTranscript`` in user code, one utterance
  (0.5 s of speech sent unpaced) at a time, for scribe-sync's iterator, the raw
  websocket-client floor and the official async SDK (callback).
- ``vad``: time to final with ``commit_strategy="vad"`` (pipecat's TTFS): audio paced at real
  time in 100 ms chunks, speech then silence; final arrival in a callback minus the end of speech
  (when the chunk holding its last sample was sent, as a live capture would send it). Several
  sessions run at once so that at least 100 utterances fit in a short run. The mock commits
  after ``vad_silence_threshold_secs`` of silence, so that threshold is the floor of this figure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import threading
import time
from typing import Any

from ._common import API_KEY, CHUNK_BYTES, CHUNK_SECS, MockProcess, machine, pcm_speech, summarize

__all__ = ["run"]

MODES: dict[str, dict[str, Any]] = {
    "quick": {"commits": 10, "vad_sessions": 1, "vad_utterances": 2, "speech": 0.5,
              "silence": 0.5},
    "full": {"commits": 200, "vad_sessions": 10, "vad_utterances": 12, "speech": 0.8,
             "silence": 0.8},
}
UTTERANCE_SECS = 0.5
VAD_THRESHOLD = 0.3  # the smallest the service accepts
QUERY = "?model_id=scribe_v2_realtime&audio_format=pcm_16000"


def _chunks(audio: bytes) -> list[bytes]:
    return [audio[i : i + CHUNK_BYTES] for i in range(0, len(audio), CHUNK_BYTES)]


def _frame(audio: bytes, commit: bool = False) -> str:
    return json.dumps({"message_type": "input_audio_chunk",
                       "audio_base_64": base64.b64encode(audio).decode(), "commit": commit,
                       "sample_rate": 16000})


def commit_ours(server: MockProcess, n: int) -> list[int]:
    from scribe_sync import CommittedTranscript, ScribeClient

    chunks = _chunks(pcm_speech(UTTERANCE_SECS))
    out: list[int] = []
    session = ScribeClient(API_KEY, base_url=server.base_url).connect(audio_format="pcm_16000")
    try:
        for _ in range(n):
            for chunk in chunks:
                session.send_audio(chunk)
            t0 = time.monotonic_ns()
            session.commit()
            for event in session:
                if isinstance(event, CommittedTranscript):
                    out.append(time.monotonic_ns() - t0)
                    break
    finally:
        session.close()
    return out


def commit_raw(server: MockProcess, n: int) -> list[int]:
    import websocket

    frames = [_frame(c) for c in _chunks(pcm_speech(UTTERANCE_SECS))]
    commit = _frame(b"", commit=True)
    ws = websocket.create_connection(server.ws_url + QUERY, header=[f"xi-api-key: {API_KEY}"],
                                     skip_utf8_validation=True)
    out: list[int] = []
    try:
        ws.recv()  # session_started
        for _ in range(n):
            for frame in frames:
                ws.send(frame)
            t0 = time.monotonic_ns()
            ws.send(commit)
            while json.loads(ws.recv())["message_type"] != "committed_transcript":
                pass
            out.append(time.monotonic_ns() - t0)
    finally:
        ws.close()
    return out


def commit_sdk(server: MockProcess, n: int) -> list[int]:
    from elevenlabs import AsyncElevenLabs
    from elevenlabs.realtime import AudioFormat, RealtimeEvents

    encoded = [base64.b64encode(c).decode() for c in _chunks(pcm_speech(UTTERANCE_SECS))]
    out: list[int] = []

    async def main() -> None:
        client = AsyncElevenLabs(api_key=API_KEY, base_url=server.base_url)
        conn = await client.speech_to_text.realtime.connect(
            {"model_id": "scribe_v2_realtime", "audio_format": AudioFormat.PCM_16000,
             "sample_rate": 16000}
        )
        arrived = asyncio.Event()
        times: list[int] = []

        def on_committed(data: dict[str, Any]) -> None:
            times.append(time.monotonic_ns())
            arrived.set()

        conn.on(RealtimeEvents.COMMITTED_TRANSCRIPT, on_committed)
        try:
            for _ in range(n):
                for chunk in encoded:
                    await conn.send({"audio_base_64": chunk})
                arrived.clear()
                t0 = time.monotonic_ns()
                await conn.commit()
                await asyncio.wait_for(arrived.wait(), 10)
                out.append(times[-1] - t0)
        finally:
            await conn.close()

    asyncio.run(main())
    return out


def vad_ours(server: MockProcess, sessions: int, utterances: int, speech: float,
             silence: float) -> tuple[list[int], int]:
    """TTFS samples (ns) and the number of utterances whose final never came."""
    from scribe_sync import CommittedTranscript, ScribeClient

    client = ScribeClient(API_KEY, base_url=server.base_url)
    samples: list[int] = []
    missing = 0
    lock = threading.Lock()  # guards samples and missing

    def one(index: int) -> None:
        nonlocal missing
        speech_chunks = _chunks(pcm_speech(speech, seed=index))
        silence_chunks = _chunks(b"\x00" * int(silence * 32000))
        finals: list[int] = []
        got = threading.Condition()
        session = client.connect(audio_format="pcm_16000", commit_strategy="vad",
                                 vad_silence_threshold_secs=VAD_THRESHOLD)

        def on_final(event: CommittedTranscript) -> None:
            with got:
                finals.append(time.monotonic_ns())
                got.notify_all()

        session.on(CommittedTranscript, on_final)
        ends: list[int] = []
        start = time.monotonic() + 0.05 * index  # spread the sessions' chunk times
        k = 0
        try:
            for _ in range(utterances):
                for part, chunks in (("speech", speech_chunks), ("silence", silence_chunks)):
                    for chunk in chunks:
                        k += 1
                        # a live source sends a chunk once it has been captured
                        delay = start + k * CHUNK_SECS - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        session.send_audio(chunk)
                    if part == "speech":
                        ends.append(time.monotonic_ns())
            with got:
                got.wait_for(lambda: len(finals) >= utterances, timeout=5.0)
                arrived = list(finals)
        finally:
            session.close()
        with lock:
            samples.extend(f - e for e, f in zip(ends, arrived, strict=False))
            missing += max(0, utterances - len(arrived))

    threads = [threading.Thread(target=one, args=(i,), name=f"bench-vad-{i}")
               for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, missing


def run(mode: str = "quick") -> dict[str, Any]:
    """Commit round trips per client and VAD time to final (µs)."""
    params = MODES[mode]
    pcts = (50, 90, 95, 99)
    results: dict[str, Any] = {"params": params, "commit": {}}
    with MockProcess(idle_timeout_secs=None, journal_frames=False) as server:
        runners = {"raw": commit_raw, "sdk": commit_sdk, "iterator": commit_ours}
        samples: dict[str, list[int]] = {name: [] for name in runners}
        for _ in range(2):  # two interleaved halves
            for name, fn in runners.items():
                samples[name].extend(fn(server, params["commits"] // 2))
        floor = summarize(samples["raw"], pcts=pcts)
        for name, values in samples.items():
            stats = summarize(values, pcts=pcts)
            stats["ratio_p50"] = stats["p50"] / floor["p50"]
            stats["ratio_p99"] = stats["p99"] / floor["p99"]
            results["commit"][name] = stats
        vad, missing = vad_ours(server, params["vad_sessions"], params["vad_utterances"],
                                params["speech"], params["silence"])
        stats = summarize(vad, pcts=pcts)
        stats["missing"] = missing
        stats["vad_silence_threshold_us"] = VAD_THRESHOLD * 1e6
        results["vad_time_to_final"] = stats
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run (default: quick)")
    args = parser.parse_args()
    print(json.dumps({"machine": machine(), "roundtrip": run("full" if args.full else "quick")},
                     indent=2))


if __name__ == "__main__":
    main()
