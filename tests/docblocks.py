"""Every code block of the README and the guide, found and run as a reader would run it.

tests/test_doc_examples.py runs each block of ``README.md`` and ``docs/*.md`` through
:class:`DocRun`. The conventions a page follows:

Which blocks run
    ```` ```python ```` blocks run one per subprocess; ```` ```sh ```` (and ``bash``) blocks run
    under ``bash -e -o pipefail``. Any other language (``text``, ``json``, ``toml``, ...) is never
    run. A runnable block preceded by the line ``<!-- no-run: REASON -->`` is skipped and the
    reason is required (use it for commands that take minutes, or that another test runs and
    checks: say which). ``pip install`` lines are dropped (the package under test is installed).

Where they run
    In a fresh temporary directory holding ``talk.mp3`` (the bundled sample), with
    ``https://example.com/`` rewritten to a local HTTP server over that directory, a fake ALSA
    microphone (``HOME`` with an ``.asoundrc``), ``ELEVENLABS_API_KEY=test-key`` and
    ``SCRIBE_SYNC_BASE_URL`` pointing at an embedded :class:`~mock_server.MockServer` (default
    settings: made-up words, instant timing). ``scribe-sync`` is a shim for
    ``python -m scribe_sync.cli`` that adds ``--fast`` to ``transcribe`` and ``demo`` (unless the
    line chooses a speed) and ``--duration 2`` to ``listen``, so that examples written for people
    finish quickly.

State carried from block to block (one page at a time, in order)
    A ``scribe-mock ... &`` line starts a real ``scribe-mock`` for the rest of the page (the
    harness runs it on a free port and rewrites ``8765`` in every later block of the page to
    that port); ``export NAME=VALUE`` lines set the environment of every later block.
    A block whose only command is a foreground ``scribe-mock ...`` is a server that a reader
    stops with Ctrl+C: it runs until it printed the lines of its output block, then gets SIGINT
    and must exit 0 (its output is compared with ports and pids as wildcards).

Shown output is asserted
    A ```` ```text ```` block that follows a runnable block with nothing but blank lines between
    them is that block's standard output, compared line by line (trailing spaces ignored; for a
    server block, its first lines). In a Python block, a comment at the end of a ``print(...)``
    line (``print(len(x))  # 3200``) is text its output must contain.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import attrs

REPO = pathlib.Path(__file__).resolve().parent.parent
KEY = "test-key"
DOC_PORT = "8765"
TIMEOUT = 120
RUNNABLE = {"python": "python", "sh": "sh", "bash": "sh"}
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NO_RUN = re.compile(r"<!--\s*no-run:(.*?)-->\s*$")


@attrs.frozen
class Block:
    """One fenced block of a page: where it is, its language, its text and what it shows."""

    page: str
    line: int
    language: str
    code: str
    output: str | None  # the text block right after it, if any
    no_run: str | None  # the reason given by a <!-- no-run: ... --> marker

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[pathlib.Path]:
    """README.md, then the guide's Markdown pages in name order."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks_of(path: pathlib.Path) -> list[Block]:
    """The runnable blocks of one page, with their shown output and their no-run reasons."""
    text = path.read_text(encoding="utf-8")
    page = str(path.relative_to(REPO))
    fences = list(FENCE.finditer(text))
    found = []
    for i, match in enumerate(fences):
        language = RUNNABLE.get(match.group(1))
        if language is None:
            continue
        output = None
        if i + 1 < len(fences) and fences[i + 1].group(1) == "text":
            between = text[match.end():fences[i + 1].start()]
            if not between.strip():
                output = fences[i + 1].group(2)
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NO_RUN.search(before)
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, language,
                           match.group(2), output, marker.group(1).strip() if marker else None))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_server_block(block: Block) -> bool:
    """A foreground ``scribe-mock`` command alone: a server the reader stops with Ctrl+C."""
    lines = [line for line in block.code.splitlines() if line.strip()]
    return (block.language == "sh" and len(lines) == 1 and lines[0].startswith("scribe-mock ")
            and not lines[0].split("#", 1)[0].rstrip().endswith("&"))


def mock_command(line: str, port: int) -> list[str]:
    """A ``scribe-mock`` line as an argv on ``port``, run from this checkout."""
    words = shlex.split(line.split("#", 1)[0].rstrip().rstrip("&"))
    words = [str(port) if w == DOC_PORT else w for w in words]
    return [sys.executable, "-m", "mock_server", *words[1:]]


def compare_output(shown: str, stdout: str, *, prefix: bool = False) -> None:
    """The shown output, line by line; with ``prefix``, the first lines of stdout only."""
    expected = [line.rstrip() for line in shown.rstrip("\n").splitlines()]
    got = [line.rstrip() for line in stdout.rstrip("\n").splitlines()]
    if prefix:
        got = got[:len(expected)]
    assert got == expected, "\n".join(["shown:", *expected, "printed:", *got])


class DocRun:
    """The state of one page read from the top: its environment and its background servers."""

    def __init__(self, env: dict[str, str], workdir: pathlib.Path) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.port: int | None = None  # the free port that stands for 8765 on this page
        self.servers: list[subprocess.Popen[str]] = []

    def localise(self, code: str) -> str:
        """The block as the harness runs it: its port, the local HTTP server, no pip lines."""
        if self.port is None and DOC_PORT in code:
            self.port = free_port()
        if self.port is not None:
            code = code.replace(DOC_PORT, str(self.port))
        code = code.replace("https://example.com/", self.env["README_HTTP"])
        return "\n".join(line for line in code.splitlines()
                         if not line.lstrip().startswith("pip install"))

    def run(self, block: Block) -> subprocess.CompletedProcess[str]:
        """Run one block; raise AssertionError (with its stderr) if it fails."""
        if is_server_block(block):
            return self._run_server(block)
        code = self.localise(block.code)
        if block.language == "python":
            argv = [sys.executable, "-c", code]
        else:
            code = self._start_background(code)
            argv = ["bash", "-e", "-o", "pipefail", "-c", code]
        proc = subprocess.run(argv, cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        if block.language == "sh":
            for name, value in re.findall(r"^export (\w+)=(\S+)", code, flags=re.MULTILINE):
                self.env[name] = value
            # `export A=1 B=2` on one line sets both.
            for line in re.findall(r"^export (.*)$", code, flags=re.MULTILINE):
                for name, value in re.findall(r"(\w+)=(\S+)", line.split("#", 1)[0]):
                    self.env[name] = value
        if block.output is not None:
            compare_output(self.localise(block.output), proc.stdout)
        if block.language == "python":
            for expected in re.findall(r"^print\(.*\)\s+# (.+)$", block.code, flags=re.MULTILINE):
                assert expected.strip() in proc.stdout, (expected, proc.stdout)
        return proc

    def _start_background(self, code: str) -> str:
        """Start each ``scribe-mock ... &`` line here (so it outlives the block); drop it."""
        kept = []
        for line in code.splitlines():
            if line.startswith("scribe-mock ") and line.split("#", 1)[0].rstrip().endswith("&"):
                assert self.port is not None
                self.servers.append(self._spawn(line))
            else:
                kept.append(line)
        return "\n".join(kept)

    def _spawn(self, line: str) -> subprocess.Popen[str]:
        assert self.port is not None
        # Its stderr goes to a file: a pipe nobody reads could fill up and stall the server.
        with open(self.workdir / f"scribe-mock-{len(self.servers)}.log", "w") as log:
            process = subprocess.Popen(mock_command(line, self.port), cwd=self.workdir,
                                       env=self.env, stdout=subprocess.PIPE, stderr=log,
                                       text=True)
        assert process.stdout is not None
        first = process.stdout.readline()  # "scribe-mock listening on ...": it is serving
        assert "listening on" in first, first
        return process

    def _run_server(self, block: Block) -> subprocess.CompletedProcess[str]:
        port = free_port()
        line = block.code.strip()
        process = subprocess.Popen(mock_command(line, port), cwd=self.workdir, env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            shown = (block.output or "scribe-mock listening on").rstrip("\n").splitlines()
            printed = [process.stdout.readline() for _ in shown]
            process.send_signal(signal.SIGINT)
            assert process.wait(20) == 0
        finally:
            stop(process)
        if block.output is not None:
            # Ports and pids are the machine's: 8765 (or --port 0's pick) and 4242 4243 stand
            # for them.
            def normal(text: str) -> str:
                text = re.sub(r"(127\.0\.0\.1|0\.0\.0\.0):\d+", r"\1:PORT", text)
                return re.sub(r"pids \d+ \d+", "pids N N", text)

            compare_output(normal(block.output), normal("".join(printed)), prefix=True)
        return subprocess.CompletedProcess(process.args, 0, "".join(printed), "")

    def close(self) -> None:
        for process in self.servers:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            finally:
                stop(process)
        self.servers.clear()


def stop(process: subprocess.Popen[str]) -> None:
    """Kill a child still running and close its pipes."""
    if process.poll() is None:
        process.kill()
        process.wait(10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def all_blocks() -> Iterator[Block]:
    for path in pages():
        yield from blocks_of(path)


# Test-environment knobs a child process must not inherit from the developer's shell.
SCRUBBED = ("COLUMNS", "ELEVENLABS_API_KEY", "SCRIBE_SYNC_BASE_URL")


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env
