"""Hypothesis strategies: one per message class of :mod:`scribe_sync.messages`, plus valid
:class:`~scribe_sync.protocol.SessionOptions` (after attrs' ``tests/strategies.py``).

Every strategy draws values the codec can round-trip: finite floats (JSON has no NaN), error
types from the error table, unknown message types that are really unknown.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from scribe_sync import messages as m
from scribe_sync import protocol
from scribe_sync.errors import SERVER_ERROR_TYPES

__all__ = [
    "audio_chunks",
    "characters",
    "committed_transcripts",
    "diarized_transcripts",
    "edited_transcripts",
    "entities",
    "entities_events",
    "error_events",
    "json_values",
    "keyterms",
    "partial_transcripts",
    "redacted_transcripts",
    "server_events",
    "server_warnings",
    "session_configs",
    "session_options",
    "session_started",
    "speakers_merged",
    "timestamped_transcripts",
    "unknown_events",
    "words",
]

KNOWN_TYPES = protocol.SERVER_MESSAGE_TYPES | {m.InputAudioChunk.message_type}

texts = st.text()
finite = st.floats(allow_nan=False, allow_infinity=False)
seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False)
opt_seconds = st.none() | seconds
ints = st.integers()

#: Any JSON value Python's json module round-trips exactly (no NaN/Infinity).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

# --- client ----------------------------------------------------------------------------------

audio_chunks = st.builds(
    m.InputAudioChunk,
    audio=st.binary(max_size=256),
    commit=st.booleans(),
    sample_rate=st.none() | st.sampled_from([f.sample_rate for f in m.AudioFormat]) | ints,
    previous_text=st.none() | texts,
)

# --- server ----------------------------------------------------------------------------------

languages = st.from_regex(r"[a-z]{2,3}", fullmatch=True)

session_configs = st.builds(
    m.SessionConfig,
    sample_rate=st.none() | ints,
    audio_format=st.none() | st.sampled_from([f.value for f in m.AudioFormat]) | texts,
    language_code=st.none() | languages,
    secondary_languages=st.lists(languages, max_size=3).map(tuple),
    timestamps_granularity=st.none() | st.sampled_from(["none", "word", "character"]),
    # A strategy newer than this version stays a plain string (never one of ours).
    commit_strategy=st.none()
    | st.sampled_from(m.CommitStrategy)
    | st.text(min_size=1).filter(lambda s: s not in {c.value for c in m.CommitStrategy}),
    vad_silence_threshold_secs=st.none() | finite,
    vad_threshold=st.none() | finite,
    min_speech_duration_ms=st.none() | ints,
    min_silence_duration_ms=st.none() | ints,
    max_tokens_to_recompute=st.none() | ints,
    model_id=st.none() | texts,
    enable_logging=st.none() | st.booleans(),
    include_timestamps=st.none() | st.booleans(),
    include_language_detection=st.none() | st.booleans(),
    filter_background_audio=st.none() | st.booleans(),
    keyterms=st.lists(texts, max_size=3).map(tuple),
    no_verbatim=st.none() | st.booleans(),
    entity_detection=st.none() | st.lists(texts, max_size=3).map(tuple),
    extra=st.dictionaries(
        st.text(min_size=1).filter(
            lambda k: k not in protocol.SESSION_CONFIG_KEYS
        ),
        json_values,
        max_size=3,
    ),
)

session_started = st.builds(
    m.SessionStarted,
    session_id=st.from_regex(r"[0-9a-f]{32}", fullmatch=True) | texts,
    config=session_configs,
)
partial_transcripts = st.builds(m.PartialTranscript, text=texts)
committed_transcripts = st.builds(m.CommittedTranscript, text=texts)

characters = st.builds(m.Character, text=texts, start=opt_seconds, end=opt_seconds)

words = st.builds(
    m.Word,
    text=texts,
    start=opt_seconds,
    end=opt_seconds,
    type=st.sampled_from(["word", "spacing", "audio_event"]) | st.text(),
    logprob=st.none() | st.floats(max_value=0, allow_nan=False, allow_infinity=False),
    speaker_id=st.none() | texts,
    characters=st.none() | st.lists(characters, max_size=4).map(tuple),
    channel_index=st.none() | ints,
)

timestamped_transcripts = st.builds(
    m.CommittedTranscriptWithTimestamps,
    text=texts,
    language_code=st.none() | languages,
    words=st.none() | st.lists(words, max_size=4).map(tuple),
)

entities = st.builds(m.Entity, text=texts, entity_type=texts, start_char=ints, end_char=ints)
entities_events = st.builds(
    m.CommittedTranscriptEntities, text=texts, entities=st.lists(entities, max_size=3).map(tuple)
)
redacted_transcripts = st.builds(m.RedactedTranscript, text=texts, redacted_text=texts)
edited_transcripts = st.builds(m.EditedTranscript, text=texts, edited_text=texts)
diarized_transcripts = st.builds(
    m.DiarizedTranscript,
    segment_index=ints,
    text=texts,
    words=st.lists(words, max_size=4).map(tuple),
)
speakers_merged = st.builds(m.SpeakersMerged, from_speaker_id=texts, to_speaker_id=texts)
server_warnings = st.builds(m.ServerWarning, warning=texts)
error_events = st.builds(
    m.ErrorEvent, error_type=st.sampled_from(sorted(SERVER_ERROR_TYPES)), message=texts
)


@st.composite
def unknown_events(draw: st.DrawFn) -> m.UnknownEvent:
    """An event of a type this version does not know; its payload is the whole raw object."""
    message_type = draw(st.text().filter(lambda t: t not in KNOWN_TYPES))
    payload: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
    payload["message_type"] = message_type
    return m.UnknownEvent(message_type, payload)


#: One strategy per server message class, keyed by the class.
SERVER_EVENT_STRATEGIES: dict[type[m.ServerEvent], st.SearchStrategy[Any]] = {
    m.SessionStarted: session_started,
    m.PartialTranscript: partial_transcripts,
    m.CommittedTranscript: committed_transcripts,
    m.CommittedTranscriptWithTimestamps: timestamped_transcripts,
    m.CommittedTranscriptEntities: entities_events,
    m.RedactedTranscript: redacted_transcripts,
    m.EditedTranscript: edited_transcripts,
    m.DiarizedTranscript: diarized_transcripts,
    m.SpeakersMerged: speakers_merged,
    m.ServerWarning: server_warnings,
    m.ErrorEvent: error_events,
    m.UnknownEvent: unknown_events(),
}

server_events = st.one_of(*SERVER_EVENT_STRATEGIES.values())

# --- session options -------------------------------------------------------------------------

keyterms = st.lists(
    st.text(min_size=1, max_size=protocol.MAX_KEYTERM_LENGTH), max_size=protocol.MAX_KEYTERMS
)
entity_names = st.sampled_from(protocol.ENTITY_CATEGORIES) | st.from_regex(
    r"[a-z][a-z0-9_]{0,20}", fullmatch=True
)


@st.composite
def session_options(draw: st.DrawFn) -> protocol.SessionOptions:
    """Any valid option combination: every range, enum and incompatibility respected."""
    kwargs: dict[str, Any] = {}

    def maybe(name: str, strategy: st.SearchStrategy[Any]) -> None:
        if draw(st.booleans()):
            kwargs[name] = draw(strategy)

    maybe("model_id", st.sampled_from(["scribe_v2_realtime", "scribe_v3_live"]))
    maybe("audio_format", st.sampled_from(m.AudioFormat))
    maybe("commit_strategy", st.sampled_from([m.CommitStrategy.MANUAL, m.CommitStrategy.VAD]))
    maybe("vad_silence_threshold_secs", st.floats(0.3, 3.0))
    maybe("vad_threshold", st.floats(0.1, 0.9))
    maybe("min_speech_duration_ms", st.integers(50, 2000))
    maybe("min_silence_duration_ms", st.integers(50, 2000))
    maybe("language_code", languages)
    maybe("secondary_languages", st.lists(languages, max_size=3))
    maybe("include_timestamps", st.booleans())
    maybe("include_language_detection", st.booleans())
    maybe("keyterms", keyterms)
    maybe("no_verbatim", st.booleans())
    if not kwargs.get("include_timestamps"):
        maybe("filter_background_audio", st.booleans())
    maybe("enable_logging", st.booleans())
    if draw(st.booleans()):
        maybe("transcript_edit", st.text(min_size=1, max_size=protocol.MAX_TRANSCRIPT_EDIT_LENGTH))
    else:
        maybe("entity_detection", st.lists(entity_names, min_size=1, max_size=3))
        maybe("entity_redaction", st.lists(entity_names, min_size=1, max_size=3))
        if "entity_redaction" in kwargs:
            maybe("entity_redaction_mode", st.sampled_from(protocol.ENTITY_REDACTION_MODES))
    return protocol.SessionOptions(**kwargs)
