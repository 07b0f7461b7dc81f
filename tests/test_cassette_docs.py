"""docs/cassettes.md runs as written: its python and sh blocks, in order, in a fresh directory,
with a mock server (live timing, the bundled sample's transcript) standing in for the service.

Conventions of the page, which this test follows:

- a python block whose first line is ``# file: PATH`` is written to PATH; any other python
  block is run with ``python``;
- an sh block runs with ``bash -eo pipefail``; one whose first line is ``# runs until Ctrl+C``
  is started in the background, waited for until it prints its first line, and stopped with
  SIGINT after the next block (it must then exit 0).

The only changes made to the page's text: the service's URL becomes the stand-in's, and the
ports 8766, 8767 and 8768 become free ones.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys

from mock_server import MockServer
from scribe_sync.audio import sample_transcript

REPO = pathlib.Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "cassettes.md"
KEY = "docs-recording-key-42"
TIMEOUT = 120
_BLOCK = re.compile(r"^```(python|sh)\n(.*?)^```", re.M | re.S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def blocks(text: str | None = None) -> list[tuple[str, str]]:
    """(language, code) of every python and sh block of the page (or of ``text``), in order."""
    if text is None:
        text = PAGE.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(text)]


def readme_section() -> str:
    """The README's "Record once, replay in CI" section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Record once, replay in CI")
    return text[start:text.index("\n## ", start + 1)]


def _run(language: str, code: str, cwd: pathlib.Path, env: dict[str, str]) -> str:
    command = [sys.executable, "-c", code] if language == "python" else [
        "bash", "-eo", "pipefail", "-c", code]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, f"{code}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_every_block_of_the_page_runs(tmp_path: pathlib.Path) -> None:
    """Record once through the fixture, replay without a key, diff, show, record by hand with
    `scribe-mock record`, replay with `scribe-mock --cassette` and MockServer(cassette=):
    every block succeeds, and the replays never reach the stand-in service."""
    found = blocks()
    assert [lang for lang, _ in found].count("sh") >= 5 and len(found) >= 9
    (tmp_path / "tests").mkdir()
    ports = {port: str(_free_port()) for port in ("8766", "8767", "8768")}
    with MockServer(api_keys=[KEY], timing="live", transcript=sample_transcript(),
                    idle_timeout_secs=None) as service:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIBE_")}
        env.update(ELEVENLABS_API_KEY=KEY, SCRIBE_UPSTREAM_URL=service.base_url,
                   PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
                   PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}")
        background: subprocess.Popen[str] | None = None
        outputs: list[str] = []
        for language, code in found:
            code = code.replace("https://api.elevenlabs.io", service.base_url)
            for old, new in ports.items():
                code = code.replace(old, new)
            first = code.splitlines()[0]
            if first.startswith("# file: "):
                target = tmp_path / first[len("# file: "):].strip()
                target.write_text(code, encoding="utf-8")
                continue
            if first == "# runs until Ctrl+C":
                background = subprocess.Popen(["bash", "-c", f"exec {code.splitlines()[1]}"],
                                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True)
                assert background.stdout is not None
                line = background.stdout.readline()  # the listening line: it is ready
                assert "listening on" in line, background.stderr.read() if background.stderr \
                    else ""
                continue
            outputs.append(_run(language, code, tmp_path, env))
            if background is not None:
                background.send_signal(signal.SIGINT)
                _, stderr = background.communicate(timeout=TIMEOUT)
                assert background.returncode == 0, stderr
                assert "Traceback" not in stderr
                background = None
        recorded = len(service.sessions())
    # The fixture recorded twice (once, then all) and the proxy by hand once: the replays
    # (the key-less pytest run, scribe-mock --cassette, MockServer) never reached it.
    assert recorded == 3
    assert KEY not in "".join(p.read_text() for p in tmp_path.rglob("*.jsonl"))
    assert any("speech synthesizer" in out for out in outputs)
    assert any("cassette mismatch at client frame 1" in out for out in outputs)
    assert any("the replay failed as scripted:" in out for out in outputs)
    assert any("segments, answered with the measured delays" in out for out in outputs)
    assert json.loads((tmp_path / "timing.json").read_text())["samples_s"]["commit"]


def test_the_readme_section_records_once_and_replays_without_a_key(
        tmp_path: pathlib.Path) -> None:
    """The README's "Record once, replay in CI" runs as written: the first run records through
    the proxy (the stand-in service sees one session), the key-less run replays the cassette
    and passes without reaching the service, and the cassette holds no key."""
    found = blocks(readme_section())
    assert [lang for lang, _ in found] == ["python", "sh"]
    (tmp_path / "tests").mkdir()
    with MockServer(api_keys=[KEY], timing="live", transcript=sample_transcript(),
                    idle_timeout_secs=None) as service:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIBE_")}
        env.update(ELEVENLABS_API_KEY=KEY, SCRIBE_UPSTREAM_URL=service.base_url,
                   PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
                   PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}")
        (_, test_file), (_, commands) = found
        first = test_file.splitlines()[0]
        (tmp_path / first[len("# file: "):].strip()).write_text(test_file, encoding="utf-8")
        record, replay = commands.strip().splitlines()
        assert "1 passed" in _run("sh", record, tmp_path, env)
        assert len(service.sessions()) == 1
        assert "1 passed" in _run("sh", replay, tmp_path, env)
        assert len(service.sessions()) == 1  # the replay never reached the service
    cassette = tmp_path / "tests" / "cassettes" / "talk.jsonl"
    assert cassette.exists() and KEY not in cassette.read_text(encoding="utf-8")
