"""Testing your own code against the mock server, with the ``scribe_mock`` pytest fixture.

    pip install 'scribe-sync[mock]' pytest
    python -m pytest examples/test_my_app.py

The fixture (registered with pytest when scribe-sync is installed) starts a mock server on a
free port for each test and stops it after; ``@pytest.mark.scribe_mock(...)`` sets what it
says and which faults it injects. Nothing leaves the machine and no API key is needed.
"""

from __future__ import annotations

import pytest

import scribe_sync
from mock_server import MockServer
from mock_server.testing import silence, speech


# The code under test: your application's function, which takes a client so that tests can
# point it at the mock.
def caption(client: scribe_sync.ScribeClient, audio: bytes) -> str:
    """The transcript of one recording (16 kHz 16-bit mono PCM)."""
    with client.connect(language_code="en") as session:
        session.send_audio(audio)
    # Leaving the block called finish(): the tail was committed and its transcript arrived.
    return session.transcript


@pytest.mark.scribe_mock(transcript="hello from the mock")
def test_caption_returns_the_transcript(scribe_mock: MockServer) -> None:
    client = scribe_sync.ScribeClient("any-key", base_url=scribe_mock.base_url)
    text = caption(client, speech(1.6) + silence(0.3))  # 4 words at 400 ms of speech each
    assert text == "hello from the mock"
    record = scribe_mock.wait_idle()[0]  # the journal: what the server received
    assert record.query["language_code"] == ["en"]


@pytest.mark.scribe_mock(api_keys=["the-right-key"])
def test_caption_reports_a_refused_key(scribe_mock: MockServer) -> None:
    client = scribe_sync.ScribeClient("a-wrong-key", base_url=scribe_mock.base_url)
    with pytest.raises(scribe_sync.AuthError):
        caption(client, speech(0.5))
