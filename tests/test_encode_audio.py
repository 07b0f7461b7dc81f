"""The per-chunk encoder of the send path writes exactly what the general encoder writes."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from scribe_sync import protocol
from scribe_sync.messages import InputAudioChunk

buffers = st.binary(max_size=512).flatmap(
    lambda data: st.sampled_from([data, bytearray(data), memoryview(data)])
)


@given(buffers, st.booleans(), st.none() | st.integers(0, 10**6),
       st.none() | st.text(max_size=20))
@example(b"", True, 16000, None)  # the commit message
@example(b"\x00\x01", False, None, 'quote " backslash \\ newline \n \u2028 \ud7ff')
def test_encode_audio_chunk_is_byte_for_byte_encode(
    audio: bytes | bytearray | memoryview, commit: bool, sample_rate: int | None,
    previous_text: str | None,
) -> None:
    """encode_audio_chunk(...) == encode(InputAudioChunk(...)) as UTF-8, for any buffer type."""
    chunk = InputAudioChunk(bytes(audio), commit, sample_rate, previous_text)
    frame = protocol.encode_audio_chunk(audio, commit, sample_rate, previous_text)
    assert frame == protocol.encode(chunk).encode("utf-8")
    assert protocol.decode_client(frame) == chunk
