"""Every Scribe v2 Realtime wire message, both directions, as frozen value classes.

No JSON and no I/O here: :mod:`scribe_sync.protocol` turns these into text frames and back.
Field names follow the wire (docs/protocol.md §3-§5) except where the wire has two spellings for one
thing (``SessionConfig``), in which case the model holds one normalised value and the codec
accepts both.

Audio is ``bytes`` in the model; base64 exists only in the codec.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

if TYPE_CHECKING:
    from .errors import ScribeError

__all__ = [
    "AudioFormat",
    "Character",
    "CommitStrategy",
    "CommittedTranscript",
    "CommittedTranscriptEntities",
    "CommittedTranscriptWithTimestamps",
    "DiarizedTranscript",
    "EditedTranscript",
    "Entity",
    "ErrorEvent",
    "Event",
    "InputAudioChunk",
    "PartialTranscript",
    "Reconnected",
    "Reconnecting",
    "RedactedTranscript",
    "ServerEvent",
    "ServerWarning",
    "SessionConfig",
    "SessionEnded",
    "SessionStarted",
    "SpeakersMerged",
    "UnknownEvent",
    "Word",
]


class AudioFormat(str, enum.Enum):
    """The ``audio_format`` query parameter: raw mono audio, no container (docs/protocol.md §2).

    PCM formats are 16-bit signed little-endian; ``ULAW_8000`` is 8-bit G.711 mu-law.
    """

    PCM_8000 = "pcm_8000"
    PCM_16000 = "pcm_16000"
    PCM_22050 = "pcm_22050"
    PCM_24000 = "pcm_24000"
    PCM_44100 = "pcm_44100"
    PCM_48000 = "pcm_48000"
    ULAW_8000 = "ulaw_8000"

    @property
    def sample_rate(self) -> int:
        """Samples per second, as echoed in ``session_started`` and sent in each chunk."""
        return int(self.value.partition("_")[2])

    @property
    def bytes_per_sample(self) -> int:
        """2 for 16-bit PCM, 1 for mu-law."""
        return 1 if self is AudioFormat.ULAW_8000 else 2

    @property
    def is_ulaw(self) -> bool:
        """True for the 8-bit mu-law format."""
        return self is AudioFormat.ULAW_8000

    @property
    def bytes_per_second(self) -> int:
        """Bytes of audio per second of signal (mono)."""
        return self.sample_rate * self.bytes_per_sample

    def duration(self, nbytes: int) -> float:
        """Seconds of signal in ``nbytes`` of audio in this format."""
        return nbytes / self.bytes_per_second

    def __str__(self) -> str:
        return self.value


class CommitStrategy(str, enum.Enum):
    """The ``commit_strategy`` query parameter.

    ``TURN_PREDICTION`` appears only in the 2.78 SDK's generated enum (docs/protocol.md Q14); it is
    decoded when a server echoes it but is not accepted as a session option.
    """

    MANUAL = "manual"
    VAD = "vad"
    TURN_PREDICTION = "turn_prediction"

    def __str__(self) -> str:
        return self.value


class Event:
    """Base of everything a session yields: server messages and client-side events.

    ``Session.on(Event, callback)`` receives every event.
    """

    __slots__ = ()


class ServerEvent(Event):
    """Base of every message the server sends."""

    __slots__ = ()


# ---------------------------------------------------------------------------------------------
# Client -> server


@attrs.frozen
class InputAudioChunk:
    """The one client message: a chunk of audio, optionally committing the segment.

    A commit is the same message with empty audio and ``commit=True`` (docs/protocol.md §3).
    ``previous_text`` is only valid on the first chunk of a connection.
    """

    message_type: ClassVar[str] = "input_audio_chunk"

    audio: bytes = b""
    commit: bool = False
    sample_rate: int | None = 16000
    previous_text: str | None = None


# ---------------------------------------------------------------------------------------------
# Server -> client


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    return tuple(value)


def _optional_tuple_of_str(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class SessionConfig:
    """The ``config`` object of ``session_started``, normalised.

    The live server and the SDK's generated type disagree on spellings (docs/protocol.md Q1):
    the live service sends ``vad_commit_strategy`` (bool) and ``disable_logging``; the SDK type has
    ``commit_strategy`` (enum) and ``enable_logging``. Both decode to ``commit_strategy`` and
    ``enable_logging`` here. Keys this class does not know are kept in ``extra``.
    """

    sample_rate: int | None = None
    audio_format: str | None = None
    language_code: str | None = None
    secondary_languages: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    timestamps_granularity: str | None = None
    commit_strategy: CommitStrategy | str | None = None
    vad_silence_threshold_secs: float | None = None
    vad_threshold: float | None = None
    min_speech_duration_ms: int | None = None
    min_silence_duration_ms: int | None = None
    max_tokens_to_recompute: int | None = None
    model_id: str | None = None
    enable_logging: bool | None = None
    include_timestamps: bool | None = None
    include_language_detection: bool | None = None
    filter_background_audio: bool | None = None
    keyterms: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    no_verbatim: bool | None = None
    entity_detection: tuple[str, ...] | None = attrs.field(
        default=None, converter=_optional_tuple_of_str
    )
    extra: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class SessionStarted(ServerEvent):
    """First message of a successful session. ``session_id`` is 32 lowercase hex digits."""

    message_type: ClassVar[str] = "session_started"

    session_id: str
    config: SessionConfig = attrs.field(factory=SessionConfig)


@attrs.frozen
class PartialTranscript(ServerEvent):
    """The whole current hypothesis for the uncommitted segment (not a delta)."""

    message_type: ClassVar[str] = "partial_transcript"

    text: str


@attrs.frozen
class CommittedTranscript(ServerEvent):
    """The final text of one committed segment; exactly one per commit. May be ``""``."""

    message_type: ClassVar[str] = "committed_transcript"

    text: str


@attrs.frozen
class Character:
    """One character of a word. The wire has both a bare string and ``{text, start, end}``
    (docs/protocol.md Q6); a bare string decodes to a ``Character`` without times."""

    text: str
    start: float | None = None
    end: float | None = None


@attrs.frozen
class Word:
    """One item of ``words[]``: a word, a spacing or an audio event, on the session clock."""

    text: str
    start: float | None = None
    end: float | None = None
    type: str = "word"
    logprob: float | None = None
    speaker_id: str | None = None
    characters: tuple[Character, ...] | None = None
    channel_index: int | None = None


@attrs.frozen
class CommittedTranscriptWithTimestamps(ServerEvent):
    """The timestamped twin of a ``committed_transcript``.

    ``words`` is ``None`` when only language detection was requested (docs/protocol.md §4.4).
    """

    message_type: ClassVar[str] = "committed_transcript_with_timestamps"

    text: str
    language_code: str | None = None
    words: tuple[Word, ...] | None = None


@attrs.frozen
class Entity:
    """A detected entity in a committed transcript; character offsets into ``text``."""

    text: str
    entity_type: str
    start_char: int
    end_char: int


@attrs.frozen
class CommittedTranscriptEntities(ServerEvent):
    """Entities found in a committed segment (``entity_detection`` set)."""

    message_type: ClassVar[str] = "committed_transcript_entities"

    text: str
    entities: tuple[Entity, ...] = ()


@attrs.frozen
class RedactedTranscript(ServerEvent):
    """A committed segment with entities redacted (``entity_redaction`` set)."""

    message_type: ClassVar[str] = "redacted_transcript"

    text: str
    redacted_text: str


@attrs.frozen
class EditedTranscript(ServerEvent):
    """A committed segment after the ``transcript_edit`` instruction was applied."""

    message_type: ClassVar[str] = "edited_transcript"

    text: str
    edited_text: str


@attrs.frozen
class DiarizedTranscript(ServerEvent):
    """Speaker-attributed words for the ``segment_index``-th committed transcript (SDK 2.78).

    ``segment_index`` counts the connection's committed transcripts from 0, empty ones
    included (the SDK's types say only "index of the committed transcript"; unverified live).
    """

    message_type: ClassVar[str] = "diarized_transcript"

    segment_index: int
    text: str
    words: tuple[Word, ...] = ()


@attrs.frozen
class SpeakersMerged(ServerEvent):
    """Every earlier use of ``from_speaker_id`` should be read as ``to_speaker_id``."""

    message_type: ClassVar[str] = "speakers_merged"

    from_speaker_id: str
    to_speaker_id: str


@attrs.frozen
class ServerWarning(ServerEvent):
    """A non-fatal warning (``message_type: "warning"``); contents undocumented."""

    message_type: ClassVar[str] = "warning"

    warning: str


@attrs.frozen
class ErrorEvent(ServerEvent):
    """Any server error message: ``{"message_type": <error_type>, "error": <message>}``.

    ``error_type`` is the wire ``message_type`` (``auth_error``, ``commit_throttled``, ...).
    Whether the error ends the session is decided by what the server does next (a close or
    not), not by the type alone (docs/protocol.md Q9).
    """

    error_type: str
    message: str = ""

    @property
    def message_type(self) -> str:
        """The wire ``message_type``, which for errors is the error type."""
        return self.error_type


@attrs.frozen
class UnknownEvent(ServerEvent):
    """A message whose ``message_type`` this version does not know; never dropped."""

    message_type: str
    payload: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


# ---------------------------------------------------------------------------------------------
# Client-side events (never on the wire)


@attrs.frozen
class SessionEnded(Event):
    """Client-side event given to callbacks (not iterators) when the session has ended.

    ``error`` is what an iterator raises at the end (``None`` for a normal ending).
    """

    code: int | None
    reason: str
    error: ScribeError | None = None


@attrs.frozen
class Reconnecting(Event):
    """The connection was lost; attempt ``attempt`` starts after ``delay`` seconds."""

    attempt: int
    delay: float
    error: ScribeError | None = attrs.field(eq=False, default=None)


@attrs.frozen
class Reconnected(Event):
    """A new connection replaced the lost one; ``replayed_seconds`` of audio were re-sent."""

    attempt: int
    session_id: str
    replayed_seconds: float
