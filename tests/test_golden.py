"""Golden wire fixtures (tests/golden/, see its README) pin the codec to the live shapes."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from scribe_sync import protocol
from scribe_sync.errors import (
    AuthError,
    CommitThrottledError,
    InputError,
    InvalidRequestError,
    QuotaExceededError,
    UnacceptedTermsError,
    server_error_class,
)
from scribe_sync.messages import (
    Character,
    CommitStrategy,
    CommittedTranscript,
    CommittedTranscriptEntities,
    CommittedTranscriptWithTimestamps,
    DiarizedTranscript,
    EditedTranscript,
    Entity,
    ErrorEvent,
    InputAudioChunk,
    PartialTranscript,
    RedactedTranscript,
    ServerWarning,
    SessionConfig,
    SessionStarted,
    SpeakersMerged,
    UnknownEvent,
    Word,
)

GOLDEN = Path(__file__).parent / "golden"


def load(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def raw(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


def chars(text: str) -> tuple[Character, ...]:
    return tuple(Character(c) for c in text)


LIVE_CONFIG = SessionConfig(
    sample_rate=16000,
    audio_format="pcm_16000",
    language_code=None,
    secondary_languages=(),
    timestamps_granularity="word",
    commit_strategy=CommitStrategy.MANUAL,
    vad_silence_threshold_secs=1.5,
    vad_threshold=0.4,
    min_speech_duration_ms=100,
    min_silence_duration_ms=100,
    max_tokens_to_recompute=5,
    model_id="scribe_v2_realtime",
    enable_logging=True,
    include_timestamps=False,
    include_language_detection=False,
    filter_background_audio=False,
    keyterms=(),
    no_verbatim=False,
    entity_detection=None,
)

ILLUSTRATIVE = "(illustrative text; no live text is known)"

# Fixtures whose re-encoding is the same JSON object: the canonical wire form.
CANONICAL: dict[str, Any] = {
    "session_started.json": SessionStarted("4f1c0e2a9b8d47e6a5c3b2d1e0f9a8b7", LIVE_CONFIG),
    "session_started_vad.json": SessionStarted(
        "b7e3d1c2a0f94e8d9c6b5a4f3e2d1c0b",
        SessionConfig(
            sample_rate=24000,
            audio_format="pcm_24000",
            language_code="en",
            secondary_languages=("de", "fr"),
            timestamps_granularity="word",
            commit_strategy=CommitStrategy.VAD,
            vad_silence_threshold_secs=0.8,
            vad_threshold=0.5,
            min_speech_duration_ms=250,
            min_silence_duration_ms=300,
            max_tokens_to_recompute=5,
            model_id="scribe_v2_realtime",
            enable_logging=False,
            include_timestamps=True,
            include_language_detection=True,
            filter_background_audio=False,
            keyterms=("ElevenLabs", "Scribe"),
            no_verbatim=True,
            entity_detection=("pii", "email_address"),
            extra={"diarize": False},
        ),
    ),
    "partial_transcript.json": PartialTranscript("Hi, I'm Alex. I just moved"),
    "committed_transcript.json": CommittedTranscript(
        "Hi, I'm Alex. I just moved here from Lisbon."
    ),
    "committed_transcript_empty.json": CommittedTranscript(""),
    "committed_transcript_with_timestamps.json": CommittedTranscriptWithTimestamps(
        "Hello world.",
        "en",
        (
            Word("Hello", 0.0, 0.48, "word", -0.0023, characters=chars("Hello")),
            Word(" ", 0.48, 0.52, "spacing"),
            Word("world", 0.52, 0.98, "word", -0.118, characters=chars("world")),
        ),
    ),
    "committed_transcript_with_timestamps_language_only.json": CommittedTranscriptWithTimestamps(
        "Bom dia.", "pt", None
    ),
    "committed_transcript_with_timestamps_character_objects.json": (
        CommittedTranscriptWithTimestamps(
            "Hi (laughs)",
            "eng",
            (
                Word(
                    "Hi",
                    18.02,
                    18.3,
                    "word",
                    -0.05,
                    "speaker_0",
                    (Character("H", 18.02, 18.16), Character("i", 18.16, 18.3)),
                    0,
                ),
                Word(" ", 18.3, 18.34, "spacing", 0.0),
                Word("(laughs)", 18.34, 19.1, "audio_event", -0.4),
            ),
        )
    ),
    "committed_transcript_entities.json": CommittedTranscriptEntities(
        "Mail me at jane@example.com",
        (Entity("jane@example.com", "email_address", 11, 27),),
    ),
    "redacted_transcript.json": RedactedTranscript(
        "Mail me at jane@example.com", "Mail me at {EMAIL_ADDRESS_1}"
    ),
    "edited_transcript.json": EditedTranscript(
        "um so the the meeting is at noon", "So the meeting is at noon."
    ),
    "speakers_merged.json": SpeakersMerged("speaker_2", "speaker_0"),
    "warning.json": ServerWarning("Audio sample rate does not match the session audio_format."),
    "unknown_type.json": UnknownEvent(
        "turn_predicted",
        {
            "message_type": "turn_predicted",
            "probability": 0.93,
            "segment": {"start": 1.5, "words": ["a", None, 3]},
        },
    ),
    "error_auth_error.json": ErrorEvent(
        "auth_error", "You must be authenticated to use this endpoint."
    ),
    "error_quota_exceeded.json": ErrorEvent("quota_exceeded", "You have exceeded your quota."),
    "error_commit_throttled.json": ErrorEvent(
        "commit_throttled",
        "Commit request ignored: only 0.20s of uncommitted audio. "
        "You need at least 0.3s of uncommitted audio before committing.",
    ),
    "error_input_error.json": ErrorEvent("input_error", "Message must be a valid protocol message"),
    "error_input_error_unexpected_type.json": ErrorEvent(
        "input_error", "Unexpected message type: commit"
    ),
    "error_invalid_request_model_id.json": ErrorEvent(
        "invalid_request",
        "The model_id 'scribe_realtime_v2' is invalid. Supported models: 'scribe_v2_realtime', "
        "'scribe_v2_realtime_turbo', 'scribe_v2_realtime_lite'.",
    ),
    "error_invalid_request_keyterm.json": ErrorEvent(
        "invalid_request",
        "Each keyterm must be at most 20 characters. 'supercalifragilisticexpia' is 25 characters.",
    ),
    "error_invalid_request_filter_background_audio.json": ErrorEvent(
        "invalid_request",
        "filter_background_audio cannot be combined with include_timestamps. "
        "This will be supported in a future update.",
    ),
    "error_unaccepted_terms.json": ErrorEvent(
        "unaccepted_terms", "You must accept the terms of service before using this endpoint."
    ),
    "error_unaccepted_terms_error.json": ErrorEvent(
        "unaccepted_terms_error",
        "You must accept the terms of service before using this endpoint.",
    ),
    **{
        f"error_{t}.json": ErrorEvent(t, f"{t.replace('_', ' ')} {ILLUSTRATIVE}")
        for t in (
            "error",
            "transcriber_error",
            "rate_limited",
            "queue_overflow",
            "resource_exhausted",
            "session_time_limit_exceeded",
            "chunk_size_exceeded",
            "insufficient_audio_activity",
        )
    },
}

# The diarized fixture carries an explicit "speaker_id": null that encode omits; equal otherwise.
CANONICAL_UP_TO_NULLS: dict[str, Any] = {
    "diarized_transcript.json": DiarizedTranscript(
        3,
        "Yes. No.",
        (
            Word("Yes.", 40.1, 40.4, "word", -0.01, "speaker_1"),
            Word(" ", 40.4, 40.9, "spacing", 0.0, None),
            Word("No.", 40.9, 41.2, "word", -0.02, "speaker_0"),
        ),
    ),
}

# Alias spellings: only the normalised decode is pinned.
ALIASES: dict[str, Any] = {
    "session_started_sdk_spelling.json": SessionStarted(
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        SessionConfig(
            sample_rate=16000,
            audio_format="pcm_16000",
            language_code="en",
            commit_strategy=CommitStrategy.VAD,
            vad_silence_threshold_secs=1.5,
            vad_threshold=0.4,
            min_speech_duration_ms=100,
            min_silence_duration_ms=100,
            model_id="scribe_v2_realtime",
            enable_logging=True,
            include_timestamps=False,
        ),
    ),
    "final_transcript.json": CommittedTranscript("Legacy final text."),
    "final_transcript_with_timestamps.json": CommittedTranscriptWithTimestamps(
        "Legacy", "en", (Word("Legacy", 1.0, 1.5, "word", -0.2, characters=chars("Legacy")),)
    ),
    "error_auth_error_message_key.json": ErrorEvent(
        "auth_error", "You must be authenticated to use this endpoint."
    ),
}

CLIENT: dict[str, InputAudioChunk] = {
    "client_sdk_send.json": InputAudioChunk(b"\x00\x00\xff\x7f\x00\x80", False, 16000, None),
    "client_sdk_send_previous_text.json": InputAudioChunk(
        b"\x00\x00\xff\x7f\x00\x80", False, 16000, "Previously transcribed text"
    ),
    "client_sdk_commit.json": InputAudioChunk(b"", True, 16000, None),
}

SERVER = {**CANONICAL, **CANONICAL_UP_TO_NULLS, **ALIASES}


def test_every_fixture_has_an_expectation() -> None:
    """No golden file goes unchecked, and no expectation names a missing file."""
    on_disk = {p.name for p in GOLDEN.glob("*.json")}
    assert on_disk == set(SERVER) | set(CLIENT)


@pytest.mark.parametrize("name", sorted(SERVER))
def test_fixture_decodes_to_expected_event(name: str) -> None:
    """Each server fixture decodes to the expected class and field values."""
    event = protocol.decode(raw(name))
    expected = SERVER[name]
    assert type(event) is type(expected)
    assert event == expected


@pytest.mark.parametrize("name", sorted(SERVER))
def test_fixture_decodes_from_bytes_too(name: str) -> None:
    """A fixture received as a UTF-8 bytes frame decodes the same as the text frame."""
    assert protocol.decode(raw(name).encode("utf-8")) == SERVER[name]


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_canonical_fixture_reencodes_to_same_object(name: str) -> None:
    """Re-encoding a canonical fixture gives back the same JSON object."""
    assert json.loads(protocol.encode(protocol.decode(raw(name)))) == load(name)


def test_diarized_fixture_reencodes_up_to_explicit_nulls() -> None:
    """Re-encoding the diarized fixture only drops the explicit null speaker_id."""
    name = "diarized_transcript.json"
    expected = load(name)
    for word in expected["words"]:
        if word.get("speaker_id", "") is None:
            del word["speaker_id"]
    assert json.loads(protocol.encode(protocol.decode(raw(name)))) == expected


@pytest.mark.parametrize("name", ["session_started.json", "session_started_vad.json"])
def test_live_config_keys_keep_the_live_order(name: str) -> None:
    """The encoder emits the live config keys in the order the live service sends them (§4.1)."""
    encoded = json.loads(protocol.encode(protocol.decode(raw(name))))
    assert list(encoded["config"]) == list(load(name)["config"])
    assert list(encoded) == ["message_type", "session_id", "config"]


def test_sdk_spelling_reencodes_to_live_spelling() -> None:
    """A config in the SDK's spelling is re-encoded in the live spelling (bool, disable_logging)."""
    config = json.loads(protocol.encode(protocol.decode(raw("session_started_sdk_spelling.json"))))[
        "config"
    ]
    assert config["vad_commit_strategy"] is True
    assert config["disable_logging"] is False
    assert "commit_strategy" not in config
    assert "enable_logging" not in config


@pytest.mark.parametrize(
    ("name", "exception"),
    [
        ("error_auth_error.json", AuthError),
        ("error_quota_exceeded.json", QuotaExceededError),
        ("error_commit_throttled.json", CommitThrottledError),
        ("error_input_error.json", InputError),
        ("error_invalid_request_keyterm.json", InvalidRequestError),
        ("error_unaccepted_terms.json", UnacceptedTermsError),
        ("error_unaccepted_terms_error.json", UnacceptedTermsError),
    ],
)
def test_error_fixture_maps_to_exception_carrying_live_text(
    name: str, exception: type[Exception]
) -> None:
    """A decoded error picks its exception class, which keeps the server's text verbatim."""
    event = protocol.decode(raw(name))
    assert isinstance(event, ErrorEvent)
    cls = server_error_class(event.error_type)
    assert cls is exception
    error = cls(event.message, error_type=event.error_type)
    assert error.message == load(name)["error"]
    assert error.error_type == load(name)["message_type"]
    assert load(name)["error"] in str(error)


@pytest.mark.parametrize("name", sorted(CLIENT))
def test_client_fixture_decodes(name: str) -> None:
    """The SDK's client frames decode (previous_text null accepted, absent key fine)."""
    assert protocol.decode_client(raw(name)) == CLIENT[name]


@pytest.mark.parametrize("name", sorted(CLIENT))
def test_client_encoding_matches_fixture_up_to_null_previous_text(name: str) -> None:
    """Our encoding of a chunk equals the SDK's frame, except we omit a null previous_text."""
    expected = {k: v for k, v in load(name).items() if v is not None}
    assert json.loads(protocol.encode(CLIENT[name])) == expected


class _RecordingSocket:
    """Stands in for the SDK's websocket: records every text frame sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, data: str) -> None:
        self.sent.append(data)


def test_client_fixtures_are_what_the_sdk_sends() -> None:
    """The client fixtures equal what elevenlabs 2.78 send()/commit() actually put on the wire."""
    from elevenlabs.realtime.connection import RealtimeConnection

    socket = _RecordingSocket()
    connection = RealtimeConnection(socket, 16000)  # type: ignore[arg-type]
    audio = base64.b64encode(CLIENT["client_sdk_send.json"].audio).decode("ascii")

    async def run() -> None:
        await connection.send({"audio_base_64": audio})
        await connection.send(
            {"audio_base_64": audio, "previous_text": "Previously transcribed text"}
        )
        await connection.commit()

    asyncio.run(run())
    sent = [json.loads(frame) for frame in socket.sent]
    assert sent == [
        load("client_sdk_send.json"),
        load("client_sdk_send_previous_text.json"),
        load("client_sdk_commit.json"),
    ]
    assert "previous_text" not in sent[2]
    assert [protocol.decode_client(frame) for frame in socket.sent] == [
        CLIENT["client_sdk_send.json"],
        CLIENT["client_sdk_send_previous_text.json"],
        CLIENT["client_sdk_commit.json"],
    ]
