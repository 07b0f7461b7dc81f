"""Where a ``scribe-sync`` command connects: the given server, or an embedded mock server.

Part of :mod:`scribe_sync.cli`: the API key check that names the command-line ways to fix it,
and ``--mock``'s server, found through an entry point so that the library never imports the
mock (see :func:`mock_server_factory`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol

from .client import API_KEY_ENV, ScribeClient
from .errors import ConfigError

__all__ = ["MOCK_ENTRY_POINT_GROUP", "make_client", "mock_server_factory", "server"]

logger = logging.getLogger("scribe_sync.cli")

#: The entry-point group in which the mock server registers itself for ``--mock`` and ``demo``.
MOCK_ENTRY_POINT_GROUP: Final = "scribe_sync.mock_server"


class _MockServer(Protocol):
    base_url: str

    def __enter__(self) -> _MockServer: ...
    def __exit__(self, *exc_info: object) -> None: ...


def mock_server_factory() -> Callable[..., _MockServer]:
    """The embedded mock server's class, found through an entry point.

    The library never imports mock_server, so that it cannot come to depend on its own test
    double. The command keeps to it by inverting the dependency: mock_server registers itself
    in the ``scribe_sync.mock_server`` entry-point group (setup.cfg), as it registers its pytest
    plugin with pytest, and ``--mock`` and ``demo`` use whatever is registered there, through
    the small interface above (keyword settings in, a context manager with ``base_url`` out).

    Raises:
        ConfigError: no mock is installed, or its dependencies (the mock extra) are missing.
    """
    hint = "pip install 'scribe-sync[mock]'"
    for entry in importlib.metadata.entry_points(group=MOCK_ENTRY_POINT_GROUP, name="embedded"):
        try:
            factory: Callable[..., _MockServer] = entry.load()
        except ImportError as exc:
            missing = exc.name or "a dependency"
            raise ConfigError(f"the embedded mock server needs {missing}: {hint}",
                              option="mock") from exc
        return factory
    raise ConfigError(f"no embedded mock server is installed: {hint}", option="mock")


@contextlib.contextmanager
def server(args: argparse.Namespace, **mock_settings: Any) -> Iterator[tuple[str, str | None]]:
    """The base URL and API key to use: the given ones, or an embedded mock server's.

    Raises:
        ConfigError: (option ``mock``) the embedded mock server cannot start (no free port,
            its extra is missing).
    """
    if not args.mock:
        yield args.base_url, args.api_key
        return
    manager = mock_server_factory()(**mock_settings)
    try:
        running = manager.__enter__()
    except OSError as exc:
        raise ConfigError(f"the embedded mock server cannot start: {exc.strerror or exc}",
                          option="mock") from None
    try:
        logger.info("embedded mock server at %s", running.base_url)
        yield running.base_url, args.api_key or "mock-key"
    finally:
        # Ctrl+C only raises inside the command's interrupt windows (_cli_signals), never here:
        # the server's thread is always stopped, and cannot hold the interpreter's exit.
        manager.__exit__(None, None, None)


def make_client(base_url: str, api_key: str | None) -> ScribeClient:
    """A client for ``base_url``; ConfigError (option ``api_key``) without any key."""
    if not (api_key or os.environ.get(API_KEY_ENV)):
        # Checked here, not left to connect(), to name the command-line ways to fix it.
        raise ConfigError(
            f"no API key: set {API_KEY_ENV} (or pass --api-key), or try --mock to run offline",
            option="api_key",
        )
    return ScribeClient(api_key, base_url=base_url)
