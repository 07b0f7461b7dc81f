"""The README's mock-server examples run as written, and it names every scribe-mock option."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_readme_embedding_example_runs() -> None:
    """The 'In tests, embed it' example of the Mock server section runs."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Mock server") :]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    example = next(block for block in blocks if "MockServer(" in block)
    exec(compile(example, str(README), "exec"), {})


def _mock_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Mock server") : text.index("## License")]
    found: list[str] = re.findall(r"^```sh\n(.*?)^```$", section, flags=re.M | re.S)
    return [block for block in found if block.startswith("scribe-mock ")]


def test_readme_documents_the_mock_options() -> None:
    """Every scribe-mock option is named in the README's Mock server section."""
    from mock_server.__main__ import build_parser

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Mock server") : text.index("## License")]
    options = [o for action in build_parser()._actions for o in action.option_strings
               if o.startswith("--") and o != "--help"]
    missing = [o for o in options if o not in section]
    assert missing == []
    assert len(_mock_blocks()) >= 2


@pytest.mark.parametrize("block", _mock_blocks(), ids=lambda b: b.splitlines()[0][:50])
def test_readme_scribe_mock_example_runs(block: str) -> None:
    """A scribe-mock block runs as written (on a free port instead of 8765): it prints the
    commented lines, answers the curl requests as commented, and stops on Ctrl+C."""
    lines = block.splitlines()
    command = shlex.split(lines[0].split("  #", 1)[0])
    port_at = command.index("--port") + 1
    command[port_at] = "0"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "mock_server", *command[1:]],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=ROOT)
    try:
        assert process.stdout is not None
        printed: list[str] = []
        i = 1
        while i < len(lines) and lines[i].startswith("# "):
            printed.append(process.stdout.readline().rstrip("\n"))
            i += 1
        port = printed[0].rsplit(":", 1)[-1]
        for expected, got in zip(lines[1:i], printed, strict=True):
            pattern = re.escape(expected[2:].replace("8765", port))
            pattern = pattern.replace(r"pids\ 4242\ 4243", r"pids\ \d+\ \d+")
            assert re.fullmatch(pattern, got), (expected, got)
        while i < len(lines):
            assert lines[i].startswith("curl -s "), lines[i]
            url = lines[i].split()[-1].replace("8765", port)
            with urllib.request.urlopen(url, timeout=20) as response:
                answer = json.loads(response.read())
            assert answer == json.loads(lines[i + 1][2:].replace("8765", port))
            i += 2
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
