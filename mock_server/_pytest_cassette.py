"""The ``scribe_cassette`` pytest fixture: record a test's sessions once, replay them in CI
(docs/cassettes.md), in the manner of pytest-recording.

- ``@pytest.mark.scribe_cassette("name", **settings)`` names the cassette
  (``cassettes/<name>.jsonl`` beside the test file; the test's name by default); ``settings``
  go to the replaying :class:`~mock_server.MockServer` (``strict=True``,
  ``replay_timing="recorded"``, a ``scenario`` of faults to layer on top, ...), checked
  before the test runs whether it records or replays. A name of other characters than
  letters, digits, ``_``, ``.`` and ``-`` (a parametrized test's) gets a short hash of it in
  its file name, so that two names never share a cassette.
- The record mode, ``--scribe-record-mode`` or ``SCRIBE_RECORD_MODE``: ``none`` (replay only,
  the default: what CI runs), ``once`` (record when the cassette is missing, replay otherwise)
  or ``all`` (record every time).
- Recording goes through :class:`~mock_server.proxy.RecordingProxy` to ``--scribe-upstream``
  (``SCRIBE_UPSTREAM_URL``, default ``https://api.elevenlabs.io``) with the key in
  ``ELEVENLABS_API_KEY``; the key is never written.

Loaded by :mod:`mock_server.pytest_plugin`; like it, it imports the server only when a test
asks for the fixture, so that pytest starts on the base install.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest

from . import MockDependencyError

__all__ = ["MODES", "CassetteUse", "add_options", "file_stem", "marker_problem", "record_mode",
           "scribe_cassette"]

#: The record modes.
MODES: Final = ("none", "once", "all")
MODE_ENV: Final = "SCRIBE_RECORD_MODE"
UPSTREAM_ENV: Final = "SCRIBE_UPSTREAM_URL"
DEFAULT_UPSTREAM: Final = "https://api.elevenlabs.io"
#: The key a replaying test gets (any key works on a replay).
REPLAY_KEY: Final = "cassette-key"


@attrs.frozen
class CassetteUse:
    """What the ``scribe_cassette`` fixture yields.

    Attributes:
        base_url: the URL to give the client (``ScribeClient(base_url=)``, the SDK's).
        api_key: the key to give it (the real one while recording; any key on a replay).
        path: the cassette file.
        recording: whether this run records (else it replays).
        server: the replaying :class:`~mock_server.MockServer` (``None`` while recording).
    """

    base_url: str
    api_key: str = attrs.field(repr=False)  # the real key while recording: never shown
    path: Path
    recording: bool
    server: Any = None


def add_options(parser: pytest.Parser) -> None:
    """``--scribe-record-mode`` and ``--scribe-upstream``."""
    group = parser.getgroup("scribe-cassette", "scribe-sync cassettes")
    group.addoption("--scribe-record-mode", choices=MODES, default=None,
                    help=f"none (replay only; default), once or all (env {MODE_ENV})")
    group.addoption("--scribe-upstream", default=None,
                    help=f"the service to record from (env {UPSTREAM_ENV}; default "
                    f"{DEFAULT_UPSTREAM})")


def record_mode(config: pytest.Config) -> str:
    """The record mode; ``pytest.UsageError`` naming the allowed ones otherwise."""
    mode = config.getoption("--scribe-record-mode", None) or os.environ.get(MODE_ENV) or "none"
    if mode not in MODES:
        raise pytest.UsageError(f"{MODE_ENV} must be one of {', '.join(MODES)}, not {mode!r}")
    return str(mode)


def file_stem(name: str) -> str:
    """A cassette's file name (without ``.jsonl``) for a test or marker name: the name itself
    when it is only letters, digits, ``_``, ``.`` and ``-``; else those characters with runs
    of others as ``_``, and a short hash of the name, so that two names never share a file
    (the ids ``"a b"`` and ``"a,b"`` both read ``a_b`` once cleaned)."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    if clean == name:
        return name
    return f"{clean}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def marker_problem(marker: pytest.Mark | None, allowed: Collection[str]) -> str | None:
    """What is wrong with a ``scribe_cassette`` marker's arguments, in one line, or ``None``.

    Checked before the test runs, recording or replaying alike: a recording never passes the
    settings to a server, so a typo there would pass until the first replay."""
    if marker is None:
        return None
    usage = "@pytest.mark.scribe_cassette(name, **settings)"
    if len(marker.args) > 1 or (marker.args and not isinstance(marker.args[0], str)):
        return (f"{usage} takes at most one positional argument, the cassette's name as a "
                f"string; got {len(marker.args)} ({', '.join(map(repr, marker.args))[:200]})")
    if "cassette" in marker.kwargs:
        return (f"{usage}: 'cassette' cannot be given, the fixture replays the test's own "
                "cassette: name it with the marker's first argument")
    unknown = sorted(set(marker.kwargs) - set(allowed))
    if unknown:
        return (f"{usage}: unknown setting {', '.join(map(repr, unknown))}; the settings are "
                f"MockServer's: {', '.join(sorted(allowed))}")
    return None


def cassette_path(request: pytest.FixtureRequest) -> tuple[Path, dict[str, Any]]:
    """The test's cassette file and the marker's settings."""
    marker = request.node.get_closest_marker("scribe_cassette")
    name = marker.args[0] if marker is not None and marker.args else request.node.name
    settings = dict(marker.kwargs) if marker is not None else {}
    return Path(str(request.path)).parent / "cassettes" / f"{file_stem(str(name))}.jsonl", \
        settings


@pytest.fixture
def scribe_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteUse]:
    """A base URL and key whose sessions are replayed from the test's cassette (or recorded
    into it, by the record mode)."""
    try:
        # Loaded now, not with the plugin: pytest starts on the base install.
        from . import CassetteError, MockServer, RecordingProxy, Settings, load_cassette
    except MockDependencyError as exc:
        pytest.fail(str(exc), pytrace=False)
    problem = marker_problem(request.node.get_closest_marker("scribe_cassette"),
                             [field.name for field in attrs.fields(Settings)
                              if field.name != "cassette"])
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    path, settings = cassette_path(request)
    mode = record_mode(request.config)
    key = os.environ.get("ELEVENLABS_API_KEY", "")
    record = mode == "all" or (mode == "once" and not path.exists())
    if record and not key:
        pytest.fail(f"recording {path.name} needs ELEVENLABS_API_KEY", pytrace=False)
    if not record and not path.exists():
        pytest.fail(f"no cassette {path}: record it with --scribe-record-mode=once and "
                    "ELEVENLABS_API_KEY set", pytrace=False)
    if record:
        upstream = (request.config.getoption("--scribe-upstream", None)
                    or os.environ.get(UPSTREAM_ENV) or DEFAULT_UPSTREAM)
        try:
            proxy = RecordingProxy(upstream, path)
        except ValueError as exc:  # not a URL the proxy can forward to
            pytest.fail(f"--scribe-upstream ({UPSTREAM_ENV}): {exc}", pytrace=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        with proxy:
            yield CassetteUse(proxy.base_url, key, path, True)
        if proxy.failures:  # a session lost (disk full...): the recording is incomplete
            pytest.fail(proxy.failures[0], pytrace=False)
        return
    try:
        loaded = load_cassette(path)
    except CassetteError as exc:
        pytest.fail(str(exc), pytrace=False)
    with MockServer(cassette=loaded, **settings) as server:
        yield CassetteUse(server.base_url, REPLAY_KEY, path, False, server)
        mismatches = list(server.replay_mismatches)
    if mismatches:
        pytest.fail(mismatches[0], pytrace=False)
