"""The fault catalogue: registry, JSON loading, and the guide's table generated from it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import pytest

from mock_server import FAULTS, Scenario, load_scenario
from mock_server.actions import Close, Drop, Send
from mock_server.faults import (
    DuplicateCommit,
    ErrorFault,
    Fault,
    FaultEffects,
    RandomFaults,
    ReorderCommit,
    fault_from_dict,
    fault_table,
)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def test_guide_fault_table_is_the_generated_one() -> None:
    """The guide's fault table (docs/testing.md) is exactly what the registry generates."""
    text = GUIDE.read_text(encoding="utf-8")
    match = re.search(r"<!-- fault-table:start -->\n(.*?)<!-- fault-table:end -->", text, re.S)
    assert match, "docs/testing.md has no generated fault table"
    assert match.group(1) == fault_table()


@pytest.mark.parametrize("action", list(FAULTS))
def test_every_fault_round_trips_through_its_json_form(action: str) -> None:
    """Each catalogue entry loads from and dumps to its JSON form; frozen; own apply."""
    cls = FAULTS[action]
    fault = cls(when="chunks", count=2, session=3)
    data = fault.to_dict()
    assert data["action"] == action
    assert fault_from_dict(data) == fault
    assert cls.apply is not Fault.apply
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fault.count = 5  # type: ignore[misc]


def test_json_loading_names_the_wrong_action_or_field() -> None:
    """A bad action or a field the fault does not have is refused with a clear message."""
    with pytest.raises(ValueError, match="fault action must be one of error, drop"):
        fault_from_dict({"action": "explode"})
    with pytest.raises(ValueError, match="fault 'drop' has no field 'error_type'"):
        load_scenario({"faults": [{"action": "drop", "error_type": "quota_exceeded"}]})
    with pytest.raises(ValueError, match="when must be one of"):
        fault_from_dict({"action": "drop", "when": "later"})
    with pytest.raises(ValueError, match="error_type must be one of"):
        fault_from_dict({"action": "error", "error_type": "oops"})
    with pytest.raises(ValueError, match="actions must be among"):
        RandomFaults(actions=("drop", "explode"))


def test_scenario_json_form_is_unchanged() -> None:
    """Scenarios written for the old single Fault class load into catalogue classes."""
    scenario = load_scenario(
        '{"faults": [{"action": "error", "when": "commit", "count": 2,'
        ' "error_type": "quota_exceeded", "close": false},'
        ' {"action": "send", "when": "start", "payload": {"message_type": "warning"}}]}'
    )
    assert scenario.faults == (
        ErrorFault(when="commit", count=2, error_type="quota_exceeded", close=False),
        FAULTS["send"](when="start", payload={"message_type": "warning"}),
    )
    assert Scenario.from_dict(scenario.to_dict()) == scenario


def _answer(timestamps: bool) -> list[dict[str, Any]]:
    plain = {"message_type": "committed_transcript", "text": "a b"}
    if not timestamps:
        return [plain]
    words = [{"text": "a", "start": 0.0, "end": 0.4, "type": "word"}]
    return [plain, {"message_type": "committed_transcript_with_timestamps", "text": "a b",
                    "language_code": None, "words": words}]


def test_answer_faults_rewrite_the_answer_or_arm_for_the_next() -> None:
    """Answer faults change a commit's answer; away from a commit they wait for the next."""
    effects = FaultEffects(answer=_answer(True))
    ReorderCommit(when="commit").apply(effects)
    assert [m["message_type"] for m in effects.answer or []] == [
        "committed_transcript_with_timestamps", "committed_transcript"]
    effects = FaultEffects(answer=_answer(False))
    ReorderCommit(when="commit").apply(effects)
    DuplicateCommit(when="commit").apply(effects)
    assert effects.answer == _answer(False)
    away = FaultEffects()
    fault = DuplicateCommit(when="chunks")
    fault.apply(away)
    assert away.armed == [fault] and away.out == []


def test_terminal_faults_end_the_session() -> None:
    """error (closing), drop and close end the session; a non-closing error does not."""
    for fault, expected in [
        (ErrorFault(error_type="auth_error"), [Close(1000, "")]),
        (FAULTS["drop"](), [Drop()]),
        (FAULTS["close"](code=4000, reason="x"), [Close(4000, "x")]),
    ]:
        effects = FaultEffects()
        fault.apply(effects)
        assert effects.ended
        assert [a for a in effects.out if not isinstance(a, Send)] == expected
    effects = FaultEffects()
    ErrorFault(close=False).apply(effects)
    assert not effects.ended
