"""Session.stream and transcribe() against the mock server."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

import scribe_sync
from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync import ConfigError, ScribeClient, Transcript
from scribe_sync.audio import AudioSourceError, FileSource, sample_path, sample_transcript

KEY = "stream-test-key"


def test_stream_sends_every_byte_and_finishes() -> None:
    """stream() sends the whole source, commits on schedule, and finish() ends iteration."""
    audio = speech(3.0, seed=4) + silence(0.5)
    chunks = [audio[i : i + 3200] for i in range(0, len(audio), 3200)]
    with MockServer(transcript="one two three four five six seven") as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        handle = session.stream(iter(chunks), speed=None, commit_every=None)
        events = list(session)
        assert handle.join(5)
        assert handle.error is None
        assert session.transcript == "one two three four five six seven"
        assert events
        record = server.wait_idle()[0]
        assert record.audio_sha256 == hashlib.sha256(audio).hexdigest()


def test_stream_commits_on_schedule_at_quiet_chunks() -> None:
    """With commit_every, commits fall at quiet chunks after the interval."""
    audio = (speech(1.0, seed=1) + silence(0.4)) * 3
    chunks = [audio[i : i + 3200] for i in range(0, len(audio), 3200)]
    with MockServer() as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        session.stream(iter(chunks), speed=None, commit_every=1.0)
        list(session)
        record = server.wait_idle()[0]
    offsets, sent = [], 0
    for frame in record.received("input_audio_chunk"):
        sent += int(frame["audio_base_64"].strip("<> bytes") or 0)
        if frame["commit"]:
            offsets.append(round(sent / 32000, 2))
    # Each 1.4 s period is 1 s of speech then 0.4 s of silence: after 1 s of audio since the
    # last commit, the next quiet chunk commits. The last commit is finish()'s.
    assert offsets == [1.1, 2.5, 3.9, 4.2]
    assert "commit_throttled" not in record.errors


def test_stream_stops_promptly_when_the_session_closes() -> None:
    """Closing the session interrupts a paced stream and joins its thread."""
    def endless() -> Iterator[bytes]:
        while True:
            yield silence(0.1)

    with MockServer() as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        handle = session.stream(endless(), speed=1.0)
        assert handle.running
        session.close()
        assert handle.join(5)


def test_source_failure_ends_the_session_with_that_error() -> None:
    """If the source raises, the session closes and iterators raise the source's error."""
    def broken() -> Iterator[bytes]:
        yield silence(0.1)
        raise AudioSourceError("mic", "device unplugged")

    with MockServer() as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        handle = session.stream(broken(), speed=None)
        with pytest.raises(AudioSourceError, match="unplugged"):
            list(session)
        assert handle.join(5)
        assert isinstance(handle.error, AudioSourceError)


def test_stream_refuses_a_source_in_another_format(tmp_path: Path) -> None:
    """A source opened at another rate is refused before anything is sent."""
    path = tmp_path / "a.wav"
    soundfile.write(path, np.zeros(800, dtype=np.int16), 8000)
    with MockServer() as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        with FileSource(path, format="pcm_8000") as source, pytest.raises(ConfigError,
                                                                          match="audio_format"):
            session.stream(source)
        session.close()


def test_transcribe_the_bundled_sample_with_timestamps(tmp_path: Path) -> None:
    """transcribe() returns a Transcript whose text is the mock's, with SRT-ready timings."""
    text = sample_transcript()
    with MockServer(transcript=text) as server:
        result = scribe_sync.transcribe(
            sample_path(), api_key=KEY, base_url=server.base_url, include_timestamps=True,
            speed=None,
        )
    assert isinstance(result, Transcript)
    spoken = result.text.split()
    assert spoken == text.split()[: len(spoken)]
    assert len(spoken) >= 10
    srt = result.to_srt()
    assert srt.startswith("1\n00:00:0")
    assert result.words[0].start is not None


def test_transcribe_reports_a_missing_file_before_connecting() -> None:
    """A missing file is an AudioSourceError naming it; no session is opened."""
    with MockServer() as server:
        with pytest.raises(AudioSourceError, match=r"no-such\.wav"):
            scribe_sync.transcribe("no-such.wav", api_key=KEY, base_url=server.base_url)
        assert server.sessions() == []


def test_on_event_sees_every_event_on_the_calling_thread() -> None:
    """on_event runs on the caller's thread for each event."""
    seen: list[str] = []
    caller = threading.current_thread()
    with MockServer(transcript="hi there") as server:
        scribe_sync.transcribe(
            iter([speech(1.0), silence(0.4)]), api_key=KEY, base_url=server.base_url,
            speed=None,
            on_event=lambda e: seen.append(
                type(e).__name__ if threading.current_thread() is caller else "WRONG-THREAD"
            ),
        )
    assert "CommittedTranscript" in seen
    assert "WRONG-THREAD" not in seen
