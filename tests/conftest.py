"""Shared fixtures: the mock's pytest plugin (works uninstalled) and a thread-leak check."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

pytest_plugins = ["mock_server.pytest_plugin"]


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Fail any test that leaves a thread it started running.

    Threads get a bounded join first, which is synchronisation (not a sleep): a thread that is
    already on its way out is not a leak.
    """
    before = set(threading.enumerate())
    yield
    leaked = []
    for thread in threading.enumerate():
        if thread in before or thread is threading.current_thread():
            continue
        thread.join(timeout=5)
        if thread.is_alive():
            leaked.append(thread.name)
    assert not leaked, f"test leaked threads: {leaked}"
