"""transcribe() as a Python API under hostile arguments: typed errors before any connection."""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import scribe_sync
from mock_server import MockServer
from scribe_sync import ConfigError, ScribeClient
from scribe_sync.audio import AudioSourceError, FileSource, sample_path

KEY = "hostile-transcribe-key"


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(transcript="hello there") as mock:
        yield mock


BAD_ARGUMENTS = [
    ({"speed": 0}, "speed"),
    ({"speed": -1}, "speed"),
    ({"speed": float("nan")}, "speed"),
    ({"speed": float("inf")}, "speed"),
    ({"speed": "fast"}, "speed"),
    ({"speed": True}, "speed"),
    ({"commit_every": 0}, "commit_every"),
    ({"commit_every": 0.5}, "commit_every"),
    ({"commit_every": float("nan")}, "commit_every"),
    ({"commit_every": float("inf")}, "commit_every"),
    ({"commit_every": "x"}, "commit_every"),
    ({"commit_every": True}, "commit_every"),
    ({"chunk_ms": 0}, "chunk_ms"),
    ({"chunk_ms": -20}, "chunk_ms"),
    ({"chunk_ms": 10**9}, "chunk_ms"),
    ({"chunk_ms": 100.0}, "chunk_ms"),
    ({"audio_format": "mp3"}, "audio_format"),
    ({"audio_format": None}, "audio_format"),
    ({"audio_format": 16000}, "audio_format"),
    ({"on_event": "print"}, "on_event"),
    ({"client": "https://api.elevenlabs.io"}, "client"),
]


@pytest.mark.parametrize(("arguments", "option"), BAD_ARGUMENTS)
def test_bad_arguments_are_config_errors_before_connecting(
    server: MockServer, arguments: dict[str, Any], option: str
) -> None:
    """Every absurd number or wrong type is a ConfigError (a ValueError) naming the option,
    and no session is opened for it."""
    before = len(server.sessions())
    kwargs = {"speed": None, **arguments}
    with pytest.raises(ConfigError) as caught:
        scribe_sync.transcribe(sample_path(), api_key=KEY, base_url=server.base_url, **kwargs)
    assert caught.value.option == option
    assert isinstance(caught.value, ValueError)
    assert option in str(caught.value)
    assert len(server.sessions()) == before


@pytest.mark.parametrize("source", [None, 123, b"\x00\x01" * 800, bytearray(4), 1.5])
def test_a_source_of_the_wrong_type_is_a_config_error(server: MockServer, source: Any) -> None:
    """bytes (an iterable of ints), None or a number is refused before connecting, instead of
    failing in the sender thread after a session was opened."""
    before = len(server.sessions())
    with pytest.raises(ConfigError) as caught:
        scribe_sync.transcribe(source, api_key=KEY, base_url=server.base_url, speed=None)
    assert caught.value.option == "source"
    assert len(server.sessions()) == before


def test_a_source_in_another_format_is_refused_before_connecting(
    server: MockServer,
) -> None:
    """A FileSource opened at 8 kHz with a 16 kHz session: ConfigError, no session, and the
    caller's source is left for the caller to close."""
    before = len(server.sessions())
    with FileSource(sample_path(), format="pcm_8000") as source:
        with pytest.raises(ConfigError) as caught:
            scribe_sync.transcribe(source, api_key=KEY, base_url=server.base_url, speed=None)
        assert caught.value.option == "audio_format"
    assert len(server.sessions()) == before


def test_a_bad_session_option_closes_the_opened_file(server: MockServer) -> None:
    """An invalid session option fails after the file was opened: the file is closed again."""
    fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ConfigError):
        scribe_sync.transcribe(sample_path(), api_key=KEY, base_url=server.base_url,
                               speed=None, no_such_option=1)
    assert set(os.listdir("/proc/self/fd")) <= fds


@pytest.fixture
def not_found_url(tmp_path: pathlib.Path) -> Iterator[str]:
    """A URL on 127.0.0.1 that answers 404."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="test-404-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/missing.mp3"
    finally:
        httpd.shutdown()
        thread.join(10)
        httpd.server_close()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_a_url_that_answers_404_fails_before_connecting(
    server: MockServer, not_found_url: str
) -> None:
    """The URL is read before the session is opened: a 404 is an AudioSourceError quoting
    ffmpeg, and no session is opened (or billed) for it."""
    before = len(server.sessions())
    with pytest.raises(AudioSourceError, match="404"):
        scribe_sync.transcribe(not_found_url, api_key=KEY, base_url=server.base_url, speed=None)
    assert len(server.sessions()) == before


def test_valid_extremes_still_work(server: MockServer) -> None:
    """speed=1e308 (effectively unpaced) and a ScribeClient of one's own are accepted."""
    client = ScribeClient(KEY, base_url=server.base_url)
    result = scribe_sync.transcribe(sample_path(), client=client, speed=1e308, commit_every=1e9)
    assert result.text == "hello there"
