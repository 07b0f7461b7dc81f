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

Faults are entries of the catalogue in :mod:`mock_server.faults` (``action`` names the class,
the other keys are its fields); the README's fault table lists them all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import attrs

from .actions import DEFAULT_ERROR_TEXTS, ERROR_TYPES, close_for_error
from .faults import FAULTS, TRIGGERS, Fault, RandomFaults, fault_from_dict
from .script import Utterance, parse_script
from .validation import MockConfigError, at_least, read_config_file

__all__ = [
    "DEFAULT_ERROR_TEXTS",
    "ERROR_TYPES",
    "FAULTS",
    "TRIGGERS",
    "Delay",
    "Fault",
    "RandomFaults",
    "Scenario",
    "close_for_error",
    "load_scenario",
]


def _opt_tuple(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class Delay:
    """Delay outgoing messages by ``fixed_secs`` plus a seeded uniform ``[0, jitter_secs]``.

    Order is preserved. ``message_types`` limits the delay to those message types.
    """

    fixed_secs: float = attrs.field(default=0.0, validator=at_least(0))
    jitter_secs: float = attrs.field(default=0.0, validator=at_least(0))
    seed: int = attrs.field(default=0, validator=at_least(-(2**63), integer=True))
    message_types: tuple[str, ...] | None = attrs.field(default=None, converter=_opt_tuple)


def _faults(value: Any) -> tuple[Fault, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise MockConfigError("faults", "a list of fault objects", value)
    faults = []
    for item in value:
        if not isinstance(item, (Fault, Mapping)):
            raise MockConfigError("faults", "a list of fault objects", item)
        faults.append(item if isinstance(item, Fault) else fault_from_dict(item))
    return tuple(faults)


def _delay(value: Any) -> Delay | None:
    if value is None or isinstance(value, Delay):
        return value
    if not isinstance(value, Mapping):
        raise MockConfigError("delay", "an object such as {\"fixed_secs\": 0.05}", value)
    return Delay(**value)


def _random_faults(value: Any) -> RandomFaults | None:
    if value is None or isinstance(value, RandomFaults):
        return value
    if not isinstance(value, Mapping):
        raise MockConfigError("random_faults", "an object such as {\"rate\": 0.01}", value)
    return RandomFaults(**value)


@attrs.frozen
class Scenario:
    """Scripted behaviour for the sessions it applies to. See the module docstring."""

    name: str = ""
    transcript: tuple[Utterance, ...] | None = attrs.field(default=None, converter=parse_script)
    faults: tuple[Fault, ...] = attrs.field(default=(), converter=_faults)
    delay: Delay | None = attrs.field(default=None, converter=_delay)
    random_faults: RandomFaults | None = attrs.field(
        default=None, converter=_random_faults
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build a scenario from its JSON form (raises ``TypeError``/``ValueError`` if bad)."""
        if not isinstance(data, Mapping):
            raise MockConfigError("scenario", "a JSON object", data)
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MockConfigError("scenario", f"an object with fields {', '.join(sorted(known))}",
                                  unknown[0])
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        result: dict[str, Any] = attrs.asdict(
            self, filter=lambda a, v: a.name not in ("faults", "transcript")
        )
        result["faults"] = [fault.to_dict() for fault in self.faults]
        result["transcript"] = (
            None if self.transcript is None else [u.to_dict() for u in self.transcript]
        )
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
    return Scenario.from_dict(json.loads(read_config_file(source)))
