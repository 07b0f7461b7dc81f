"""docs/cli.md: its blocks run in tests/test_doc_examples.py (with the guide's); here, what it
promises: the batch example and its resumption, and a JSON summary example with the keys a
real summary has."""

from __future__ import annotations

import json
import pathlib
import re
import shutil

from mock_server import MockServer
from tests.docblocks import REPO
from tests.test_cli import KEY, SAMPLE, run

DOC = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC, flags=re.MULTILINE | re.DOTALL)


def test_the_page_shows_a_batch_and_its_resumption() -> None:
    """docs/cli.md has the batch example with --jobs and -o DIR/, and the --skip-existing one."""
    commands = "\n".join(_blocks("sh"))
    assert "--jobs 4" in commands and "-o out/" in commands and "--skip-existing" in commands


def test_the_summary_example_has_the_keys_of_a_real_summary(tmp_path: pathlib.Path) -> None:
    """The page's JSON example and a real --summary file have the same keys at every level."""
    for name in ("a.flac", "b.flac"):
        shutil.copyfile(SAMPLE, tmp_path / name)
    summary = tmp_path / "summary.json"
    with MockServer() as server:
        proc = run("transcribe", str(tmp_path / "a.flac"), str(tmp_path / "b.flac"),
                   "--base-url", server.base_url, "--api-key", KEY, "--fast",
                   "-o", str(tmp_path / "out"), "--summary", str(summary))
    assert proc.returncode == 0, proc.stderr
    real = json.loads(summary.read_text(encoding="utf-8"))
    (example_text,) = _blocks("json")
    example = json.loads(example_text)
    assert example.keys() == real.keys()
    assert example["files"][0].keys() == real["files"][0].keys()
    assert example["totals"].keys() == real["totals"].keys()
