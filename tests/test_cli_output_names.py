"""Output names the file system accepts are accepted: a name of 241 to 255 bytes (NAME_MAX)
failed with "File name too long", because its temporary file's name was 15 bytes longer."""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

from scribe_sync.cli import EXIT_OK
from tests.test_cli import SAMPLE, TIMEOUT, _cli, _env


def _name_max(folder: pathlib.Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


@pytest.mark.parametrize("stem", ["n", "\u00e9"])  # one byte a character, and two
def test_an_output_and_a_summary_of_name_max_bytes_are_written(tmp_path: pathlib.Path,
                                                               stem: str) -> None:
    limit = _name_max(tmp_path)
    width = len(stem.encode())
    out = stem * ((limit - len(".txt")) // width) + ".txt"
    summary = "s" + stem * ((limit - len("s.json")) // width) + ".json"
    assert len(out.encode()) > limit - width and len(summary.encode()) > limit - width
    (tmp_path / summary).write_text("old\n", encoding="utf-8")  # replaced, not refused
    proc = subprocess.run(
        _cli("transcribe", SAMPLE, "--mock", "--fast", "-q", "-o", out, "--summary", summary),
        env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert (tmp_path / out).read_text(encoding="utf-8").strip()
    assert (tmp_path / summary).read_text(encoding="utf-8").startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out, summary])  # no .part
