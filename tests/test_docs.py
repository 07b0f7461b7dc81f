"""The API reference's raw material: every public name has a docstring, and every ``Example::``
block in a public docstring runs (against the mock server, in a fresh directory)."""

from __future__ import annotations

import enum
import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import scribe_sync
from mock_server import MockServer
from scribe_sync.audio import sample_transcript

REPO = pathlib.Path(__file__).resolve().parent.parent


def public_modules() -> list[ModuleType]:
    """scribe_sync and every submodule whose dotted name has no private part."""
    names = [info.name for info in pkgutil.walk_packages(scribe_sync.__path__, "scribe_sync.")]
    public = [n for n in names if not any(p.startswith("_") for p in n.split(".")[1:])]
    return [scribe_sync, *(importlib.import_module(n) for n in public)]


def documented() -> Iterator[tuple[str, Any]]:
    """(qualified name, object) for every public module, class, function and method."""
    for module in public_modules():
        yield module.__name__, module
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants are documented by #: comments, which the reference reads
            yield f"{module.__name__}.{name}", obj
            if not inspect.isclass(obj) or issubclass(obj, enum.Enum):
                continue
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = value.fget if isinstance(value, property) else value
                func = getattr(func, "__func__", func)  # classmethod, staticmethod
                if inspect.isfunction(func):
                    yield f"{module.__name__}.{name}.{attr}", func


def test_every_public_name_has_a_docstring() -> None:
    """No public module, class, function, method or property lacks a docstring."""
    missing = [name for name, obj in documented() if not (obj.__doc__ or "").strip()]
    assert missing == []


EXAMPLE = re.compile(r"^(\s*)Example::\n\n((?:\1\s+\S.*\n|\s*\n)+)", re.MULTILINE)


def examples() -> list[tuple[str, str]]:
    found = {}
    for name, obj in documented():
        doc = obj.__doc__ or ""
        for match in EXAMPLE.finditer(doc if doc.endswith("\n") else doc + "\n"):
            found[name] = textwrap.dedent(match.group(2))
    return sorted(found.items())


EXAMPLES = examples()

# The examples use the real service's default base URL, as a reader would; the test points
# those defaults at the mock.
PRELUDE = """
import scribe_sync._transcribe, scribe_sync.client
for function in (scribe_sync.client.ScribeClient.__init__, scribe_sync.client.connect,
                 scribe_sync._transcribe.transcribe):
    function.__kwdefaults__["base_url"] = {url!r}
"""


def test_the_api_reference_has_examples() -> None:
    """The entry points a newcomer meets first carry an example."""
    names = {name for name, _ in EXAMPLES}
    for needed in ("scribe_sync", "scribe_sync.transcribe", "scribe_sync.audio.FileSource",
                   "scribe_sync.audio.open_source", "scribe_sync.cli.main"):
        assert needed in names


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_docstring_example_runs(name: str, code: str, tmp_path: pathlib.Path) -> None:
    """A docstring's example runs to completion against the mock server."""
    with MockServer(transcript=sample_transcript()) as server:
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
        env.update(ELEVENLABS_API_KEY="docs-test-key", SCRIBE_SYNC_BASE_URL=server.base_url,
                   PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}")
        proc = subprocess.run([sys.executable, "-c", PRELUDE.format(url=server.base_url) + code],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
