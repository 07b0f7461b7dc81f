"""Our WebSocket framing, sans I/O: frames round-trip through any split of the byte stream, and
an oversized frame is refused from its header."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scribe_sync._framing import (
    BINARY,
    CONT,
    TEXT,
    FrameReader,
    Violation,
    encode,
    fast_mask,
    mask,
)


def server_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes([first, n]) + payload
    if n < 1 << 16:
        return bytes([first, 126]) + n.to_bytes(2, "big") + payload
    return bytes([first, 127]) + n.to_bytes(8, "big") + payload


@given(payloads=st.lists(st.binary(max_size=70_000), min_size=1, max_size=4),
       cuts=st.lists(st.integers(1, 5000), max_size=20), masked=st.booleans())
def test_messages_survive_any_split_of_the_stream(payloads: list[bytes], cuts: list[int],
                                                  masked: bool) -> None:
    """Masked (ours) or unmasked (a server's) frames, fed in arbitrary pieces, come out whole
    and in order."""
    stream = b"".join(encode(BINARY, p) if masked else server_frame(BINARY, p) for p in payloads)
    reader = FrameReader(None)
    got: list[bytes] = []
    at = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[at : at + cut])
        at += cut
        while (message := reader.next()) is not None:
            got.append(message[1])
    assert got == payloads


@given(data=st.binary(max_size=1000), key=st.binary(min_size=4, max_size=4))
def test_masking_twice_gives_the_data_back(data: bytes, key: bytes) -> None:
    """mask() is its own inverse and matches the byte-by-byte definition."""
    assert mask(mask(data, key), key) == data
    assert mask(data, key) == bytes(b ^ key[i % 4] for i, b in enumerate(data))


@given(data=st.binary(max_size=5000), key=st.binary(min_size=4, max_size=4))
def test_the_c_masking_loop_agrees_with_mask(data: bytes, key: bytes) -> None:
    """fast_mask() (websockets' C loop, which sessions use) gives what mask() gives, and a
    frame masked with it reads back."""
    assert fast_mask()(data, key) == mask(data, key)
    reader = FrameReader(None)
    reader.feed(encode(TEXT, data, fast_mask()))
    frame = reader.next()
    assert frame is not None and frame[1] == data


def test_sessions_mask_in_c_here() -> None:
    """The installed websockets has its C extension: masking a 100 ms frame in Python was a
    third of send_audio's cost, so its absence would be a silent slowdown worth a failure."""
    assert fast_mask() is not mask


def test_fragments_are_joined_and_their_sum_is_limited() -> None:
    """Fragments become one message; a sum over the limit is refused at the frame header that
    crosses it, before its payload arrived."""
    reader = FrameReader(10)
    reader.feed(server_frame(TEXT, b"abc", fin=False) + server_frame(CONT, b"def"))
    assert reader.next() == (TEXT, b"abcdef")
    reader.feed(server_frame(TEXT, b"123456", fin=False) + bytes([0x80 | CONT, 5]))
    with pytest.raises(Violation) as caught:
        reader.next()
    assert caught.value.code == 1009


def test_a_message_in_many_empty_fragments_costs_no_memory_per_fragment() -> None:
    """300,000 empty continuation frames (600 KB on the wire, 2 bytes of payload): the reader
    keeps the payload only; a list entry per fragment cost about 40 times the wire bytes."""
    reader = FrameReader(1 << 20)
    empty = server_frame(CONT, b"", fin=False) * 10_000
    tracemalloc.start()
    try:
        reader.feed(server_frame(TEXT, b"a", fin=False))
        assert reader.next() is None
        for _ in range(30):
            reader.feed(empty)
            assert reader.next() is None
        reader.feed(server_frame(CONT, b"b"))
        assert reader.next() == (TEXT, b"ab")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000, peak


def test_a_header_claiming_2_to_the_63_bytes_is_refused_at_once() -> None:
    """The declared length alone decides: nothing of the payload is awaited."""
    reader = FrameReader(1 << 20)
    reader.feed(bytes([0x80 | TEXT, 127]) + (1 << 63).to_bytes(8, "big")[:8])
    with pytest.raises(Violation) as caught:
        reader.next()
    assert caught.value.code == 1009


@pytest.mark.parametrize(("body", "code"), [
    (b"\x03", 1002),
    ((1005).to_bytes(2, "big"), 1002),
    ((1006).to_bytes(2, "big") + b"gone", 1002),
    ((2000).to_bytes(2, "big"), 1002),
    ((1000).to_bytes(2, "big") + b"\xff\xfe", 1007),
])
def test_a_close_frame_no_peer_may_send_is_a_violation(body: bytes, code: int) -> None:
    """RFC 6455 §7.4.1 and §5.5.1: 1005 and 1006 are never on the wire, and a close reason is
    UTF-8; such a close used to end the session as a quiet, normal one."""
    reader = FrameReader(None)
    reader.feed(bytes([0x88, len(body)]) + body)
    with pytest.raises(Violation) as caught:
        reader.next()
    assert caught.value.code == code


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999])
def test_every_close_code_a_peer_may_send_is_read(code: int) -> None:
    reader = FrameReader(None)
    reader.feed(bytes([0x88, 5]) + code.to_bytes(2, "big") + b"bye")
    assert reader.next() == (0x8, code.to_bytes(2, "big") + b"bye")
