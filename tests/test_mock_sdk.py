"""Conformance: the official elevenlabs SDK, unchanged, against the mock."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
import soundfile
from elevenlabs import ElevenLabs
from elevenlabs.realtime import AudioFormat, CommitStrategy, RealtimeEvents

from mock_server import MockServer
from mock_server.testing import silence, speech

TIMEOUT = 10.0


class Recorder:
    """Collects SDK events and lets a coroutine wait for one."""

    def __init__(self, connection: Any) -> None:
        self.events: list[tuple[str, Any]] = []
        self.closed = asyncio.Event()
        self.close_info: Any = None
        self._changed = asyncio.Event()
        for event in RealtimeEvents:
            if event is RealtimeEvents.CLOSE:
                continue
            connection.on(event, self._make(event.value))
        connection.on(RealtimeEvents.CLOSE, self._on_close)

    def _make(self, name: str) -> Any:
        def handler(*args: Any) -> None:
            self.events.append((name, args[0] if args else None))
            self._changed.set()

        return handler

    def _on_close(self, info: Any) -> None:
        self.close_info = info
        self.closed.set()
        self._changed.set()

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def wait_for(self, name: str, count: int = 1) -> list[Any]:
        async def loop() -> list[Any]:
            while len(self.of(name)) < count:
                if self.closed.is_set():
                    raise AssertionError(f"closed before {name}: {self.events}")
                self._changed.clear()
                await self._changed.wait()
            return self.of(name)

        return await asyncio.wait_for(loop(), TIMEOUT)


def _options(**extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "model_id": "scribe_v2_realtime",
        "audio_format": AudioFormat.PCM_16000,
        "sample_rate": 16000,
        "commit_strategy": CommitStrategy.MANUAL,
    }
    options.update(extra)
    return options


async def _send(connection: Any, audio: bytes, size: int = 3200) -> None:
    for start in range(0, len(audio), size):
        piece = base64.b64encode(audio[start : start + size]).decode()
        await connection.send({"audio_base_64": piece})


@pytest.fixture
def server() -> Any:
    with MockServer(api_keys=["sdk-key"], idle_timeout_secs=None) as mock:
        yield mock


def test_sdk_streams_partials_and_commits_with_timestamps(server: MockServer) -> None:
    """The SDK connects, gets partials after the warm-up, and a timestamped commit."""

    async def scenario() -> None:
        client = ElevenLabs(api_key="sdk-key", base_url=server.base_url)
        connection = await client.speech_to_text.realtime.connect(
            _options(include_timestamps=True)
        )
        recorder = Recorder(connection)
        started = await recorder.wait_for("session_started")
        assert started[0]["config"]["include_timestamps"] is True
        await _send(connection, speech(3.0, seed=3) + silence(0.3))
        partials = await recorder.wait_for("partial_transcript")
        await connection.commit()
        committed = await recorder.wait_for("committed_transcript")
        stamped = await recorder.wait_for("committed_transcript_with_timestamps")
        assert partials[0]["text"]
        assert committed[0]["text"] == stamped[0]["text"]
        words = [w for w in stamped[0]["words"] if w["type"] == "word"]
        assert " ".join(w["text"] for w in words) == committed[0]["text"]
        assert words[0]["start"] == 0.0
        await connection.close()

    asyncio.run(scenario())
    record = server.wait_idle()[0]
    assert record.audio_bytes == 3.3 * 32000
    assert record.close_code == 1000
    assert record.close_reason == "User ended conversation"


def test_sdk_single_use_token_then_reuse_is_auth_error(server: MockServer) -> None:
    """A minted token connects once; its reuse gets auth_error and close 1000."""

    async def scenario() -> None:
        client = ElevenLabs(api_key="sdk-key", base_url=server.base_url)
        token = client.tokens.single_use.create("realtime_scribe").token
        assert token.startswith("sutkn_")
        browser = ElevenLabs(api_key="", base_url=server.base_url)
        first = await browser.speech_to_text.realtime.connect(_options(token=token))
        recorder = Recorder(first)
        await recorder.wait_for("session_started")
        await first.close()
        second = await browser.speech_to_text.realtime.connect(_options(token=token))
        again = Recorder(second)
        errors = await again.wait_for("auth_error")
        assert errors[0]["error"] == "You must be authenticated to use this endpoint."
        await asyncio.wait_for(again.closed.wait(), TIMEOUT)
        assert again.close_info["code"] == 1000
        assert again.of("error")  # the SDK re-emits it as a generic error

    asyncio.run(scenario())
    records = server.wait_idle(count=2)
    assert records[0].query["token"] == ["<redacted>"]


def test_sdk_bad_key_is_auth_error(server: MockServer) -> None:
    """A wrong key gets auth_error after the socket opened."""

    async def scenario() -> None:
        client = ElevenLabs(api_key="wrong", base_url=server.base_url)
        connection = await client.speech_to_text.realtime.connect(_options())
        recorder = Recorder(connection)
        await recorder.wait_for("auth_error")
        await asyncio.wait_for(recorder.closed.wait(), TIMEOUT)
        assert not recorder.of("session_started")

    asyncio.run(scenario())


def test_sdk_invalid_model_gets_invalid_request_1008(server: MockServer) -> None:
    """An invalid model_id: invalid_request with the live text, close 1008."""

    async def scenario() -> None:
        client = ElevenLabs(api_key="sdk-key", base_url=server.base_url)
        connection = await client.speech_to_text.realtime.connect(
            _options(model_id="scribe_realtime_v2")
        )
        recorder = Recorder(connection)
        errors = await recorder.wait_for("invalid_request")
        assert errors[0]["error"].startswith("The model_id 'scribe_realtime_v2' is invalid.")
        await asyncio.wait_for(recorder.closed.wait(), TIMEOUT)
        assert recorder.close_info == {"code": 1008, "reason": "invalid_request"}

    asyncio.run(scenario())


def test_sdk_too_early_commit_is_throttled(server: MockServer) -> None:
    """A commit after 0.1 s of audio gets commit_throttled."""

    async def scenario() -> None:
        client = ElevenLabs(api_key="sdk-key", base_url=server.base_url)
        connection = await client.speech_to_text.realtime.connect(_options())
        recorder = Recorder(connection)
        await recorder.wait_for("session_started")
        await _send(connection, speech(0.1))
        await connection.commit()
        errors = await recorder.wait_for("commit_throttled")
        assert errors[0]["error"] == (
            "Commit request ignored: only 0.10s of uncommitted audio. "
            "You need at least 0.3s of uncommitted audio before committing."
        )
        await asyncio.wait_for(recorder.closed.wait(), TIMEOUT)

    asyncio.run(scenario())


def test_sdk_gets_the_whole_scripted_sentence_from_a_recording_of_it() -> None:
    """A 3 s recording of a 10-word sentence (180 words a minute) comes back whole."""
    data = Path(__file__).resolve().parent / "data"
    audio = soundfile.read(data / "sentence.flac", dtype="int16")[0].tobytes()
    sentence = (data / "sentence.txt").read_text(encoding="utf-8").strip()

    async def scenario(mock: MockServer) -> None:
        client = ElevenLabs(api_key="sdk-key", base_url=mock.base_url)
        connection = await client.speech_to_text.realtime.connect(
            _options(include_timestamps=True)
        )
        recorder = Recorder(connection)
        await recorder.wait_for("session_started")
        await _send(connection, audio)
        await connection.commit()
        committed = await recorder.wait_for("committed_transcript")
        stamped = await recorder.wait_for("committed_transcript_with_timestamps")
        assert committed[0]["text"] == sentence
        words = [w["text"] for w in stamped[0]["words"] if w["type"] == "word"]
        assert words == sentence.split()
        await connection.close()

    with MockServer(api_keys=["sdk-key"], transcript=sentence) as mock:
        asyncio.run(scenario(mock))
