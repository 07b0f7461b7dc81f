"""Fuzzing the mock server: arbitrary client frames get ``input_error`` or a close, never a crash,
while a healthy session on the same server keeps working and transcribes exactly as without them.

Each fuzzed frame is followed by a probe (an unknown ``message_type``, which the mock always
answers with ``input_error``), so the answers of every frame can be told apart without sleeping.
The oracle for "must be refused" is the client-frame shape of docs/protocol.md §3, written out here
independently of the mock's parser.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
from typing import Any

import attrs
import pytest
import websocket
from hypothesis import given
from hypothesis import strategies as st

from mock_server import MockServer
from mock_server.testing import Peer, chunk, silence, speech
from scribe_sync import ScribeClient
from tests import strategies as sst

KEY = "fuzz-key-0123"
LIMIT = 64 * 1024  # the mock's max_message_bytes here, so oversize frames stay cheap
TRANSCRIPT = "one two three four five six seven eight nine ten"
#: What the mock may send while answering a client frame (docs/protocol.md §4, §5).
ANSWER_TYPES = frozenset({
    "input_error", "partial_transcript", "committed_transcript",
    "committed_transcript_with_timestamps", "commit_throttled", "chunk_size_exceeded",
    "warning",  # a chunk whose sample_rate contradicts audio_format (once per session)
})
VALID_CHUNK = json.loads(chunk(b"\x00\x01" * 800, sample_rate=16000))


@attrs.frozen
class ClientFrame:
    text: bool
    data: bytes

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 80 else self.data[:60] + b"..."
        return f"ClientFrame({self.text}, {shown!r} ({len(self.data)} bytes))"


def _must_refuse(item: ClientFrame) -> bool:
    """True when the frame is not an input_audio_chunk of the documented shape (§3)."""
    if not item.text:
        return True  # binary frames are not part of the protocol (Q18)
    try:
        obj = json.loads(item.data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return True
    if not isinstance(obj, dict) or obj.get("message_type") != "input_audio_chunk":
        return True
    audio = obj.get("audio_base_64")
    if not isinstance(audio, str):
        return True
    try:
        base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        return True
    commit, rate, previous = obj.get("commit"), obj.get("sample_rate"), obj.get("previous_text")
    return (
        ("commit" in obj and not isinstance(commit, bool))
        or not (rate is None or type(rate) is int)
        or not (previous is None or isinstance(previous, str))
    )


@st.composite
def _mutated_chunk(draw: st.DrawFn) -> bytes:
    """A valid chunk with one field replaced, removed or added, with any JSON value."""
    obj = dict(VALID_CHUNK)
    key = draw(st.sampled_from([*sorted(obj), "previous_text", "extra"]))
    if draw(st.booleans()) and key in obj:
        del obj[key]
    else:
        obj[key] = draw(sst.json_values)
    return json.dumps(obj).encode()


@st.composite
def _nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 5000))
    inner = "[" * depth + "]" * depth
    if draw(st.booleans()):
        return ('{"message_type":"input_audio_chunk","audio_base_64":"","commit":' + inner
                + "}").encode()
    return inner.encode()


valid_chunks = st.builds(
    lambda audio, commit: chunk(audio[: len(audio) // 2 * 2], commit=commit).encode(),
    st.binary(max_size=4000),
    st.booleans(),
)
payloads = st.one_of(
    valid_chunks,
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    sst.json_values.map(lambda v: json.dumps(v).encode()),
    _mutated_chunk(),
    _nested(),
    st.text(max_size=30).map(
        lambda t: json.dumps({"message_type": t, "audio_base_64": ""}).encode()),
    st.sampled_from([b'{"message_type":"input_audio_chunk","audio_base_64":"AA=="}x',
                     b'{"message_type":"input_audio_chunk","audio_base_64":"%%%"}',
                     b'{"message_type":"\\ud800","audio_base_64":""}']),
)
# Only valid UTF-8 in text frames here: invalid UTF-8 is a terminal case (close 1007).
frames = st.builds(ClientFrame, st.booleans(), payloads).map(
    lambda f: f if not f.text or _utf8(f.data) else ClientFrame(False, f.data)
)
#: A frame that ends the connection, and the close code the mock must send for it.
terminals = st.none() | st.one_of(
    st.builds(lambda n: (ClientFrame(True, b" " * n), 1009), st.integers(LIMIT + 1, LIMIT + 999)),
    st.builds(lambda n: (ClientFrame(False, b"\x00" * n), 1009), st.integers(LIMIT + 1, LIMIT + 9)),
    st.sampled_from([b"\xff", b'{"message_type":"\xc3"}', b"\xed\xa0\x80"]).map(
        lambda data: (ClientFrame(True, data), 1007)),  # invalid UTF-8 in a text frame
)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _send(peer: Peer, item: ClientFrame) -> None:
    opcode = websocket.ABNF.OPCODE_TEXT if item.text else websocket.ABNF.OPCODE_BINARY
    peer.ws.send(item.data, opcode=opcode)


def _answers(peer: Peer, probe: str) -> tuple[list[dict[str, Any]], bool]:
    """Messages received until the probe's input_error, and whether the mock closed first."""
    out: list[dict[str, Any]] = []
    while True:
        message = peer.recv()
        if message is None:
            return out, True
        if message.get("error") == f"Unexpected message type: {probe}":
            return out, False
        out.append(message)


def _fuzz_one(server: MockServer, items: list[ClientFrame],
              terminal: tuple[ClientFrame, int] | None) -> None:
    with Peer(server, api_key=KEY) as peer:
        assert peer.recv_until("session_started")
        for i, item in enumerate(items):
            _send(peer, item)
            probe = f"probe-{i}"
            peer.send(json.dumps({"message_type": probe}))
            answers, closed = _answers(peer, probe)
            if closed:
                # Only a valid chunk may end the session: by an error that closes (a throttled
                # commit, an oversized chunk), never by a crash.
                assert not _must_refuse(item), (item, answers)
                kinds = [a.get("message_type") for a in answers]
                assert kinds and kinds[-1] in {"commit_throttled", "chunk_size_exceeded"}
                assert peer.close_code == 1000
                return
            kinds = [a.get("message_type") for a in answers]
            assert set(kinds) <= ANSWER_TYPES, answers
            refusals = kinds.count("input_error")
            if _must_refuse(item):
                assert refusals == 1, (item, answers)
            else:
                assert refusals <= 1, (item, answers)
        if terminal is not None:
            item, code = terminal
            # The mock refuses an oversized frame from its header and closes TCP with the rest
            # unread, so the client may see a reset instead of the close frame (1006).
            with contextlib.suppress(OSError, websocket.WebSocketException):
                _send(peer, item)
            assert peer.recv_all() == []
            assert peer.close_code in (code, 1006)
    if terminal is not None:
        record = server.wait_for(lambda r: r[-1].closed, timeout=10)[-1]
        assert record.close_code == terminal[1]


def _healthy_audio() -> bytes:
    return speech(3.0, seed=11) + silence(0.4)


def _reference_transcript(server: MockServer) -> str:
    session = ScribeClient(KEY, base_url=server.base_url, keepalive_interval=None).connect()
    session.send_audio(_healthy_audio())
    session.finish()
    return session.transcript


def test_arbitrary_client_frames_get_input_error_or_close_and_spare_other_sessions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fuzzed frames get one input_error each (or a documented close), the server never
    fails a handler, and a concurrent healthy session's transcript and audio are intact."""
    audio = _healthy_audio()
    # No idle close and no keepalive: the healthy session idles for as long as fuzzing takes,
    # and its journaled audio must be exactly what it sent.
    with MockServer(api_keys=[KEY], transcript=TRANSCRIPT, max_message_bytes=LIMIT,
                    idle_timeout_secs=None) as server, caplog.at_level(logging.ERROR):
        reference = _reference_transcript(server)
        assert reference  # the mock transcribed something to compare against
        healthy = ScribeClient(KEY, base_url=server.base_url, keepalive_interval=None).connect()
        half = len(audio) // 4 * 2
        healthy.send_audio(audio[:half])

        @given(items=st.lists(frames, max_size=6), terminal=terminals)
        def check(items: list[ClientFrame], terminal: tuple[ClientFrame, int] | None) -> None:
            _fuzz_one(server, items, terminal)

        check()
        healthy.send_audio(audio[half:])
        healthy.finish()
        assert healthy.transcript == reference
        record = next(r for r in server.sessions() if r.session_id == healthy.session_id)
        assert record.audio_sha256 == hashlib.sha256(audio).hexdigest()
        assert record.audio_sha256 == server.sessions()[0].audio_sha256  # the reference's
        assert record.errors == ()
    # A crashing handler is logged by aiohttp at ERROR ("Error handling request").
    assert [r for r in caplog.records if r.name.startswith(("aiohttp", "mock_server"))] == []
