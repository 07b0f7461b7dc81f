"""Session.stream against bad arguments and sources that fail midway."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile

import scribe_sync
from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync import (
    CommittedTranscript,
    ConfigError,
    ConnectionClosedError,
    ScribeClient,
    Transcript,
)
from scribe_sync.audio import AudioSourceError

KEY = "stream-hostile-key"


@pytest.mark.parametrize("bad", ["x", True, float("nan"), float("inf"), 0.5, b"20"])
def test_a_bad_commit_every_is_a_config_error_before_anything_is_sent(bad: object) -> None:
    with MockServer() as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        try:
            with pytest.raises(ConfigError, match=r"commit_every.*at least 1, or None") as info:
                session.stream(iter([silence(0.1)]), speed=None,
                               commit_every=bad)  # type: ignore[arg-type]
            assert info.value.option == "commit_every"
            assert session.stats.audio_seconds_sent == 0
        finally:
            session.close()
        assert server.wait_idle()[0].received("input_audio_chunk") == []


def test_a_source_bug_is_chained_and_logged_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    """A source's own exception is the cause of the ConnectionClosedError iterators raise,
    and the log holds one line for it, no traceback."""
    bug = KeyError("the source's own bug")

    def broken() -> Iterator[bytes]:
        yield silence(0.1)
        raise bug

    with MockServer() as server, caplog.at_level(logging.DEBUG, logger="scribe_sync"):
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        handle = session.stream(broken(), speed=None)
        with pytest.raises(ConnectionClosedError, match="streaming failed") as info:
            list(session)
        assert handle.join(5)
    assert handle.error is bug
    causes = []
    error: BaseException | None = info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__
    assert bug in causes
    failed = [r for r in caplog.records
              if r.levelno >= logging.WARNING and "streaming failed" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].exc_info is None and "\n" not in failed[0].getMessage()


def damaged_flac(path: pathlib.Path) -> None:
    """14 s of speech and pauses as FLAC, its last 20 % zeroed: 11 s decode, then an error."""
    audio = (speech(1.0, seed=1) + silence(0.4)) * 10
    soundfile.write(path, np.frombuffer(audio, dtype="<i2"), 16000, format="FLAC")
    data = bytearray(path.read_bytes())
    cut = int(len(data) * 0.8)
    data[cut:] = bytes(len(data) - cut)
    path.write_bytes(bytes(data))


def test_transcribe_keeps_the_transcript_of_a_file_damaged_midway(tmp_path: pathlib.Path) -> None:
    """The error is still raised, and carries the transcript of the 11 s sent before it."""
    path = tmp_path / "damaged.flac"
    damaged_flac(path)
    text = " ".join(f"word{i}" for i in range(60))
    with MockServer(transcript=text) as server:
        with pytest.raises(AudioSourceError, match="decode") as info:
            scribe_sync.transcribe(path, api_key=KEY, base_url=server.base_url, speed=None,
                                   include_timestamps=True)
        record = server.wait_idle()[0]
    partial = info.value.transcript
    assert isinstance(partial, Transcript)
    assert partial.text.split() == text.split()[: len(partial.text.split())]
    assert len(partial.text.split()) >= 5
    assert partial.words and partial.words[-1].end is not None
    # commit_every=20 s: the only commit is the one for the tail, sent after the failure.
    assert sum(bool(frame["commit"]) for frame in record.received("input_audio_chunk")) == 1


def test_a_stream_delivers_the_transcript_of_what_was_sent_before_the_source_error() -> None:
    """Session.stream: iterators yield the committed transcript of the audio sent, then raise
    the source's error."""
    def broken() -> Iterator[bytes]:
        yield speech(2.0, seed=3)
        raise AudioSourceError("mic", "device unplugged")

    with MockServer(transcript="alpha beta gamma delta") as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        handle = session.stream(broken(), speed=None, commit_every=None)
        events = []
        with pytest.raises(AudioSourceError, match="unplugged"):
            events.extend(session)
        assert handle.join(5)
    committed = [e for e in events if isinstance(e, CommittedTranscript)]
    assert committed and committed[0].text.strip()
    spoken = session.transcript.split()
    assert spoken == ["alpha", "beta", "gamma", "delta"][: len(spoken)]
