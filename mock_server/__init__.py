"""Faithful offline fake of the ElevenLabs Scribe v2 Realtime server (see README, "Mock server").

``with MockServer(**settings) as server:`` runs it on a background thread; ``scribe-mock`` (or
``python -m mock_server``) runs it from the command line; the pytest plugin gives tests a
``scribe_mock`` fixture.

The names below load on first use, not with the package: the same distribution registers the
pytest plugin (``mock_server.pytest_plugin``), and pytest imports it, and so this package, in
every environment that has scribe-sync installed, including the base install without the mock
extra (aiohttp, numpy). Importing the package must not need them; using the server does, and
says so (:class:`MockDependencyError`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cassette import Cassette, CassetteError, load_cassette
    from .faults import FAULTS, Fault, RandomFaults
    from .journal import JournalFrame, SessionRecord
    from .proxy import RecordingProxy
    from .scenarios import Delay, Scenario, load_scenario
    from .script import Utterance
    from .server import MockServer
    from .settings import Settings
    from .transcriber import LEXICON

__all__ = [
    "FAULTS",
    "LEXICON",
    "Cassette",
    "CassetteError",
    "Delay",
    "Fault",
    "JournalFrame",
    "MockDependencyError",
    "MockServer",
    "RandomFaults",
    "RecordingProxy",
    "Scenario",
    "SessionRecord",
    "Settings",
    "Utterance",
    "load_cassette",
    "load_scenario",
]

#: The command that installs what the mock server needs.
_INSTALL_HINT = "pip install 'scribe-sync[mock]'"

_WHERE = {
    "Cassette": ".cassette",
    "CassetteError": ".cassette",
    "load_cassette": ".cassette",
    "RecordingProxy": ".proxy",
    "FAULTS": ".faults",
    "Fault": ".faults",
    "RandomFaults": ".faults",
    "JournalFrame": ".journal",
    "SessionRecord": ".journal",
    "Delay": ".scenarios",
    "Scenario": ".scenarios",
    "load_scenario": ".scenarios",
    "Utterance": ".script",
    "MockServer": ".server",
    "Settings": ".settings",
    "LEXICON": ".transcriber",
}


class MockDependencyError(ImportError):
    """The mock server's dependencies (the ``mock`` extra) are not installed.

    An :class:`ImportError`, so code that guards an optional import keeps working; its message
    is one line naming the missing module and the install command.

    Example::

        try:
            from mock_server import MockServer
        except MockDependencyError as exc:
            print(exc)  # the mock server needs aiohttp: pip install 'scribe-sync[mock]'
    """

    def __init__(self, missing: str) -> None:
        super().__init__(f"the mock server needs {missing}: {_INSTALL_HINT}", name=missing)
        self.missing = missing


def _import_module(name: str) -> Any:
    """Import ``mock_server.<name>``, turning a missing third-party module into
    :class:`MockDependencyError` (a missing module of our own stays a plain bug)."""
    try:
        return importlib.import_module(name, __name__)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] in ("mock_server", "scribe_sync"):
            raise
        raise MockDependencyError(exc.name) from exc


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(where), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
