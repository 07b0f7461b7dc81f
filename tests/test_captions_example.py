"""examples/test_captions_property.py, a user-style property test, holds for 200 examples, and
catches a planted bug with a shrunk counterexample (a short fault list and a short script).

Each run is a pytest subprocess in a fresh directory, so Hypothesis starts with an empty example
database: what it finds, it finds by search, not by replaying an earlier failure.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "test_captions_property.py"


def _run_example(tmp_path: pathlib.Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAPTIONS_")}
    environment["PYTHONPATH"] = f"{REPO}{os.pathsep}{environment.get('PYTHONPATH', '')}"
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO),
         "--hypothesis-show-statistics", str(EXAMPLE)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600, check=False,
    )


def test_the_captioning_property_holds_for_200_examples(tmp_path: pathlib.Path) -> None:
    """The correct captions() shows every scripted utterance once, in order, in all 200
    examples of recoverable fault schedules."""
    proc = _run_example(tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "1 passed" in proc.stdout
    assert "Stopped because settings.max_examples=200" in proc.stdout


def test_a_planted_bug_is_reported_with_a_shrunk_counterexample(tmp_path: pathlib.Path) -> None:
    """With the planted bug (captions cleared on every reconnection) Hypothesis fails the test
    and prints a minimal example: one or two faults, at most two utterances."""
    proc = _run_example(tmp_path, CAPTIONS_PLANTED_BUG="1")
    out = proc.stdout
    assert proc.returncode == 1, out[-4000:]
    report = re.sub(r"^E {1,7}", "", out, flags=re.MULTILINE)  # pytest's "E   " prefixes
    assert "Failing test case:" in report or "Falsifying example:" in report, out[-4000:]
    faults = re.search(r"^\s*faults=\((.*)\),$", report, flags=re.MULTILINE)
    assert faults, report[-4000:]
    assert 1 <= len(re.findall(r"\b\w+(?:Fault|Commit)\(", faults.group(1))) <= 2, faults[0]
    script = re.search(r"^\s*script=\((.*)\),$", report, flags=re.MULTILINE)
    assert script, report[-4000:]
    assert 1 <= script.group(1).count("Utterance(") <= 2, script[0]
    assert "@reproduce_failure(" in report, report[-2000:]
