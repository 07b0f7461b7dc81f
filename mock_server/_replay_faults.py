"""The fault catalogue over a replay: a scenario's faults (:mod:`mock_server.faults`) applied to
recorded frames at the same trigger points as on the engine.

- ``connect`` before the recording's first frame; ``start`` right after its
  ``session_started``;
- ``chunks`` and ``audio`` after the replaying client's chunk that reaches the count or the
  seconds;
- ``commit`` at the count-th recorded answer (a ``committed_transcript`` and the timestamped
  twin right after it): faults that rewrite an answer (``duplicate_commit``,
  ``reorder_commit``) rewrite that one; the others act after it.

What a fault adds is sent after the recorded frames of the same point; a close, a drop or a
stall ends the replay there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .actions import Action, Send
from .faults import Fault, FaultEffects

__all__ = ["FaultLayer"]

#: The frames of one commit's answer that answer-rewriting faults work on.
_ANSWER: Final = ("committed_transcript", "committed_transcript_with_timestamps")


def _kind(action: Action) -> Any:
    if isinstance(action, Send) and isinstance(action.payload, dict):
        return action.payload.get("message_type")
    return None


class FaultLayer:
    """A scenario's faults over one replayed session. Not thread-safe; one per connection."""

    def __init__(self, faults: Sequence[Fault]) -> None:
        self._faults = list(faults)
        self._armed: list[Fault] = []  # answer faults that fired away from a commit
        self.answered = 0  # recorded answers sent
        self.stalled = False  # a stall fired: send nothing more
        self.ended = False  # a close or drop was added

    def __bool__(self) -> bool:
        return bool(self._faults or self._armed)

    def apply(self, when: str, batch: list[Action], *, chunks: int, audio_secs: float
              ) -> list[Action]:
        """The batch of replayed actions with the faults due at ``when`` applied to it."""
        if when == "commit":
            return self._commits(batch, chunks=chunks, audio_secs=audio_secs)
        effects = FaultEffects()
        self._run(when, effects, chunks=chunks, audio_secs=audio_secs)
        return self._close(list(batch), effects)

    def _commits(self, batch: list[Action], *, chunks: int, audio_secs: float) -> list[Action]:
        out: list[Action] = []
        i = 0
        while i < len(batch):
            if _kind(batch[i]) != "committed_transcript":
                out.append(batch[i])
                i += 1
                continue
            end = i + 1
            while end < len(batch) and _kind(batch[end]) == _ANSWER[1]:
                end += 1
            group = batch[i:end]
            delay = group[0].delay if isinstance(group[0], Send) else 0.0
            self.answered += 1
            effects = FaultEffects(answer=[dict(a.payload) for a in group
                                           if isinstance(a, Send) and isinstance(a.payload, dict)])
            armed, self._armed = self._armed, []
            for fault in armed:
                fault.apply(effects)
            self._run("commit", effects, chunks=chunks, audio_secs=audio_secs)
            out.extend(Send(message, delay) for message in effects.answer or [])
            out = self._close(out, effects)
            if self.stalled or self.ended:
                return out
            i = end
        return out

    def _run(self, when: str, effects: FaultEffects, *, chunks: int, audio_secs: float) -> None:
        for fault in list(self._faults):
            if effects.ended:
                break
            if fault.due(when, chunks=chunks, commits=self.answered, audio_secs=audio_secs):
                self._faults.remove(fault)
                fault.apply(effects)

    def _close(self, out: list[Action], effects: FaultEffects) -> list[Action]:
        out.extend(effects.out)
        self._armed.extend(effects.armed)
        if effects.stall:
            self.stalled = True
        if any(not isinstance(action, Send) for action in effects.out):
            self.ended = True
        return out
