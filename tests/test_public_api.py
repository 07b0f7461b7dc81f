"""The public surface: exports, the decode table's coverage, the error table."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

import scribe_sync
from scribe_sync import (
    _transcribe,
    client,
    errors,
    messages,
    protocol,
    reconnect,
    session,
    transcript,
)

GOLDEN = Path(__file__).parent / "golden"
MODULES = [
    importlib.import_module(info.name)
    for info in pkgutil.walk_packages(scribe_sync.__path__, "scribe_sync.")
]


def test_top_level_all_is_exactly_the_reexported_public_names() -> None:
    """scribe_sync.__all__ is the __all__ of errors, messages, client and session, plus
    SessionOptions and __version__."""
    expected = (
        set(errors.__all__) | set(messages.__all__) | set(client.__all__) | set(session.__all__)
        | set(_transcribe.__all__) | {"SessionOptions", "Transcript", "__version__"}
        | {"AudioBufferFullError", "ReconnectPolicy", "Reconnected", "Reconnecting"}
    )
    assert set(scribe_sync.__all__) == expected
    assert len(scribe_sync.__all__) == len(set(scribe_sync.__all__))


def test_top_level_names_are_the_modules_objects() -> None:
    """Every top-level name resolves to the very object of the module that defines it."""
    for name in scribe_sync.__all__:
        obj = getattr(scribe_sync, name)
        for module in (errors, messages, protocol, client, session, _transcribe, transcript,
                       reconnect):
            if name in module.__all__:
                assert getattr(module, name) is obj, name


@pytest.mark.parametrize("module", [scribe_sync, *MODULES], ids=lambda m: m.__name__)
def test_every_module_has_an_all_that_resolves(module: object) -> None:
    """Every module declares __all__, and every name in it exists."""
    names = module.__all__  # type: ignore[attr-defined]
    assert isinstance(names, list)
    for name in names:
        assert hasattr(module, name), f"{module.__name__}.{name}"  # type: ignore[attr-defined]


def test_star_import_gives_exactly_all() -> None:
    """`from scribe_sync import *` binds the names of __all__ and nothing else."""
    namespace: dict[str, object] = {}
    exec("from scribe_sync import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(scribe_sync.__all__)


def test_version_is_a_release_string() -> None:
    """__version__ is a plain PEP 440 release string."""
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev)?\d*", scribe_sync.__version__)



#: Modules only a session needs: touching `scribe_sync.connect` must not load them (the first
#: connect() does), so that the start-up figure of benchmarks/micro.py stays near its baseline.
SESSION_STACK = {"scribe_sync.messages", "scribe_sync._options", "scribe_sync.protocol",
                 "scribe_sync.reconnect", "scribe_sync.session", "scribe_sync.transcript",
                 "json"}


def test_touching_connect_loads_the_client_but_not_the_session_stack() -> None:
    """`import scribe_sync; scribe_sync.connect` loads the client and its transport only."""
    code = ("import sys, scribe_sync; scribe_sync.connect; "
            "print(*sorted(m for m in sys.modules if m.startswith('scribe_sync') or m == 'json'))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True, timeout=60).stdout.split())
    assert {"scribe_sync.client", "scribe_sync._transport"} <= loaded
    assert loaded & SESSION_STACK == set()

# --- messages and the decode table ------------------------------------------------------------

PUBLIC_SERVER_EVENTS = {
    obj
    for name in messages.__all__
    if inspect.isclass(obj := getattr(messages, name))
    and issubclass(obj, messages.ServerEvent)
    and obj is not messages.ServerEvent
}


def golden_server_frames() -> list[str]:
    return [
        p.read_text(encoding="utf-8")
        for p in sorted(GOLDEN.glob("*.json"))
        if not p.name.startswith("client_")
    ]


def test_server_event_classes_are_exactly_the_public_server_events() -> None:
    """SERVER_EVENT_CLASSES lists every public ServerEvent class and nothing else."""
    assert set(protocol.SERVER_EVENT_CLASSES) == PUBLIC_SERVER_EVENTS
    assert len(protocol.SERVER_EVENT_CLASSES) == len(PUBLIC_SERVER_EVENTS)


def test_every_public_server_event_is_produced_by_decode() -> None:
    """Decoding the golden frames yields every public ServerEvent class."""
    produced = {type(protocol.decode(frame)) for frame in golden_server_frames()}
    assert produced == PUBLIC_SERVER_EVENTS


def test_every_decode_table_entry_has_a_golden_fixture() -> None:
    """Each message_type in the decode table is pinned by at least one golden frame."""
    seen = {json.loads(frame)["message_type"] for frame in golden_server_frames()}
    assert seen >= protocol.SERVER_MESSAGE_TYPES


@pytest.mark.parametrize(
    "cls",
    sorted(PUBLIC_SERVER_EVENTS - {messages.ErrorEvent, messages.UnknownEvent}, key=str),
    ids=lambda c: c.__name__,
)
def test_class_message_type_is_a_decode_table_key(cls: type) -> None:
    """Each event class's message_type is a key of the decode table (a class variable)."""
    assert cls.message_type in protocol.SERVER_MESSAGE_TYPES
    assert "message_type" not in attrs.fields_dict(cls)


def test_every_error_type_decodes_to_error_event() -> None:
    """Every wire error type in the error table is decoded to an ErrorEvent of that type."""
    for error_type in errors.SERVER_ERROR_TYPES:
        frame = json.dumps({"message_type": error_type, "error": "x"})
        assert protocol.decode(frame) == messages.ErrorEvent(error_type, "x")


MESSAGE_CLASSES = sorted(
    (getattr(messages, n) for n in messages.__all__ if attrs.has(getattr(messages, n))),
    key=lambda c: c.__name__,
)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_message_classes_are_frozen_and_slotted(cls: type) -> None:
    """Every message class is a frozen attrs class with __slots__ (no per-instance dict)."""
    assert "__slots__" in cls.__dict__
    field = attrs.fields(cls)[0]
    instance = cls(**{a.name: "x" for a in attrs.fields(cls) if a.default is attrs.NOTHING})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(instance, field.name, "y")
    assert not hasattr(instance, "__dict__")


# --- errors -----------------------------------------------------------------------------------

WIRE_ERRORS = {
    "error": errors.ServerError,
    "auth_error": errors.AuthError,
    "quota_exceeded": errors.QuotaExceededError,
    "commit_throttled": errors.CommitThrottledError,
    "transcriber_error": errors.TranscriberError,
    "unaccepted_terms": errors.UnacceptedTermsError,
    "unaccepted_terms_error": errors.UnacceptedTermsError,
    "rate_limited": errors.RateLimitedError,
    "input_error": errors.InputError,
    "invalid_request": errors.InvalidRequestError,
    "queue_overflow": errors.QueueOverflowError,
    "resource_exhausted": errors.ResourceExhaustedError,
    "session_time_limit_exceeded": errors.SessionTimeLimitExceededError,
    "chunk_size_exceeded": errors.ChunkSizeExceededError,
    "insufficient_audio_activity": errors.InsufficientAudioActivityError,
}


@pytest.mark.parametrize(("error_type", "cls"), sorted(WIRE_ERRORS.items()))
def test_wire_error_type_maps_to_its_exception(error_type: str, cls: type) -> None:
    """server_error_class() picks the documented class, whose error_type names the wire type."""
    assert errors.server_error_class(error_type) is cls
    # Both spellings of the terms error are one class; it keeps the name the server sends (Q11).
    canonical = "unaccepted_terms" if error_type == "unaccepted_terms_error" else error_type
    assert cls.error_type == canonical
    instance = cls("text", error_type=error_type, close_code=1000, close_reason="")
    assert isinstance(instance, errors.ServerError)
    assert instance.error_type == error_type
    assert instance.message == "text"
    assert str(instance) == f"{error_type}: text (connection closed with code 1000)"


def test_error_table_covers_every_error_type() -> None:
    """The codec's error types are exactly the documented wire error types (docs/protocol.md §5)."""
    assert set(WIRE_ERRORS) == errors.SERVER_ERROR_TYPES


def test_unknown_error_type_maps_to_server_error() -> None:
    """A wire error type this version does not know is a plain ServerError."""
    assert errors.server_error_class("brand_new_error") is errors.ServerError


EXCEPTIONS = {
    obj
    for obj in vars(errors).values()
    if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == errors.__name__
}


def test_every_exception_is_exported() -> None:
    """Every exception class defined in errors is in errors.__all__ and scribe_sync.__all__."""
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert names <= set(errors.__all__)
    assert names <= set(scribe_sync.__all__)


def test_exception_tree_matches_the_documented_shape() -> None:
    """The hierarchy drawn in errors' docstring holds, including the builtin bases."""
    for cls in EXCEPTIONS:
        assert issubclass(cls, errors.ScribeError)
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.LocalProtocolError, errors.ProtocolError)
    assert issubclass(errors.LocalProtocolError, RuntimeError)
    assert issubclass(errors.RemoteProtocolError, errors.ProtocolError)
    assert not issubclass(errors.RemoteProtocolError, ValueError)
    assert set(errors.ServerError.__subclasses__()) == set(WIRE_ERRORS.values()) - {
        errors.ServerError
    }
    assert issubclass(errors.ConnectionClosedError, errors.ScribeError)
    assert not issubclass(errors.ConnectionClosedError, errors.ServerError)


def test_config_error_and_connection_closed_carry_structured_data() -> None:
    """ConfigError keeps the option name; ConnectionClosedError the close code and reason."""
    assert errors.ConfigError("m", option="vad_threshold").option == "vad_threshold"
    closed = errors.ConnectionClosedError("gone", code=1006, reason="")
    assert (closed.code, closed.reason, str(closed)) == (1006, "", "gone")
