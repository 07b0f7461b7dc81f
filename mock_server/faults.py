"""The fault catalogue: one small frozen class per scripted fault, and the registry of them.

A fault says *what* happens (its class, named in JSON by ``action``) and *when* (the trigger
fields every fault shares):

- ``when``: ``connect`` (before ``session_started``), ``start`` (right after it), ``chunks``
  (after the ``count``-th received chunk), ``audio`` (once ``seconds`` of audio were received),
  ``commit`` (on the ``count``-th commit: after its answer, or, for the faults that rewrite an
  answer, to that answer itself);
- ``session``: only in the n-th session (1-based) opened under the scenario.

Adding a fault is one class here: subclass :class:`Fault`, set ``action``, write ``apply``
(which only touches the :class:`FaultEffects` it is given), and decorate it with
:func:`register`. Its docstring's first paragraph is its row in the README's fault table
(``python -m mock_server.faults`` prints the table; a test checks the README has it verbatim).

The engine calls ``apply`` when a fault is due. :class:`FaultEffects` carries what faults may
change: frames to send after the trigger point, a stall, and (at a commit) the commit's answer
before it is sent.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, TypeVar

import attrs

from scribe_sync._framing import sendable_close_code

from .actions import DEFAULT_ERROR_TEXTS, ERROR_TYPES, Action, Close, Drop, Send, close_for_error
from .validation import MockConfigError, at_least, between, optional

__all__ = [
    "FAULTS",
    "TRIGGERS",
    "BinaryFault",
    "CloseFault",
    "DropFault",
    "DuplicateCommit",
    "ErrorFault",
    "Fault",
    "FaultEffects",
    "GarbageFault",
    "RandomFaults",
    "ReorderCommit",
    "SendFault",
    "StallFault",
    "fault_from_dict",
    "fault_table",
    "register",
]

TRIGGERS: Final = ("connect", "start", "chunks", "audio", "commit")
PLAIN: Final = "committed_transcript"
STAMPED: Final = "committed_transcript_with_timestamps"


def _check_in(allowed: tuple[str, ...]) -> Callable[[object, Any, object], None]:
    def check(instance: object, attribute: Any, value: object) -> None:
        if value not in allowed:
            raise ValueError(f"{attribute.name} must be one of {', '.join(allowed)}: {value!r}")

    return check


@attrs.define(eq=False)
class FaultEffects:
    """What the faults due at one trigger point do; the engine reads it back.

    ``answer`` is the list of messages answering the current commit (only at a ``commit``
    trigger, ``None`` elsewhere); faults may rewrite it in place before it is sent. ``out``
    holds the actions to perform after the trigger point (after the answer, at a commit).
    ``armed`` collects answer faults that fired away from a commit: they apply to the next one.
    """

    answer: list[dict[str, Any]] | None = None
    out: list[Action] = attrs.field(factory=list)
    stall: bool = False
    armed: list[Fault] = attrs.field(factory=list)

    def send(self, payload: dict[str, Any] | str | bytes) -> None:
        """Send a frame after the trigger point."""
        self.out.append(Send(payload))

    @property
    def ended(self) -> bool:
        """The session sends nothing more: closed, dropped or stalled."""
        return self.stall or any(not isinstance(action, Send) for action in self.out)


def _close_code(instance: Any, attribute: Any, value: Any) -> None:
    between(1000, 4999, integer=True)(instance, attribute, value)
    if not sendable_close_code(value):  # the client's own rule (RFC 6455 §7.4.1)
        raise MockConfigError(attribute.name, "a code a close frame may carry: 1000-1003, "
                              "1007-1014 or 3000-4999", value)


@attrs.frozen(kw_only=True)
class Fault:
    """Base of every fault: the trigger fields. Subclasses set ``action`` and ``apply``."""

    action: ClassVar[str] = ""

    when: str = attrs.field(default="connect", validator=_check_in(TRIGGERS))
    count: int = attrs.field(default=1, validator=at_least(1, integer=True))
    seconds: float = attrs.field(default=0.0, validator=at_least(0))
    session: int | None = attrs.field(
        default=None, validator=optional(at_least(1, integer=True), "every session")
    )

    def due(self, when: str, *, chunks: int, commits: int, audio_secs: float) -> bool:
        """Whether this fault fires at this trigger point."""
        if when != self.when:
            return False
        if when == "chunks":
            return chunks == self.count
        if when == "commit":
            return commits == self.count
        if when == "audio":
            return audio_secs >= self.seconds - 1e-9
        return True

    def apply(self, effects: FaultEffects) -> None:
        """Do the fault."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``action`` first)."""
        fields = attrs.asdict(self, recurse=False)
        if isinstance(fields.get("payload"), Mapping):
            fields["payload"] = dict(fields["payload"])
        return {"action": self.action, **fields}


FaultT = TypeVar("FaultT", bound=type[Fault])

#: action name -> fault class, in README order. Filled by :func:`register`.
FAULTS: Final[dict[str, type[Fault]]] = {}


def register(cls: FaultT) -> FaultT:
    """Add a fault class to the catalogue under its ``action``."""
    if not cls.action or cls.action in FAULTS:
        raise ValueError(f"fault action must be new and non-empty: {cls.action!r}")
    FAULTS[cls.action] = cls
    return cls


@register
@attrs.frozen(kw_only=True)
class ErrorFault(Fault):
    """Send the server error ``error_type`` with ``message`` (default: its usual text), then close
    as the service does after it, unless ``close`` is false. A ``code`` other than 1000 or a
    non-empty ``reason`` replaces that close (1000 with the error type as reason; 1000 "" after
    auth_error; 1008 after invalid_request)."""

    action: ClassVar[str] = "error"

    error_type: str = attrs.field(default="error", validator=_check_in(ERROR_TYPES))
    message: str | None = None
    close: bool = True
    code: int = attrs.field(default=1000, validator=_close_code)
    reason: str = ""

    @property
    def error_text(self) -> str:
        """The message sent."""
        if self.message is not None:
            return self.message
        return DEFAULT_ERROR_TEXTS.get(self.error_type, DEFAULT_ERROR_TEXTS["error"])

    def apply(self, effects: FaultEffects) -> None:
        effects.send({"message_type": self.error_type, "error": self.error_text})
        if self.close:
            code, reason = close_for_error(self.error_type)
            if self.code != 1000 or self.reason:
                code, reason = self.code, self.reason
            effects.out.append(Close(code, reason))


@register
@attrs.frozen(kw_only=True)
class DropFault(Fault):
    """Abort the TCP connection: no close frame (the client sees 1006)."""

    action: ClassVar[str] = "drop"

    def apply(self, effects: FaultEffects) -> None:
        effects.out.append(Drop())


@register
@attrs.frozen(kw_only=True)
class CloseFault(Fault):
    """Close with ``code`` and ``reason`` (default 1000, no reason) and no message first."""

    action: ClassVar[str] = "close"

    code: int = attrs.field(default=1000, validator=_close_code)
    reason: str = ""

    def apply(self, effects: FaultEffects) -> None:
        effects.out.append(Close(self.code, self.reason))


@register
@attrs.frozen(kw_only=True)
class StallFault(Fault):
    """Stop answering: keep reading and journaling, send nothing more (a black hole at
    ``connect``)."""

    action: ClassVar[str] = "stall"

    def apply(self, effects: FaultEffects) -> None:
        effects.stall = True


@register
@attrs.frozen(kw_only=True)
class GarbageFault(Fault):
    """Send a text frame that is not JSON: ``data``, or a fixed default."""

    action: ClassVar[str] = "garbage"

    data: str | None = None

    def apply(self, effects: FaultEffects) -> None:
        effects.send(self.data if self.data is not None else "\u0000garbage{not json")


@register
@attrs.frozen(kw_only=True)
class BinaryFault(Fault):
    """Send a binary frame: ``data`` encoded as UTF-8, or fixed default bytes."""

    action: ClassVar[str] = "binary"

    data: str | None = None

    def apply(self, effects: FaultEffects) -> None:
        effects.send(self.data.encode() if self.data is not None else b"\x00\xffgarbage")


def _opt_mapping(value: Any) -> Mapping[str, Any] | None:
    return None if value is None else dict(value)


@register
@attrs.frozen(kw_only=True)
class SendFault(Fault):
    """Send any JSON object ``payload`` (default: an unknown ``message_type``)."""

    action: ClassVar[str] = "send"

    payload: Mapping[str, Any] | None = attrs.field(default=None, converter=_opt_mapping)

    def apply(self, effects: FaultEffects) -> None:
        effects.send(dict(self.payload or {"message_type": "mock_unknown_event"}))


def _index(answer: list[dict[str, Any]], message_type: str) -> int | None:
    for i, message in enumerate(answer):
        if message.get("message_type") == message_type:
            return i
    return None


@register
@attrs.frozen(kw_only=True)
class DuplicateCommit(Fault):
    """A server bug: the commit's answer (`committed_transcript` and its timestamped twin) is
    sent twice, the repeat with the same word times. Only answers with word timestamps and at
    least one word are repeated: a client detects the repeat because its first word starts
    before the previous answer's last word ends (a new segment's words start at or after it on
    the session clock); a repeat without word times could not be told from the next commit's
    answer."""

    action: ClassVar[str] = "duplicate_commit"

    def apply(self, effects: FaultEffects) -> None:
        answer = effects.answer
        if answer is None:
            effects.armed.append(self)
            return
        plain, stamped = _index(answer, PLAIN), _index(answer, STAMPED)
        if plain is None or stamped is None or not answer[stamped].get("words"):
            return
        first, last = min(plain, stamped), max(plain, stamped) + 1
        answer[last:last] = copy.deepcopy(answer[first:last])


@register
@attrs.frozen(kw_only=True)
class ReorderCommit(Fault):
    """The commit's `committed_transcript` and its timestamped twin swap places (seen live,
    mostly for empty text). Nothing happens to an answer without a twin: it is never
    duplicated."""

    action: ClassVar[str] = "reorder_commit"

    def apply(self, effects: FaultEffects) -> None:
        answer = effects.answer
        if answer is None:
            effects.armed.append(self)
            return
        plain, stamped = _index(answer, PLAIN), _index(answer, STAMPED)
        if plain is not None and stamped is not None:
            answer[plain], answer[stamped] = answer[stamped], answer[plain]


def fault_from_dict(data: Mapping[str, Any]) -> Fault:
    """A fault from its JSON form; ``ValueError`` names a wrong action or field."""
    fields = dict(data)
    action = fields.pop("action", None)
    cls = FAULTS.get(action) if isinstance(action, str) else None
    if cls is None:
        raise ValueError(f"fault action must be one of {', '.join(FAULTS)}: {action!r}")
    known = {field.name for field in attrs.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(
            f"fault {action!r} has no field {unknown[0]!r}; its fields: {', '.join(sorted(known))}"
        )
    return cls(**fields)


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value)


def _check_actions(instance: object, attribute: Any, value: tuple[str, ...]) -> None:
    for action in value:
        if action not in FAULTS:
            raise ValueError(f"{attribute.name} must be among {', '.join(FAULTS)}: {action!r}")


@attrs.frozen
class RandomFaults:
    """Seeded random faults for soak tests: each received chunk triggers one with ``rate``.

    The random stream of the n-th session is seeded with ``f"{seed}:{n}"``, so a run is
    reproducible session by session. ``actions`` are catalogue names; an ``error`` draws its
    type from ``error_types``; a drawn answer fault applies to the next commit's answer.

    The default ``actions`` are the faults every stream can meet: ``duplicate_commit`` is not
    among them, because it repeats only answers with word timestamps, so a stream that did
    not ask for them (a typical soak) would draw it and see nothing. Name it in ``actions``
    to soak a client's handling of repeated answers with ``include_timestamps`` on.
    """

    seed: int = attrs.field(default=0, validator=at_least(-(2**63), integer=True))
    rate: float = attrs.field(default=0.01, validator=between(0.0, 1.0))
    actions: tuple[str, ...] = attrs.field(
        default=("drop", "close", "garbage", "error", "stall"),
        converter=_tuple,
        validator=_check_actions,
    )
    error_types: tuple[str, ...] = attrs.field(
        default=("transcriber_error", "resource_exhausted", "queue_overflow", "error"),
        converter=_tuple,
        validator=attrs.validators.deep_iterable(_check_in(ERROR_TYPES)),
    )

    def draw(self, rng: random.Random) -> Fault | None:
        """The fault of one received chunk, if any."""
        if rng.random() >= self.rate:
            return None
        cls = FAULTS[rng.choice(self.actions)]
        error_type = rng.choice(self.error_types)
        if cls is ErrorFault:
            return ErrorFault(when="chunks", error_type=error_type)
        return cls(when="chunks")


def fault_table() -> str:
    """The README's fault table, generated from the catalogue."""
    rows = [
        "| `action` | class | fields (besides the trigger) | what it does |",
        "|---|---|---|---|",
    ]
    base = {field.name for field in attrs.fields(Fault)}
    for action, cls in FAULTS.items():
        fields = [field.name for field in attrs.fields(cls) if field.name not in base]
        shown = ", ".join(f"`{name}`" for name in fields) or "none"
        text = " ".join((cls.__doc__ or "").split("\n\n")[0].split()).replace("``", "`")
        rows.append(f"| `{action}` | `{cls.__name__}` | {shown} | {text} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(fault_table(), end="")
