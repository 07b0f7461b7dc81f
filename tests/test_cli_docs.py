"""docs/cli.md runs: its shell blocks, as the README's are run (tests/test_readme.py: the same
mock, working directory with talk.mp3 and scribe-sync shim), plus a talks/ folder of FLAC files;
its JSON summary example has the keys a real summary has."""

from __future__ import annotations

import json
import shutil
import subprocess

from scribe_sync.audio import sample_path
from tests.test_readme import REPO, TIMEOUT, Workdir, blocks, mock, workdir

__all__ = ["mock", "workdir"]  # the fixtures, used by name

DOC = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
SH_BLOCKS = blocks("sh", DOC)


def test_the_page_shows_a_batch_and_its_resumption() -> None:
    """docs/cli.md has the batch example with --jobs and the --skip-existing one."""
    commands = "\n".join(SH_BLOCKS)
    assert "--jobs 4" in commands and "-o out/" in commands and "--skip-existing" in commands


def test_the_shell_blocks_run_in_order(workdir: Workdir) -> None:
    """Every block exits 0: one file, a batch into out/ with a JSON summary, then its
    resumption, which skips every output already written."""
    work, env = workdir
    (work / "talks").mkdir()
    for name in ("a.flac", "b.flac"):
        shutil.copyfile(sample_path(), work / "talks" / name)
    results = []
    for script in SH_BLOCKS:
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=work, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert proc.returncode == 0, (script, proc.stderr[-3000:])
        assert "Traceback" not in proc.stderr
        results.append(proc)
    assert "-->" in (work / "talk.srt").read_text(encoding="utf-8")
    assert sorted(p.name for p in (work / "out").iterdir()) == ["a.srt", "b.srt", "talk.srt"]
    summary = json.loads((work / "summary.json").read_text(encoding="utf-8"))
    assert [f["status"] for f in summary["files"]] == ["ok", "ok", "ok"]
    example = json.loads(blocks("json", DOC)[0])
    assert example.keys() == summary.keys()
    assert example["files"][0].keys() == summary["files"][0].keys()
    assert example["totals"].keys() == summary["totals"].keys()
    assert results[-1].stderr.count("skipped") >= 3
