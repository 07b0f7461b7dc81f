"""Session options: every query parameter of docs/protocol.md §2, validated on construction,
and the ranges of the client's and the reconnect policy's numeric settings.

An invalid option fails here, before any connection, with a :class:`ConfigError` naming the
option, the value and what is allowed. Pure values: no I/O, no URL building (see ``_url``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple

import attrs

from .errors import ConfigError
from .messages import AudioFormat, CommitStrategy

__all__ = [
    "CLIENT_RANGES",
    "ENTITY_CATEGORIES",
    "ENTITY_REDACTION_MODES",
    "MAX_KEYTERMS",
    "MAX_KEYTERM_LENGTH",
    "MAX_SECONDS",
    "MAX_TRANSCRIPT_EDIT_LENGTH",
    "RECONNECT_RANGES",
    "Range",
    "SessionOptions",
    "check_number",
    "check_settings",
    "invalid_option",
]


_LANGUAGE_RE: Final = re.compile(r"[a-z]{2,3}\Z")
_ENTITY_RE: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
_MODEL_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")

#: Entity categories (docs/protocol.md §2); specific types such as ``email_address`` are also valid.
ENTITY_CATEGORIES: Final = ("all", "pii", "phi", "pci", "other", "offensive_language")
ENTITY_REDACTION_MODES: Final = ("redacted", "entity_type", "enumerated_entity_type")
MAX_KEYTERMS: Final = 50
MAX_KEYTERM_LENGTH: Final = 20
MAX_TRANSCRIPT_EDIT_LENGTH: Final = 2000
#: The longest timeout, interval or delay accepted, in seconds (a day, as for the ffmpeg
#: timeout). Far longer ones overflow the waits they reach (socket timeouts, lock and thread
#: timeouts) only mid-session; none has a use beyond a day.
MAX_SECONDS: Final = 86400


def invalid_option(option: str, value: Any, allowed: str) -> ConfigError:
    """The error for ``option=value``: names the option, the value and what is allowed."""
    try:
        shown = repr(value)
    except ValueError:  # an int beyond the interpreter's digit limit for str()
        shown = f"<{type(value).__name__} too large to show>"
    return ConfigError(f"invalid {option}={shown}: {allowed}", option=option)


class Range(NamedTuple):
    """The values a numeric option accepts: ``low`` to ``high``, ints only if ``integer``."""

    low: float
    high: float
    integer: bool = False
    above: bool = False  # ``low`` itself is refused (a zero timeout or delay means nothing)
    none_ok: bool = False

    def describe(self) -> str:
        span = (f"above {self.low} and at most {self.high}" if self.above
                else f"from {self.low} to {self.high} inclusive")
        return span + (", or None" if self.none_ok else "")


def check_number(option: str, value: Any, allowed: Range) -> None:
    """Refuse ``value`` unless it is in ``allowed``: the one check of every numeric option.

    Raises:
        ConfigError: a bool, a non-number, NaN, an infinity or a number out of range.
    """
    if value is None and allowed.none_ok:
        return
    kind = "an integer" if allowed.integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int if allowed.integer else (int, float))):
        raise invalid_option(option, value, f"expected {kind} {allowed.describe()}")
    # Compare directly: math.isfinite() raises OverflowError for ints beyond the float range,
    # and the chained comparison is already False for NaN and the infinities.
    inside = (allowed.low < value <= allowed.high if allowed.above
              else allowed.low <= value <= allowed.high)
    if not inside:
        raise invalid_option(option, value, f"must be {allowed.describe()}")


_SECONDS: Final = Range(0, MAX_SECONDS, above=True)

#: The numeric settings of :class:`~scribe_sync.ScribeClient`.
CLIENT_RANGES: Final = {
    "open_timeout": _SECONDS,
    "close_timeout": _SECONDS,
    "finish_timeout": _SECONDS,
    "io_timeout": _SECONDS,
    "keepalive_interval": _SECONDS._replace(none_ok=True),
    "max_queue": Range(1, 1_000_000_000, integer=True, none_ok=True),
    "max_message_size": Range(1, 2**30, integer=True, none_ok=True),
}
#: The numeric settings of :class:`~scribe_sync.reconnect.ReconnectPolicy` (``jitter`` is
#: checked by the policy itself). These bounds keep ``initial_delay * multiplier **
#: (max_attempts - 1)``, which a delay computes before capping it at ``max_delay``, within the
#: float range (86400 * 10**299 at most), and the longest wait, ``max_delay *
#: rate_limited_factor``, a valid timeout.
RECONNECT_RANGES: Final = {
    "max_attempts": Range(1, 300, integer=True),
    "initial_delay": _SECONDS,
    "max_delay": _SECONDS,
    "multiplier": Range(0, 10, above=True),
    "budget": _SECONDS,
    "rate_limited_factor": Range(0, 100, above=True),
    "buffer_seconds": _SECONDS,
    "answer_timeout": _SECONDS,
}


def check_settings(holder: object, ranges: Mapping[str, Range]) -> None:
    """Check each attribute of ``holder`` named in ``ranges`` (session options, a client with
    :data:`CLIENT_RANGES`, a reconnect policy with :data:`RECONNECT_RANGES`).

    Raises:
        ConfigError: naming the first setting out of its range.
    """
    for option, allowed in ranges.items():
        check_number(option, getattr(holder, option), allowed)


def _enum(option: str, enum_type: Any, allowed: Iterable[Any]) -> Callable[[Any], Any]:
    allowed = tuple(allowed)

    def convert(value: Any) -> Any:
        try:
            result = enum_type(value)
        except ValueError:
            result = None
        if result not in allowed:
            names = ", ".join(repr(str(a)) for a in allowed)
            raise invalid_option(option, value, f"allowed values are {names}")
        return result

    return convert


def _strings(option: str) -> Callable[[Any], tuple[str, ...] | None]:
    def convert(value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        try:
            items = tuple(value)
        except TypeError:
            raise invalid_option(option, value, "expected a string or a list of strings") from None
        if not all(isinstance(item, str) for item in items):
            raise invalid_option(option, value, "expected a string or a list of strings")
        return items

    return convert


def _check_bool(option: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise invalid_option(option, value, "expected True or False")


def _check_language(option: str, value: str) -> None:
    if not _LANGUAGE_RE.match(value):
        raise invalid_option(
            option,
            value,
            "expected a lowercase ISO 639-1 or ISO 639-3 code such as 'en' or 'eng' "
            "(region tags such as 'en-US' are refused by the service)",
        )


def _check_entities(option: str, values: tuple[str, ...] | None) -> None:
    if values is None:
        return
    if not values:
        raise invalid_option(option, list(values), "expected at least one entity category or type")
    for value in values:
        if not _ENTITY_RE.match(value):
            raise invalid_option(
                option,
                value,
                f"expected {', '.join(map(repr, ENTITY_CATEGORIES))} "
                "or a specific entity type such as 'email_address'",
            )


_FIELDS_DOC: Final = "see SessionOptions for the list"
# None: not sent, the server's default applies.
_SESSION_RANGES: Final = {
    "vad_silence_threshold_secs": Range(0.3, 3.0, none_ok=True),
    "vad_threshold": Range(0.1, 0.9, none_ok=True),
    "min_speech_duration_ms": Range(50, 2000, integer=True, none_ok=True),
    "min_silence_duration_ms": Range(50, 2000, integer=True, none_ok=True),
}

# Named converters: mypy's attrs plugin only understands named functions as converters.
_audio_format_converter = _enum("audio_format", AudioFormat, AudioFormat)
# turn_prediction is in the SDK's generated enum only (docs/protocol.md §7, Q14): not offered.
_commit_strategy_converter = _enum(
    "commit_strategy", CommitStrategy, (CommitStrategy.MANUAL, CommitStrategy.VAD)
)
_secondary_languages_converter = _strings("secondary_languages")
_keyterms_converter = _strings("keyterms")
_entity_detection_converter = _strings("entity_detection")
_entity_redaction_converter = _strings("entity_redaction")


def _to_audio_format(value: Any) -> AudioFormat:
    result: AudioFormat = _audio_format_converter(value)
    return result


def _to_commit_strategy(value: Any) -> CommitStrategy:
    result: CommitStrategy = _commit_strategy_converter(value)
    return result


def _to_secondary_languages(value: Any) -> tuple[str, ...] | None:
    return _secondary_languages_converter(value)


def _to_keyterms(value: Any) -> tuple[str, ...] | None:
    return _keyterms_converter(value)


def _to_entity_detection(value: Any) -> tuple[str, ...] | None:
    return _entity_detection_converter(value)


def _to_entity_redaction(value: Any) -> tuple[str, ...] | None:
    return _entity_redaction_converter(value)


@attrs.frozen(kw_only=True)
class SessionOptions:
    """Every query parameter of a realtime session (docs/protocol.md §2), validated on construction.

    Options left as ``None`` are not sent, so the server applies its own default; this matches
    what the official SDK sends for the same options. ``include_timestamps`` is always sent.

    Raises:
        ConfigError: an option is out of range, of the wrong type, or combined with an option it
            cannot be combined with. The message names the option, the value and what is allowed.
    """

    model_id: str = "scribe_v2_realtime"
    audio_format: AudioFormat = attrs.field(
        default=AudioFormat.PCM_16000, converter=_to_audio_format
    )
    commit_strategy: CommitStrategy = attrs.field(
        default=CommitStrategy.MANUAL, converter=_to_commit_strategy
    )
    vad_silence_threshold_secs: float | None = None
    vad_threshold: float | None = None
    min_speech_duration_ms: int | None = None
    min_silence_duration_ms: int | None = None
    language_code: str | None = None
    secondary_languages: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_secondary_languages
    )
    include_timestamps: bool = False
    include_language_detection: bool | None = None
    keyterms: tuple[str, ...] | None = attrs.field(default=None, converter=_to_keyterms)
    no_verbatim: bool | None = None
    filter_background_audio: bool | None = None
    enable_logging: bool | None = None
    entity_detection: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_entity_detection
    )
    entity_redaction: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_entity_redaction
    )
    entity_redaction_mode: str | None = None
    transcript_edit: str | None = None
    # Speaker diarization: the parameter name is from SDK 2.78 docstrings only (docs/protocol.md
    # §4.7, Q15), not exposed by the SDK helper and unverified against the live service.
    diarize: bool | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.model_id, str) or not _MODEL_RE.match(self.model_id):
            # Model ids are not checked against a list: the service adds models faster than
            # clients ship (docs/protocol.md §7, Q13) and answers an unknown one with
            # invalid_request.
            raise invalid_option(
                "model_id", self.model_id, "expected a model id such as 'scribe_v2_realtime'"
            )
        check_settings(self, _SESSION_RANGES)
        if self.language_code is not None:
            if not isinstance(self.language_code, str):
                raise invalid_option("language_code", self.language_code, "expected a string")
            _check_language("language_code", self.language_code)
        for language in self.secondary_languages or ():
            _check_language("secondary_languages", language)
        for option in (
            "include_language_detection",
            "no_verbatim",
            "filter_background_audio",
            "enable_logging",
            "diarize",
        ):
            _check_bool(option, getattr(self, option))
        _check_bool("include_timestamps", self.include_timestamps, optional=False)
        self._check_keyterms()
        _check_entities("entity_detection", self.entity_detection)
        _check_entities("entity_redaction", self.entity_redaction)
        self._check_redaction_and_edit()

    def _check_keyterms(self) -> None:
        if self.keyterms is None:
            return
        if len(self.keyterms) > MAX_KEYTERMS:
            raise invalid_option(
                "keyterms",
                f"<{len(self.keyterms)} terms>",
                f"at most {MAX_KEYTERMS} keyterms are allowed",
            )
        for term in self.keyterms:
            if not 0 < len(term) <= MAX_KEYTERM_LENGTH:
                raise invalid_option(
                    "keyterms",
                    term,
                    f"each keyterm must be 1 to {MAX_KEYTERM_LENGTH} characters "
                    f"(this one is {len(term)})",
                )

    def _check_redaction_and_edit(self) -> None:
        mode = self.entity_redaction_mode
        if mode is not None:
            if mode not in ENTITY_REDACTION_MODES:
                raise invalid_option(
                    "entity_redaction_mode",
                    mode,
                    f"allowed values are {', '.join(map(repr, ENTITY_REDACTION_MODES))}",
                )
            if self.entity_redaction is None:
                raise invalid_option(
                    "entity_redaction_mode", mode, "only valid with entity_redaction set"
                )
        edit = self.transcript_edit
        if edit is not None:
            if not isinstance(edit, str) or not 0 < len(edit) <= MAX_TRANSCRIPT_EDIT_LENGTH:
                raise invalid_option(
                    "transcript_edit",
                    edit if not isinstance(edit, str) else f"<{len(edit)} characters>",
                    f"expected an instruction of 1 to {MAX_TRANSCRIPT_EDIT_LENGTH} characters",
                )
            for other in ("entity_detection", "entity_redaction"):
                if getattr(self, other) is not None:
                    raise invalid_option(
                        "transcript_edit", "<set>", f"cannot be combined with {other}"
                    )
        if self.filter_background_audio and self.include_timestamps:
            # The live service refuses this pair with invalid_request (docs/protocol.md §2, CAP-C).
            raise invalid_option(
                "filter_background_audio",
                True,
                "cannot be combined with include_timestamps=True "
                "(the service does not support it yet)",
            )

    @classmethod
    def from_kwargs(cls, **options: Any) -> SessionOptions:
        """Build options from keyword arguments, refusing unknown names with a suggestion."""
        # difflib is imported here, on this rare error path: it is slow to import.
        from difflib import get_close_matches

        known = attrs.fields_dict(cls)
        for name in options:
            if name not in known:
                close = get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; {_FIELDS_DOC}"
                raise ConfigError(f"unknown session option {name!r}{hint}", option=name)
        return cls(**options)

    @property
    def sample_rate(self) -> int:
        """The sample rate implied by ``audio_format``."""
        return self.audio_format.sample_rate

    @property
    def expects_timestamped_twin(self) -> bool:
        """Whether each commit is also answered with ``committed_transcript_with_timestamps``."""
        return bool(self.include_timestamps or self.include_language_detection)

