"""Fuzzing the client's reader through a real socket: arbitrary server frames, documented outcomes.

A scripted server (tests/rawserver.py) writes ``session_started``, then frames drawn by
Hypothesis (text and binary messages with any bytes, fragmented or not, invalid UTF-8, deeply
nested JSON, valid messages with a field of the wrong type, unknown types, pings and pongs),
then either a sentinel message or one terminal frame (a close, an oversized frame or message,
a protocol violation). The oracle is ``protocol.decode`` and the table in ``_transport``'s
docstring: every message becomes the decoded event or one counted, logged malformed frame, in
order; the terminal frame ends the session in the documented way; the reader thread exits.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scribe_sync import (
    ConnectionClosedError,
    ErrorEvent,
    PartialTranscript,
    ScribeClient,
    ScribeError,
    protocol,
    server_error_class,
)
from scribe_sync.errors import RemoteProtocolError
from tests import strategies as sst
from tests.rawserver import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RawServer,
    frame,
    raw_server,
)

LIMIT = 4096  # the client's max_message_size in these tests: oversize cases stay cheap
GOLDEN = Path(__file__).parent / "golden"
SESSION_STARTED = (GOLDEN / "session_started.json").read_bytes().strip()
SENTINEL = "fuzz-sentinel"
SENTINEL_FRAME = frame(OP_TEXT, json.dumps(
    {"message_type": "partial_transcript", "text": SENTINEL}).encode())
GOLDEN_SERVER_MESSAGES = [
    json.loads(path.read_text())
    for path in sorted(GOLDEN.glob("*.json"))
    if not path.name.startswith("client_")
]


# ---------------------------------------------------------------------------------- payloads

def _wrong_type(draw: st.DrawFn) -> bytes:
    """A golden server message with one field (top level or in a nested object) replaced."""
    message = json.loads(json.dumps(draw(st.sampled_from(GOLDEN_SERVER_MESSAGES))))
    target: Any = message
    nested = [v for v in message.values() if isinstance(v, (dict, list)) and v]
    if nested and draw(st.booleans()):
        inner = draw(st.sampled_from(nested))
        if isinstance(inner, list):
            inner = inner[0]
        if isinstance(inner, dict) and inner:
            target = inner
    key = draw(st.sampled_from(sorted(target)))
    target[key] = draw(sst.json_values)
    return json.dumps(message).encode()


def _nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 1900))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = opener * depth + "1" + closer * depth
    if draw(st.booleans()):
        inner = '{"message_type":"partial_transcript","text":' + inner + "}"
    return inner.encode()[:LIMIT]


def _bad_utf8(draw: st.DrawFn) -> bytes:
    garbage = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
    return b'{"message_type":"partial_transcript","text":"' + garbage + b'"}'


payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    sst.json_values.map(lambda v: json.dumps(v).encode()),
    sst.server_events.map(lambda e: protocol.encode(e).encode()).filter(lambda b: len(b) <= LIMIT),
    st.composite(_wrong_type)(),
    st.composite(_nested)(),
    st.composite(_bad_utf8)(),
)


@attrs.frozen
class Message:
    opcode: int  # OP_TEXT or OP_BINARY
    payload: bytes
    cuts: tuple[int, ...]  # fragment boundaries

    def frames(self) -> list[bytes]:
        bounds = [0, *self.cuts, len(self.payload)]
        pieces = [self.payload[a:b] for a, b in itertools.pairwise(bounds)]
        return [
            frame(self.opcode if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1)
            for i, piece in enumerate(pieces)
        ]


@st.composite
def messages(draw: st.DrawFn) -> Message:
    payload = draw(payloads)
    cuts = draw(st.lists(st.integers(0, len(payload)), max_size=3).map(sorted).map(tuple))
    return Message(draw(st.sampled_from([OP_TEXT, OP_BINARY])), payload, cuts)


@attrs.frozen
class Control:
    opcode: int  # OP_PING or OP_PONG
    payload: bytes

    def frames(self) -> list[bytes]:
        return [frame(self.opcode, self.payload)]


controls = st.builds(Control, st.sampled_from([OP_PING, OP_PONG]), st.binary(max_size=125))


@attrs.frozen
class Terminal:
    """The frame that ends the script: what the session must end with."""

    kind: str  # "close", "too_big", "violation"
    raw: bytes
    close_code: int | None = None


def _close(code: int | None, reason: str) -> Terminal:
    body = b"" if code is None else code.to_bytes(2, "big") + reason.encode()
    return Terminal("close", frame(OP_CLOSE, body), code)


closes = st.builds(
    _close,
    st.none() | st.sampled_from([1000, 1001, 1008, 1011, 1012, 3000, 4000, 4999]),
    st.text(max_size=20).filter(lambda r: len(r.encode()) <= 100),
)
too_big = st.one_of(
    # declared length over the limit, with little or no payload behind it
    st.builds(
        lambda op, n, tail: Terminal("too_big", frame(op, tail, length=n)),
        st.sampled_from([OP_TEXT, OP_BINARY]),
        st.integers(LIMIT + 1, (1 << 63) - 1),
        st.binary(max_size=64),
    ),
    # fragments each within the limit whose sum is not
    st.builds(
        lambda op, sizes: Terminal("too_big", b"".join(
            frame(op if i == 0 else OP_CONT, b"x" * size, fin=False)
            for i, size in enumerate(sizes)
        )),
        st.sampled_from([OP_TEXT, OP_BINARY]),
        st.lists(st.integers(LIMIT // 2 + 1, LIMIT), min_size=2, max_size=3),
    ),
)
violations = st.sampled_from([
    frame(OP_TEXT, b'{"message_type":"warning","warning":"x"}', rsv=4),  # RSV1 unnegotiated
    frame(OP_TEXT, b"{}", rsv=1),
    frame(0x3, b"reserved data opcode"),
    frame(0xB, b"reserved control opcode"),
    frame(OP_CONT, b"continuation with nothing to continue"),
    frame(OP_PING, b"x" * 126),  # control frames carry at most 125 bytes
    frame(OP_PING, b"fragmented ping", fin=False),
    frame(OP_CLOSE, b"\x03"),  # a one-byte close body
    *(frame(OP_CLOSE, code.to_bytes(2, "big")) for code in (999, 1004, 1005, 1006, 1015,
                                                             2999, 5000)),  # codes never sent
    frame(OP_TEXT, b"first half", fin=False) + frame(OP_TEXT, b"a new message mid-way"),
]).map(lambda raw: Terminal("violation", raw))

terminals = st.none() | closes | too_big | violations


# ---------------------------------------------------------------------------------- harness

def _expected(items: list[Message | Control]) -> tuple[list[str], int]:
    """The oracle: reprs of the events decode() gives, and how many frames it refuses."""
    events: list[str] = []
    malformed = 0
    for item in items:
        if isinstance(item, Message):
            try:
                events.append(repr(protocol.decode(item.payload)))
            except RemoteProtocolError:
                malformed += 1
    return events, malformed


def _run(server: RawServer, items: list[Message | Control], terminal: Terminal | None
         ) -> tuple[list[Any], ScribeError | None, int, int | str | None]:
    script = [frame(OP_TEXT, SESSION_STARTED)]
    for item in items:
        script.extend(item.frames())
    script.append(terminal.raw if terminal is not None else SENTINEL_FRAME)
    server.play(script)
    client = ScribeClient("fuzz-key", base_url=server.base_url, max_message_size=LIMIT,
                          keepalive_interval=None, close_timeout=5)
    session = client.connect()
    events: list[Any] = []
    error: ScribeError | None = None
    try:
        while True:
            event = session.recv(timeout=10)
            if event is None:
                break
            events.append(event)
            if isinstance(event, PartialTranscript) and event.text == SENTINEL:
                break
    except ScribeError as exc:
        error = exc
    finally:
        malformed = session.stats.malformed_frames
        session.close()
    assert not any(t.name.startswith("scribe-") and t.is_alive() for t in threading.enumerate())
    return events, error, malformed, server.results.get(timeout=15)


@pytest.fixture
def server() -> Any:
    with raw_server() as running:
        yield running


def test_arbitrary_server_frames_give_only_documented_outcomes(
    server: RawServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Any frames from the server become their decoded events or counted, logged malformed
    frames, and the session then ends exactly as the terminal frame documents."""

    @given(items=st.lists(messages() | controls, max_size=8), terminal=terminals)
    def check(items: list[Message | Control], terminal: Terminal | None) -> None:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="scribe_sync"):
            events, error, malformed, client_close = _run(server, items, terminal)
        expected_events, expected_malformed = _expected(items)
        got = [repr(e) for e in events]
        if terminal is None:
            assert error is None
            assert got == [*expected_events, repr(PartialTranscript(SENTINEL))]
            assert client_close == 1000  # the session closed normally, by us
        else:
            assert got == expected_events
        assert malformed == expected_malformed
        logged = [r for r in caplog.records if "malformed frame" in r.getMessage()]
        assert len(logged) == expected_malformed

        if terminal is None:
            return
        if terminal.kind == "too_big":
            assert isinstance(error, ConnectionClosedError) and error.code == 1009
            assert "max_message_size=4096" in str(error)
            assert client_close == 1009
        elif terminal.kind == "violation":
            assert isinstance(error, ConnectionClosedError) and error.code == 1002
            assert client_close == 1002
        else:
            last = events[-1] if events else None
            if isinstance(last, ErrorEvent):
                assert type(error) is server_error_class(last.error_type)
            elif terminal.close_code in (None, 1000):
                assert error is None
            else:
                assert isinstance(error, ConnectionClosedError)
                assert error.code == terminal.close_code

    check()


def test_message_exactly_at_the_limit_is_delivered(server: RawServer) -> None:
    """A message of exactly max_message_size bytes, fragmented or whole, is accepted."""
    text = "y" * (LIMIT - len('{"message_type":"partial_transcript","text":""}'))
    payload = json.dumps({"message_type": "partial_transcript", "text": text},
                         separators=(",", ":")).encode()
    assert len(payload) == LIMIT
    whole = Message(OP_TEXT, payload, ())
    split = Message(OP_TEXT, payload, (1000, 3000))
    events, error, malformed, _ = _run(server, [whole, split], None)
    assert error is None and malformed == 0
    assert [e.text for e in events] == [text, text, SENTINEL]


def test_oversized_frame_before_session_started_fails_connect(server: RawServer) -> None:
    """An oversized first frame makes connect() raise ConnectionClosedError 1009, not hang."""
    server.play([frame(OP_TEXT, b"z" * 64, length=LIMIT + 1)])
    client = ScribeClient("fuzz-key", base_url=server.base_url, max_message_size=LIMIT,
                          open_timeout=10)
    with pytest.raises(ConnectionClosedError) as info:
        client.connect()
    assert info.value.code == 1009
    assert server.results.get(timeout=15) == 1009
