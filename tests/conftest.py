"""Shared test setup: Hypothesis profiles, the mock's pytest plugin, a thread-leak check."""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import signal
import socket
import threading
import wave
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings


def _plugin_autoloaded() -> bool:
    """Whether pytest already loads the mock's plugin through its ``pytest11`` entry point."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(
        entry.value == "mock_server.pytest_plugin"
        for entry in importlib.metadata.entry_points(group="pytest11")
    )


# After `pip install -e .` (the README's test command) the entry point registers the plugin;
# naming it here as well would make pytest refuse to start ("Plugin already registered under a
# different name"). Without an install (a plain checkout), this line is what loads it.
pytest_plugins = [] if _plugin_autoloaded() else ["mock_server.pytest_plugin"]

# CI must not pass or fail by luck, so the README's test command runs every property test
# derandomized: the same examples on every machine and every run ("ci" under CI=true, "dev"
# otherwise; both derandomized, neither reads or writes the example database). "ci" has more
# examples and no deadline (shared CI runners stall unpredictably, and a flaky deadline failure
# says nothing about the code). "explore" is the long random profile, run by hand before a
# release: `HYPOTHESIS_PROFILE=explore python -m pytest tests/test_soak.py` (docs/testing.md).
settings.register_profile("dev", max_examples=50, deadline=None, derandomize=True, database=None)
settings.register_profile(
    "ci",
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    max_examples=20_000,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# A suite started as a background job of a script (`pytest &`) inherits SIGINT and SIGQUIT
# ignored (nohup: SIGHUP), and so would every process it starts: the tests of Ctrl+C, Ctrl+\
# and a closed terminal would then fail, testing nothing. Taking them back here gives the
# children the defaults (exec resets a handler, never an ignored signal). The test of a CLI
# started that way ignores SIGINT in its child itself.
for _number, _default in ((signal.SIGINT, signal.default_int_handler),
                          (signal.SIGQUIT, signal.SIG_DFL), (signal.SIGHUP, signal.SIG_DFL)):
    if signal.getsignal(_number) is signal.SIG_IGN:
        signal.signal(_number, _default)


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


@pytest.fixture
def short_wav(tmp_path: pathlib.Path) -> pathlib.Path:
    """Half a second of silence as a 16 kHz WAV file: a session over it is short."""
    path = tmp_path / "short.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(b"\0\0" * 8000)
    return path


@pytest.fixture
def dead_url() -> str:
    """A port on 127.0.0.1 that was just free: a session there fails to connect (exit 5), so
    a check that exits otherwise ran before any session."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
