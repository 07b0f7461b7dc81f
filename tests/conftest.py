"""Shared test setup: the mock's pytest plugin (works without installing the package) and a
thread-leak check."""

import threading
from collections.abc import Iterator

import pytest

pytest_plugins = ["mock_server.pytest_plugin"]


@pytest.fixture(autouse=True)
def _no_leaked_mock_threads() -> Iterator[None]:
    """Every mock server started by a test is closed and its thread joined."""
    yield
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("scribe-mock")]
    assert not leaked, f"threads left running: {leaked}"
