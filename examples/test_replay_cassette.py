"""Testing your own code against answers the service really gave, recorded once and replayed
offline, with the ``scribe_cassette`` pytest fixture (docs/cassettes.md).

    pip install 'scribe-sync[mock,audio]' pytest
    python -m pytest examples/test_replay_cassette.py        # replays cassettes/caption.jsonl
    ELEVENLABS_API_KEY=... python -m pytest examples/test_replay_cassette.py \\
        --scribe-record-mode=all                              # records it again

The replay needs no key and no network: CI runs it as it is. The cassette beside this file was
recorded through ``scribe-mock record`` from a mock server standing in for the service (the
project's CI has no key); one recorded from the live service has the same format.
"""

from __future__ import annotations

import pytest

import scribe_sync
from mock_server.pytest_plugin import CassetteUse
from scribe_sync.audio import sample_path


# The code under test: your application's function, which takes a client so that tests can
# point it at a replay.
def caption(client: scribe_sync.ScribeClient, path: str) -> list[str]:
    """The committed segments of an audio file, in order."""
    transcript = scribe_sync.transcribe(path, client=client, speed=None)
    return [segment.text for segment in transcript.segments]


@pytest.mark.scribe_cassette("caption")
def test_caption_returns_what_the_service_said(scribe_cassette: CassetteUse) -> None:
    client = scribe_sync.ScribeClient(scribe_cassette.api_key, base_url=scribe_cassette.base_url)
    segments = caption(client, str(sample_path()))
    assert " ".join(segments).startswith("Welcome to scribe sync.")
    if not scribe_cassette.recording:
        # What the replaying server received: the same audio, chunk for chunk.
        record = scribe_cassette.server.wait_idle()[0]
        assert record.commits >= 1


@pytest.mark.scribe_cassette("caption", strict=True)
def test_the_same_audio_passes_a_strict_replay(scribe_cassette: CassetteUse) -> None:
    client = scribe_sync.ScribeClient(scribe_cassette.api_key, base_url=scribe_cassette.base_url)
    assert caption(client, str(sample_path()))
