"""Clients that drive one scripted session and report what they saw, for the cassette tests.

Each driver sends the segments one at a time (audio, then a commit), and after each commit
reads until that commit's answers arrived, so that every event it reports carries the number
of commits sent before it was read: the order relative to the client's commits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from elevenlabs import ElevenLabs
from elevenlabs.realtime import AudioFormat, CommitStrategy, RealtimeEvents

import scribe_sync
from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync import SessionEnded
from scribe_sync.messages import ErrorEvent, Event

KEY = "recording-key-0123456789"
TIMEOUT = 10.0
#: Three utterances for the scripted upstream, and the audio that says them.
SCRIPT = ["hello there", "the quick brown fox", "goodbye now"]
DIARIZED_SCRIPT = ["S1: hello there", "S2: bonjour tout le monde", "S1: goodbye"]


def segments(count: int = 3, seed: int = 0) -> list[bytes]:
    """Speech and a short pause per segment (a bit more speech than each scripted line)."""
    return [speech(1.2 + 0.4 * k, seed=seed + k) + silence(0.2) for k in range(count)]


@contextlib.contextmanager
def upstream(**settings: Any) -> Iterator[MockServer]:
    """The service stand-in: a mock with live timing that accepts only :data:`KEY`."""
    options: dict[str, Any] = {"api_keys": [KEY], "timing": "live", "transcript": SCRIPT,
                               "idle_timeout_secs": None}
    options.update(settings)
    with MockServer(**options) as server:
        yield server


Seen = list[tuple[int, str, str]]


def _text(event: Event) -> str:
    if isinstance(event, ErrorEvent):
        return event.message
    return str(getattr(event, "text", ""))


def scribe_sync_run(base_url: str, key: str, parts: Sequence[bytes], **options: Any) -> Seen:
    """scribe_sync: (commits sent, message type, text) of every event, in arrival order.

    An error ending the session ends the run: what was seen so far is returned, the error
    last."""
    seen: Seen = []
    answers = {"committed_transcript"}
    if options.get("include_timestamps"):
        answers.add("committed_transcript_with_timestamps")
    if options.get("diarize"):
        answers.add("diarized_transcript")
    client = scribe_sync.ScribeClient(key, base_url=base_url)
    session = client.connect(**options)
    try:
        for commits, audio in enumerate(parts, start=1):
            session.send_audio(audio)
            session.commit()
            wanted = set(answers)
            while wanted:
                event = session.recv(TIMEOUT)
                if event is None or isinstance(event, SessionEnded):
                    return seen
                kind = getattr(event, "message_type", type(event).__name__)
                seen.append((commits, kind, _text(event)))
                wanted.discard(kind)
    except scribe_sync.ScribeError as exc:
        seen.append((-1, type(exc).__name__, ""))
    finally:
        session.close()
    return seen


def sdk_run(base_url: str, key: str, parts: Sequence[bytes], **options: Any) -> Seen:
    """The official SDK (2.78): the same report as :func:`scribe_sync_run`."""

    async def run() -> Seen:
        seen: Seen = []
        changed = asyncio.Event()
        commits = 0
        closed = asyncio.Event()
        client = ElevenLabs(api_key=key, base_url=base_url)
        params: dict[str, Any] = {"model_id": "scribe_v2_realtime",
                                  "audio_format": AudioFormat.PCM_16000, "sample_rate": 16000,
                                  "commit_strategy": CommitStrategy.MANUAL}
        params.update(options)
        connection = await client.speech_to_text.realtime.connect(params)

        def handler(name: str) -> Any:
            def on(*args: Any) -> None:
                data = args[0] if args else {}
                if name == "close":
                    closed.set()
                elif name != "open":
                    text = data.get("text", data.get("error", "")) if isinstance(data, dict) \
                        else ""
                    seen.append((commits, name, str(text)))
                changed.set()
            return on

        for event in RealtimeEvents:
            connection.on(event, handler(event.value))

        async def until(count: int) -> None:
            while sum(1 for _, kind, _ in seen if kind == "committed_transcript") < count:
                if closed.is_set():
                    return
                changed.clear()
                await changed.wait()

        for audio in parts:
            for start in range(0, len(audio), 3200):
                piece = base64.b64encode(audio[start:start + 3200]).decode()
                await connection.send({"audio_base_64": piece})
            await connection.commit()
            commits += 1
            await asyncio.wait_for(until(commits), TIMEOUT)
            if closed.is_set():
                break
        await connection.close()
        return seen

    return asyncio.run(run())


def types(seen: Seen) -> list[tuple[int, str, str]]:
    """What must match between a recording and its replay: everything but partials' texts
    (the count of partials depends on how fast the client sent, not on the service)."""
    return [(c, k, t) for c, k, t in seen if k != "partial_transcript"]
