"""Every README example runs: the ```python blocks, the scribe-sync ```sh blocks, and the test
command that .ci/run runs verbatim.

Conventions (README, "From Python"):

- Python blocks run one per subprocess, in a fresh temporary directory, with
  ``SCRIBE_SYNC_BASE_URL`` pointing at a :class:`MockServer` that speaks the bundled sample's
  transcript and ``ELEVENLABS_API_KEY`` set to a test key. Examples read the variable with the
  real service as the fallback, so they stay copy-pasteable.
- Shell blocks in which a command line starts with ``scribe-sync`` (or pipes into it) run under
  bash with the same environment, a fake ALSA microphone (HOME with an ``.asoundrc``), a
  ``talk.mp3`` made from the sample in the working directory, ``https://example.com/`` served
  from that directory by a local HTTP server, and ``scribe-sync`` on PATH as a shim for
  ``python -m scribe_sync.cli`` that adds ``--fast`` to ``transcribe`` (unless the line chooses a
  speed) and ``--duration 2`` to ``listen`` (unless given), so that examples written for people
  finish quickly in a test. ``demo`` needs nothing: it always runs on its embedded mock.
"""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import soundfile

from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync.audio import sample_path
from scribe_sync.audio._sample import sample_sentences
from tests.fakemic import fake_mic_home

REPO = pathlib.Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
KEY = "readme-test-key"
TIMEOUT = 120

SHIM = """#!{python}
import sys
args = sys.argv[1:]
command = args[0] if args else ""
if command in ("transcribe", "demo") and not {{"--realtime", "--speed", "--fast"}} & set(args):
    args.append("--fast")
if command == "listen" and "--duration" not in args:
    args += ["--duration", "2"]
sys.argv = ["scribe-sync", *args]
from scribe_sync.cli import main
sys.exit(main())
"""

def blocks(language: str, text: str = README) -> list[str]:
    """The bodies of the fenced code blocks of one language, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    """The text of one ``## title`` section of the README."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README,
                      flags=re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def runs_scribe_sync(block: str) -> bool:
    # `scribe-sync bench` takes real time; tests/test_probe.py runs the README's bench command
    # once and compares its output with the README's.
    return "pip install" not in block and "scribe-sync bench" not in block and any(
        re.match(r"(.*\|\s*)?scribe-sync\b", line.strip()) for line in block.splitlines()
    )


PYTHON_BLOCKS = blocks("python")
SH_BLOCKS = [b for b in blocks("sh") if runs_scribe_sync(b)]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    """One mock server for the module's examples, speaking the sample's transcript."""
    with MockServer(transcript=sample_sentences()) as server:
        yield server


Workdir = tuple[pathlib.Path, dict[str, str]]


@pytest.fixture
def workdir(tmp_path: pathlib.Path, mock: MockServer) -> Iterator[Workdir]:
    """A working directory with talk.mp3, an HTTP server over it, and the examples' env."""
    work = tmp_path / "work"
    work.mkdir()
    data, rate = soundfile.read(sample_path(), dtype="int16")
    soundfile.write(work / "talk.mp3", data, rate, format="MP3")
    home = fake_mic_home(tmp_path, speech(1.6, seed=2) + silence(2.0))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "scribe-sync"
    shim.write_text(SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(
        SCRIBE_SYNC_BASE_URL=mock.base_url,
        ELEVENLABS_API_KEY=KEY,
        HOME=str(home),
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}",
    )
    handler = functools.partial(_QuietHandler, directory=str(work))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="readme-http", daemon=True)
    thread.start()
    env["README_HTTP"] = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield work, env
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep request lines out of the test output."""


def test_readme_has_runnable_examples() -> None:
    """The README shows the CLI's main commands and Python examples that the tests run."""
    assert len(PYTHON_BLOCKS) >= 3
    commands = "\n".join(SH_BLOCKS)
    for needed in ("scribe-sync demo", "scribe-sync transcribe", "https://", "--format srt",
                   "scribe-sync listen", "scribe-sync devices", "scribe-sync token"):
        assert needed in commands, needed


@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=lambda c: c.splitlines()[0][:40])
def test_python_example_runs(code: str, workdir: Workdir) -> None:
    """A README Python block runs to completion against the mock server."""
    work, env = workdir
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    # A comment on a print line is what it prints ("print(x)  # 1600 False"): check it.
    for expected in re.findall(r"^print\(.*\)\s+# (.+)$", code, flags=re.MULTILINE):
        assert expected.strip() in proc.stdout, (expected, proc.stdout)


@pytest.mark.parametrize("script", SH_BLOCKS, ids=lambda s: s.splitlines()[0][:50])
def test_shell_example_runs(script: str, workdir: Workdir) -> None:
    """A README scribe-sync block runs, exits 0, and writes the files it names with -o."""
    if "listen" in script or "devices" in script:
        pytest.importorskip("pyaudio", reason="PyAudio (the mic extra) is not installed")
    if "ffmpeg" in script and shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    work, env = workdir
    local = script.replace("https://example.com/", env["README_HTTP"])
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", local], cwd=work, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for name in re.findall(r"-o (\S+)", script):
        assert (work / name).stat().st_size > 0, name


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    """.ci/run runs exactly the test command of the README's 'On a fresh machine' section."""
    fresh = blocks("sh", section("On a fresh machine"))
    test_commands = [line for block in fresh for line in block.splitlines() if "pytest" in line]
    assert len(test_commands) == 1, fresh
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    marker = next(i for i, line in enumerate(ci)
                  if "The line below is the README's test command" in line)
    assert ci[marker + 1] == test_commands[0]


def test_fresh_machine_starts_with_the_main_job() -> None:
    """The first command on a fresh machine installs the package and runs scribe-sync demo."""
    first = blocks("sh", section("On a fresh machine"))[0].splitlines()[0]
    assert first.startswith("pip install")
    assert first.endswith("scribe-sync demo")
