"""audio_check="strict": audio implausible for its declared format is heard as silence, so a
client's format bug gives empty transcripts instead of the script (G4); off by default."""

from __future__ import annotations

import pytest

from mock_server import MockServer
from mock_server.audiocheck import implausible
from mock_server.testing import Peer, narrowband, pcm16_to_ulaw, silence, speech

SCRIPT = ["hello from the mock"]


def _commit_text(server: MockServer, audio_format: str, audio: bytes) -> str:
    with Peer(server, {"audio_format": audio_format}) as peer:
        peer.recv_until("session_started")
        # Trailing silence ends the speech: the commit gives the whole utterance (not a cut).
        quiet = b"\xff" * 4000 if audio_format.startswith("ulaw") else silence(0.5, rate=24000)
        peer.send_audio(audio + quiet, chunk_bytes=3200)
        peer.commit()
        return str(peer.recv_until("committed_transcript")["text"])


@pytest.mark.parametrize(
    ("audio_format", "audio"),
    [
        ("pcm_16000", narrowband(2.0, rate=8000)),  # 8 kHz audio declared as 16 kHz
        ("ulaw_8000", speech(2.0, rate=8000)),  # 16-bit PCM declared as mu-law
        ("pcm_16000", pcm16_to_ulaw(speech(2.0))),  # mu-law declared as PCM
    ],
    ids=["8k-as-pcm_16000", "pcm-as-ulaw_8000", "ulaw-as-pcm_16000"],
)
def test_strict_hears_a_format_mistake_as_silence(audio_format: str, audio: bytes) -> None:
    """With audio_check='strict' the commit is empty; by default the script comes back."""
    with MockServer(transcript=SCRIPT, audio_check="strict") as strict:
        assert _commit_text(strict, audio_format, audio) == ""
    with MockServer(transcript=SCRIPT) as lenient:
        assert _commit_text(lenient, audio_format, audio) == SCRIPT[0]


@pytest.mark.parametrize(
    ("audio_format", "audio"),
    [
        ("pcm_16000", speech(2.0)),
        ("pcm_16000", narrowband(2.0, rate=16000)),
        ("pcm_8000", narrowband(2.0, rate=8000)),
        ("pcm_24000", speech(2.0, rate=24000)),
        ("ulaw_8000", pcm16_to_ulaw(speech(2.0, rate=8000))),
    ],
)
def test_strict_passes_audio_in_its_declared_format(audio_format: str, audio: bytes) -> None:
    """Correct audio, strict or not, gives the script."""
    with MockServer(transcript=SCRIPT, audio_check="strict") as server:
        assert _commit_text(server, audio_format, audio) == SCRIPT[0]


def test_silence_and_short_chunks_are_never_judged() -> None:
    """Silence is plausible in any format; a chunk under 40 ms is too short to judge."""
    assert implausible(silence(1.0), 16000, 2) is None
    assert implausible(b"\xff" * 8000, 8000, 1) is None  # mu-law silence
    assert implausible(speech(0.01, rate=8000), 8000, 1) is None  # 20 ms of mu-law
