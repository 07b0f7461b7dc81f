"""The mock's own validation of the realtime endpoint's query parameters (docs/protocol.md §2).

Deliberately independent of :class:`scribe_sync.SessionOptions`: the client validates
what it sends, the mock validates what it receives, so one misunderstanding cannot hide on both
sides. Texts quoted in docs/protocol.md are reproduced byte for byte; the others are marked
``# invented`` and follow the same style.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any, Final

import attrs

__all__ = [
    "AUDIO_FORMATS",
    "DEFAULT_MODELS",
    "ISO3_TO_ISO1",
    "InvalidParams",
    "SessionParams",
    "parse_params",
]

#: Model ids the live service accepted in August 2026 (docs/protocol.md §2, CAP-D).
DEFAULT_MODELS: Final = (
    "scribe_v2_realtime",
    "scribe_v2_realtime_turbo",
    "scribe_v2_realtime_lite",
)

#: audio_format -> (sample rate, bytes per sample).
AUDIO_FORMATS: Final[dict[str, tuple[int, int]]] = {
    "pcm_8000": (8000, 2),
    "pcm_16000": (16000, 2),
    "pcm_22050": (22050, 2),
    "pcm_24000": (24000, 2),
    "pcm_44100": (44100, 2),
    "pcm_48000": (48000, 2),
    "ulaw_8000": (8000, 1),
}

# ISO 639-3 -> 639-1 for the languages most often requested; the live echo normalises
# "eng" to "en" (docs/protocol.md §2, CAP-E). Unknown 3-letter codes are echoed unchanged.
ISO3_TO_ISO1: Final = {
    "eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "ita": "it",
    "por": "pt", "nld": "nl", "dut": "nl", "pol": "pl", "rus": "ru", "ukr": "uk", "jpn": "ja",
    "zho": "zh", "chi": "zh", "kor": "ko", "ara": "ar", "hin": "hi", "tur": "tr", "swe": "sv",
    "nor": "no", "dan": "da", "fin": "fi", "ces": "cs", "cze": "cs", "ell": "el", "gre": "el",
    "heb": "he", "hun": "hu", "ron": "ro", "rum": "ro", "vie": "vi", "tha": "th", "ind": "id",
}
_LANGUAGE_RE: Final = re.compile(r"[A-Za-z]{2,3}\Z")
_ENTITY_RE: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
_REDACTION_MODES: Final = ("redacted", "entity_type", "enumerated_entity_type")
_COMMIT_STRATEGIES: Final = ("manual", "vad")


class InvalidParams(Exception):
    """The query was rejected; ``str(exc)`` is the ``invalid_request`` error text."""


@attrs.frozen
class SessionParams:
    """A validated realtime query, with defaults filled in as the live echo shows them."""

    model_id: str
    audio_format: str = "pcm_16000"
    commit_strategy: str = "manual"
    vad_silence_threshold_secs: float = 1.5
    vad_threshold: float = 0.4
    min_speech_duration_ms: int = 100
    min_silence_duration_ms: int = 100
    language_code: str | None = None
    secondary_languages: tuple[str, ...] = ()
    include_timestamps: bool = False
    include_language_detection: bool = False
    keyterms: tuple[str, ...] = ()
    no_verbatim: bool = False
    entity_detection: tuple[str, ...] | None = None
    entity_redaction: tuple[str, ...] | None = None
    entity_redaction_mode: str = "enumerated_entity_type"
    transcript_edit: str | None = None
    filter_background_audio: bool = False
    enable_logging: bool = True
    diarize: bool = False
    token: str | None = None

    @property
    def sample_rate(self) -> int:
        """Samples per second implied by ``audio_format``."""
        return AUDIO_FORMATS[self.audio_format][0]

    @property
    def bytes_per_sample(self) -> int:
        """2 for PCM, 1 for mu-law."""
        return AUDIO_FORMATS[self.audio_format][1]

    @property
    def vad(self) -> bool:
        """True when the server commits on detected silence."""
        return self.commit_strategy == "vad"

    def config(self) -> dict[str, Any]:
        """The ``session_started.config`` object in the live form and key order (§4.1)."""
        return {
            "sample_rate": self.sample_rate,
            "audio_format": self.audio_format,
            "language_code": self.language_code,
            "secondary_languages": list(self.secondary_languages),
            "timestamps_granularity": "word",
            "vad_commit_strategy": self.vad,
            "vad_silence_threshold_secs": self.vad_silence_threshold_secs,
            "vad_threshold": self.vad_threshold,
            "min_speech_duration_ms": self.min_speech_duration_ms,
            "min_silence_duration_ms": self.min_silence_duration_ms,
            "max_tokens_to_recompute": 5,
            "model_id": self.model_id,
            "disable_logging": not self.enable_logging,
            "include_timestamps": self.include_timestamps,
            "include_language_detection": self.include_language_detection,
            "filter_background_audio": self.filter_background_audio,
            "keyterms": list(self.keyterms),
            "no_verbatim": self.no_verbatim,
            "entity_detection": (
                None if self.entity_detection is None else list(self.entity_detection)
            ),
        }


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    # A repeated scalar is ambiguous; the last one wins, as in most web frameworks.
    return values[-1]


def _bool(query: dict[str, list[str]], name: str, default: bool) -> bool:
    value = _one(query, name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    # invented
    raise InvalidParams(f"Invalid value for {name}: '{value}'. Expected 'true' or 'false'.")


def _number(
    query: dict[str, list[str]],
    name: str,
    default: float,
    low: float,
    high: float,
    *,
    integer: bool,
) -> float:
    value = _one(query, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if integer and math.isfinite(number) and number != int(number):
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        shown_low, shown_high = (int(low), int(high)) if integer else (low, high)
        # invented
        raise InvalidParams(
            f"Invalid value for {name}: '{value}'. "
            f"Must be between {shown_low} and {shown_high} inclusive."
        )
    return number


def _language(value: str, name: str) -> str:
    if not _LANGUAGE_RE.match(value):
        # invented
        raise InvalidParams(
            f"Invalid {name} '{value}'. Expected an ISO-639-1 or ISO-639-3 language code."
        )
    lowered = value.lower()
    return ISO3_TO_ISO1.get(lowered, lowered)


def _entities(query: dict[str, list[str]], name: str) -> tuple[str, ...] | None:
    values = query.get(name)
    if not values:
        return None
    for value in values:
        if not _ENTITY_RE.match(value):
            # invented
            raise InvalidParams(f"Invalid {name} value '{value}'.")
    return tuple(values)


def parse_query(raw_query: str) -> dict[str, list[str]]:
    """Split a query string; both ``%20`` (Python SDK) and ``+`` (browsers) mean a space."""
    return urllib.parse.parse_qs(raw_query, keep_blank_values=True)


def parse_params(
    query: dict[str, list[str]], models: Sequence[str] = DEFAULT_MODELS
) -> SessionParams:
    """Validate a realtime query the way the live service does.

    Unknown parameters are ignored silently (docs/protocol.md §2: ``sample_rate``, ``encoding`` and
    ``vad_commit_strategy`` were sent by integrators without errors).

    Raises:
        InvalidParams: with the ``invalid_request`` text.
    """
    model_id = _one(query, "model_id")
    if model_id is None or model_id not in models:
        supported = ", ".join(f"'{m}'" for m in models)
        # Live text (CAP-D). A missing model_id is reported the same way, with an empty id.
        raise InvalidParams(
            f"The model_id '{model_id or ''}' is invalid. Supported models: {supported}."
        )

    audio_format = _one(query, "audio_format") or "pcm_16000"
    if audio_format not in AUDIO_FORMATS:
        allowed = ", ".join(f"'{f}'" for f in AUDIO_FORMATS)
        # invented
        raise InvalidParams(
            f"The audio_format '{audio_format}' is invalid. Supported formats: {allowed}."
        )

    commit_strategy = _one(query, "commit_strategy") or "manual"
    if commit_strategy not in _COMMIT_STRATEGIES:
        # invented
        raise InvalidParams(
            f"The commit_strategy '{commit_strategy}' is invalid. "
            "Supported strategies: 'manual', 'vad'."
        )

    vad_silence = _number(query, "vad_silence_threshold_secs", 1.5, 0.3, 3.0, integer=False)
    vad_threshold = _number(query, "vad_threshold", 0.4, 0.1, 0.9, integer=False)
    min_speech = _number(query, "min_speech_duration_ms", 100, 50, 2000, integer=True)
    min_silence = _number(query, "min_silence_duration_ms", 100, 50, 2000, integer=True)

    language = _one(query, "language_code")
    language_code = None if not language else _language(language, "language_code")
    secondary = tuple(
        _language(value, "secondary_languages") for value in query.get("secondary_languages", [])
    )

    include_timestamps = _bool(query, "include_timestamps", False)
    include_language_detection = _bool(query, "include_language_detection", False)
    no_verbatim = _bool(query, "no_verbatim", False)
    filter_background_audio = _bool(query, "filter_background_audio", False)
    enable_logging = _bool(query, "enable_logging", True)
    # The flag's name comes from SDK 2.78 docstrings only (docs/protocol.md §4.7, Q15): unverified.
    diarize = _bool(query, "diarize", False)

    keyterms = tuple(query.get("keyterms", []))
    if len(keyterms) > 50:
        # SDK test fixture text (docs/protocol.md §2), not confirmed live.
        raise InvalidParams(
            f"Number of keyterms cannot exceed 50. You provided {len(keyterms)} keyterms."
        )
    for term in keyterms:
        if len(term) > 20:
            # Live text (CAP-G).
            raise InvalidParams(
                f"Each keyterm must be at most 20 characters. '{term}' is {len(term)} characters."
            )

    entity_detection = _entities(query, "entity_detection")
    entity_redaction = _entities(query, "entity_redaction")
    mode = _one(query, "entity_redaction_mode") or "enumerated_entity_type"
    if mode not in _REDACTION_MODES:
        # invented
        raise InvalidParams(
            f"The entity_redaction_mode '{mode}' is invalid. "
            "Supported modes: 'redacted', 'entity_type', 'enumerated_entity_type'."
        )
    transcript_edit = _one(query, "transcript_edit")
    if transcript_edit is not None and len(transcript_edit) > 2000:
        # invented
        raise InvalidParams(
            "transcript_edit must be at most 2000 characters. "
            f"You provided {len(transcript_edit)} characters."
        )
    if transcript_edit is not None and (entity_detection or entity_redaction):
        # invented
        raise InvalidParams(
            "transcript_edit cannot be combined with entity_detection or entity_redaction."
        )

    if filter_background_audio and include_timestamps:
        # Live text (CAP-C).
        raise InvalidParams(
            "filter_background_audio cannot be combined with include_timestamps. "
            "This will be supported in a future update."
        )

    return SessionParams(
        model_id=model_id,
        audio_format=audio_format,
        commit_strategy=commit_strategy,
        vad_silence_threshold_secs=vad_silence,
        vad_threshold=vad_threshold,
        min_speech_duration_ms=int(min_speech),
        min_silence_duration_ms=int(min_silence),
        language_code=language_code,
        secondary_languages=secondary,
        include_timestamps=include_timestamps,
        include_language_detection=include_language_detection,
        keyterms=keyterms,
        no_verbatim=no_verbatim,
        entity_detection=entity_detection,
        entity_redaction=entity_redaction,
        entity_redaction_mode=mode,
        transcript_edit=transcript_edit,
        filter_background_audio=filter_background_audio,
        enable_logging=enable_logging,
        diarize=diarize,
        token=_one(query, "token"),
    )
