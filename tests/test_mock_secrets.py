"""No credential in what the mock keeps or logs, however the client spells or places it: the
access log masks percent-encoded parameter names, the journal redacts a session's known key and
token wherever they appear in stored frames and echoed errors."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Iterator

import pytest
import websocket
from hypothesis import assume, given
from hypothesis import strategies as st

from mock_server import MockServer
from mock_server._scrub import REDACTED, Scrubber
from mock_server.testing import Peer, chunk

WAIT = 30.0  # generous bound on waiting for the mock to act; never a timing assertion


class _Lines(logging.Handler):
    """Collects formatted records; ``wait_for`` returns once one holds a text."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.lines.append(record.getMessage())
            self.changed.notify_all()

    def wait_for(self, text: str) -> str:
        with self.changed:
            assert self.changed.wait_for(
                lambda: any(text in line for line in self.lines), WAIT
            ), self.lines
            return next(line for line in self.lines if text in line)


@pytest.fixture
def access_log() -> Iterator[_Lines]:
    logger = logging.getLogger("mock_server.access")
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_the_access_log_masks_percent_encoded_parameter_names(access_log: _Lines) -> None:
    """``?%74oken=`` is ``token`` to the mock's query parser (the session starts with it), so
    the access log masks it too; likewise ``xi%5Fapi%5Fkey`` and ``API%2DKEY``."""
    with MockServer() as server:
        token = server.mint_token("k-test-1234")
        ws = websocket.create_connection(
            f"{server.ws_url}?model_id=scribe_v2_realtime&%74oken={token}", timeout=WAIT)
        try:
            assert '"session_started"' in ws.recv()
        finally:
            ws.close()
        line = access_log.wait_for("/v1/speech-to-text/realtime")
        url = f"{server.base_url}/_mock/health?xi%5Fapi%5Fkey=SECRETKEY1&API%2DKEY=SECRETKEY2&a=b"
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            assert response.status == 200
        health = access_log.wait_for("/_mock/health")
    assert token not in line
    assert "%74oken=<redacted>" in line
    assert "SECRETKEY" not in health
    assert "xi%5Fapi%5Fkey=<redacted>&API%2DKEY=<redacted>&a=b" in health


def test_the_journal_redacts_known_credentials_in_frames() -> None:
    """A key pasted into a previous_text, sent as a message_type (which the mock's input_error
    echoes) or as a frame that is not JSON, and a token pasted into a frame, are redacted in the
    journal and its export; the wire is unchanged."""
    key = "sk_live_0123456789abcdef"
    with MockServer(api_keys=[key]) as server:
        with Peer(server, api_key=key) as peer:
            peer.recv_until("session_started")
            peer.send(chunk(b"", previous_text=f"my key is {key}"))
            peer.send(json.dumps({"message_type": key}))
            assert key in peer.recv_until("input_error")["error"]
            peer.send(f"xi-api-key: {key}")
            peer.recv_until("input_error")
        token = server.mint_token(key)
        with Peer(server, api_key=None, token=token) as peer:
            peer.recv_until("session_started")
            peer.send(f"token {token} and key {key}")
            peer.recv_until("input_error")
        records = server.wait_idle(count=2)
        with urllib.request.urlopen(server.base_url + "/_mock/sessions", timeout=WAIT) as answer:
            exported = answer.read().decode()
    stored = json.dumps([record.to_dict() for record in records]) + exported
    assert key not in stored
    assert token not in stored
    assert stored.count("<redacted>") >= 2 * (4 + 2)
    assert records[0].received()[0]["previous_text"] == "my key is <redacted>"
    assert records[0].sent("input_error")[0]["error"] == "Unexpected message type: <redacted>"


@pytest.mark.parametrize("key", ["audio", "chunk", "test", "rate"])
def test_a_short_key_does_not_redact_the_protocols_own_words(key: str) -> None:
    """A test key such as ``audio`` turned ``input_audio_chunk`` into
    ``input_<redacted>_chunk`` in the journal, and ``received("input_audio_chunk")`` found
    nothing. Keys under 8 characters are not searched for: a real key is far longer."""
    from websockets.sync.client import connect

    from mock_server.testing import speech

    with MockServer() as server:
        with connect(server.ws_url + "?model_id=scribe_v2_realtime",
                     additional_headers={"xi-api-key": key}) as ws:
            ws.recv(timeout=5)
            ws.send(chunk(speech(0.5), previous_text="a test of the audio chunk rate"))
            ws.send(chunk(speech(0.5), commit=True))
            ws.recv(timeout=5)
        record = server.wait_idle()[0]
    frames = record.received("input_audio_chunk")
    assert len(frames) == 2
    assert frames[0]["previous_text"] == "a test of the audio chunk rate"
    assert "audio_base_64" in frames[0]


# -- the one scrubber, shared by the journal and the recording proxy ---------------------------

_SECRET = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="<>"),
                  min_size=8, max_size=24)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)


@given(secret=_SECRET, data=_JSON, where=st.sampled_from(["value", "key", "escaped", "bytes"]))
def test_the_scrubber_leaves_no_secret_in_any_place(secret: str, data: object,
                                                    where: str) -> None:
    scrub = Scrubber([secret])
    escaped = json.dumps(secret)[1:-1]
    if where == "value":
        value: object = {"previous_text": f"a{secret}b", "other": data}
    elif where == "key":
        value = [{secret: data}]
    elif where == "escaped":  # as it appears in a frame's exact JSON text
        value = f'{{"message_type":"{escaped}"}}'
    else:
        value = (b"x" + secret.encode() + b"y", data)
    kept = list(_strings(scrub(value)))
    # The secret has no "<" or ">", so no occurrence of it can straddle a mask.
    assert not [s for s in kept for part in s.split(REDACTED) if secret in part or escaped in part]
    assert any(REDACTED in s for s in kept)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "surrogatepass")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


@given(secret=_SECRET, data=_JSON)
def test_the_scrubber_returns_data_without_a_secret_unchanged(secret: str,
                                                              data: object) -> None:
    text = json.dumps(data)
    assume(secret not in text and json.dumps(secret)[1:-1] not in text)
    assert Scrubber([secret])(data) is data
    assert Scrubber()(data) is data


def test_a_scrubber_learns_a_later_secret_without_forgetting() -> None:
    first = Scrubber(["first-secret-1"])
    both = first.adding(["second-secret-2"])
    assert first.adding(["first-secret-1", ""]) is first
    assert both("first-secret-1 second-secret-2") == f"{REDACTED} {REDACTED}"
    assert first("second-secret-2") == "second-secret-2"
