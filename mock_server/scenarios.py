"""Scenarios: scripted faults, delays and transcripts, as JSON files or Python objects.

A scenario is selected per API key (so an unmodified client picks one just by the key it
uses), globally, or through the admin API. Example JSON::

    {
      "name": "quota-after-two-commits",
      "transcript": "hello from the mock",
      "faults": [
        {"action": "error", "when": "commit", "count": 2, "error_type": "quota_exceeded"},
        {"action": "drop", "when": "audio", "seconds": 5.0, "session": 2}
      ],
      "delay": {"fixed_secs": 0.05, "jitter_secs": 0.02, "seed": 7,
                "message_types": ["committed_transcript"]},
      "random_faults": {"seed": 1, "rate": 0.01}
    }

Fault ``action``:
  ``error`` (send ``error_type`` with ``message`` or its default text, then close unless
  ``close`` is false), ``drop`` (abort TCP, no close frame), ``close`` (close frame with ``code``
  and ``reason``), ``stall`` (stop answering; keep reading), ``garbage`` (a non-JSON text frame:
  ``data`` or a fixed default), ``binary`` (a binary frame), ``send`` (any JSON ``payload``, e.g.
  an unknown ``message_type``), ``duplicate_commit`` / ``reorder_commit`` (the committed pair of
  that commit twice / timestamped first).
Fault ``when``:
  ``connect`` (before ``session_started``), ``start`` (right after it), ``chunks`` (after the
  ``count``-th received chunk), ``audio`` (once ``seconds`` of audio were received), ``commit``
  (after the ``count``-th commit is answered).
``session`` limits a fault to the n-th session (1-based) opened under the scenario. For ``error``,
a ``code`` other than 1000 or a non-empty ``reason`` replaces the close that normally follows the
error (1000 with the error type as reason; 1000 "" for auth_error; 1008 for invalid_request).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Final

import attrs

__all__ = [
    "ACTIONS",
    "DEFAULT_ERROR_TEXTS",
    "ERROR_TYPES",
    "TRIGGERS",
    "Delay",
    "Fault",
    "RandomFaults",
    "Scenario",
    "load_scenario",
]

#: Every server error type of PROTOCOL.md §5.
ERROR_TYPES: Final = (
    "quota_exceeded",
    "rate_limited",
    "queue_overflow",
    "resource_exhausted",
    "transcriber_error",
    "unaccepted_terms",
    "error",
    "session_time_limit_exceeded",
    "insufficient_audio_activity",
    "chunk_size_exceeded",
    "auth_error",
    "invalid_request",
    "input_error",
    "commit_throttled",
)

#: Texts sent when a scenario names an error without a message. Live texts where PROTOCOL.md
#: quotes one (auth_error, quota_exceeded, input_error); the rest are invented.
DEFAULT_ERROR_TEXTS: Final = {
    "quota_exceeded": "You have exceeded your quota.",
    "rate_limited": "Too many concurrent requests. Please try again later.",
    "queue_overflow": "The processing queue is full. Please try again later.",
    "resource_exhausted": "The server is at capacity. Please try again later.",
    "transcriber_error": "An internal error occurred during transcription.",
    "unaccepted_terms": "You must accept the terms of service in the dashboard to use this model.",
    "error": "An unexpected error occurred.",
    "session_time_limit_exceeded": "The maximum session duration was reached.",
    "insufficient_audio_activity": "The connection was closed due to insufficient audio activity.",
    "chunk_size_exceeded": "The audio chunk exceeds the maximum allowed size.",
    "auth_error": "You must be authenticated to use this endpoint.",
    "invalid_request": "The request is invalid.",
    "input_error": "Message must be a valid protocol message",
    "commit_throttled": (
        "Commit request ignored: only 0.00s of uncommitted audio. "
        "You need at least 0.3s of uncommitted audio before committing."
    ),
}

ACTIONS: Final = (
    "error",
    "drop",
    "close",
    "stall",
    "garbage",
    "binary",
    "send",
    "duplicate_commit",
    "reorder_commit",
)
TRIGGERS: Final = ("connect", "start", "chunks", "audio", "commit")


def close_for_error(error_type: str) -> tuple[int, str]:
    """The close frame that follows a fatal error (PROTOCOL.md §5).

    Observed: auth_error -> 1000 with an empty reason; invalid_request -> 1008
    "invalid_request"; commit_throttled -> 1000 "commit_throttled". Others follow the last
    pattern (1000, reason = the error type) — an inference.
    """
    if error_type == "auth_error":
        return 1000, ""
    if error_type == "invalid_request":
        return 1008, "invalid_request"
    return 1000, error_type


def _check_in(allowed: tuple[str, ...]) -> Any:
    def check(instance: object, attribute: Any, value: object) -> None:
        if value not in allowed:
            raise ValueError(f"{attribute.name} must be one of {', '.join(allowed)}: {value!r}")

    return check


@attrs.frozen
class Fault:
    """One scripted fault: what happens, and when."""

    action: str = attrs.field(validator=_check_in(ACTIONS))
    when: str = attrs.field(default="connect", validator=_check_in(TRIGGERS))
    count: int = 1
    seconds: float = 0.0
    error_type: str = "error"
    message: str | None = None
    close: bool = True
    code: int = 1000
    reason: str = ""
    data: str | None = None
    payload: Mapping[str, Any] | None = None
    session: int | None = None

    @property
    def error_text(self) -> str:
        """The message sent for an ``error`` action."""
        if self.message is not None:
            return self.message
        return DEFAULT_ERROR_TEXTS.get(self.error_type, DEFAULT_ERROR_TEXTS["error"])


def _opt_tuple(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Delay:
    """Delay outgoing messages by ``fixed_secs`` plus a seeded uniform ``[0, jitter_secs]``.

    Order is preserved. ``message_types`` limits the delay to those message types.
    """

    fixed_secs: float = 0.0
    jitter_secs: float = 0.0
    seed: int = 0
    message_types: tuple[str, ...] | None = attrs.field(default=None, converter=_opt_tuple)


@attrs.frozen
class RandomFaults:
    """Seeded random faults for soak tests: each received chunk triggers one with ``rate``.

    The random stream of the n-th session is seeded with ``f"{seed}:{n}"``, so a run is
    reproducible session by session.
    """

    seed: int = 0
    rate: float = 0.01
    actions: tuple[str, ...] = attrs.field(
        default=("drop", "close", "garbage", "error", "stall", "duplicate_commit"),
        converter=_tuple,
    )
    error_types: tuple[str, ...] = attrs.field(
        default=("transcriber_error", "resource_exhausted", "queue_overflow", "error"),
        converter=_tuple,
    )


def _faults(value: Any) -> tuple[Fault, ...]:
    return tuple(item if isinstance(item, Fault) else Fault(**item) for item in value)


def _delay(value: Any) -> Delay | None:
    if value is None or isinstance(value, Delay):
        return value
    return Delay(**value)


def _random_faults(value: Any) -> RandomFaults | None:
    if value is None or isinstance(value, RandomFaults):
        return value
    return RandomFaults(**value)


@attrs.frozen
class Scenario:
    """Scripted behaviour for the sessions it applies to. See the module docstring."""

    name: str = ""
    transcript: str | None = None
    faults: tuple[Fault, ...] = attrs.field(default=(), converter=_faults)
    delay: Delay | None = attrs.field(default=None, converter=_delay)
    random_faults: RandomFaults | None = attrs.field(
        default=None, converter=_random_faults
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build a scenario from its JSON form (raises ``TypeError``/``ValueError`` if bad)."""
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        result: dict[str, Any] = attrs.asdict(self)
        return result


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any] | Scenario) -> Scenario:
    """A scenario from an object, a dict, a JSON text or a JSON file path."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return Scenario.from_dict(source)
    text = str(source)
    if text.lstrip().startswith("{"):
        return Scenario.from_dict(json.loads(text))
    with open(source, encoding="utf-8") as handle:
        return Scenario.from_dict(json.load(handle))
