"""pytest plugin (entry point ``pytest11``): a ready mock server for tests.

Fixtures:
    scribe_cassette: a base URL and key whose sessions replay the test's cassette, or are
        recorded into it (``--scribe-record-mode``; :mod:`mock_server._pytest_cassette`).
    scribe_mock: a :class:`~mock_server.MockServer` on 127.0.0.1, port 0, started for the test
        and closed after it. Settings come from the ``scribe_mock_settings`` fixture, which a
        test module or conftest may override, or from ``@pytest.mark.scribe_mock(**settings)``.
    scribe_mock_settings: ``{}`` by default.

pytest loads this plugin in every environment where scribe-sync is installed, the base install
included, so it imports the server only when a test asks for the fixture: pytest starts without
the mock extra, and a test that uses ``scribe_mock`` there fails with one line naming
``pip install 'scribe-sync[mock]'``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import MockDependencyError
from ._pytest_cassette import CassetteUse, add_options, record_mode, scribe_cassette

if TYPE_CHECKING:
    from .server import MockServer

__all__ = [
    "CassetteUse",
    "pytest_addoption",
    "scribe_cassette",
    "scribe_mock",
    "scribe_mock_settings",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """The cassette options (:mod:`mock_server._pytest_cassette`)."""
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``scribe_mock`` and ``scribe_cassette`` markers."""
    config.addinivalue_line(
        "markers", "scribe_mock(**settings): settings for the scribe_mock fixture's server"
    )
    config.addinivalue_line(
        "markers", "scribe_cassette(name, **settings): the scribe_cassette fixture's cassette"
    )
    record_mode(config)  # a bad record mode stops pytest at start-up, as a usage error


@pytest.fixture
def scribe_mock_settings() -> dict[str, Any]:
    """Keyword arguments for the ``scribe_mock`` server; override to change them."""
    return {}


@pytest.fixture
def scribe_mock(
    request: pytest.FixtureRequest, scribe_mock_settings: dict[str, Any]
) -> Iterator[MockServer]:
    """A running mock Scribe Realtime server, closed after the test."""
    settings = dict(scribe_mock_settings)
    marker = request.node.get_closest_marker("scribe_mock")
    if marker is not None:
        settings.update(marker.kwargs)
    try:
        from . import MockServer as server_class  # loads the server, or says what is missing
    except MockDependencyError as exc:
        # One line, not the import's traceback: the fix is an install, not a code change.
        pytest.fail(str(exc), pytrace=False)
    with server_class(**settings) as server:
        yield server
