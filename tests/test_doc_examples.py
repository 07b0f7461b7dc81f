"""Every code block of README.md and docs/*.md runs, and the output it shows is what it prints.

The conventions (which blocks run, where, what state carries over, how shown output is
asserted, how a block opts out) are in tests/docblocks.py.
"""

from __future__ import annotations

import functools
import http.server
import pathlib
import shutil
import sys
import threading
from collections.abc import Iterator

import pytest
import soundfile

from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync.audio import sample_path
from tests.docblocks import KEY, Block, DocRun, all_blocks, base_env, blocks_of, pages
from tests.fakemic import fake_mic_home

BLOCKS = list(all_blocks())

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


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep request lines out of the test output."""


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    """The server the examples reach through SCRIBE_SYNC_BASE_URL unless a page starts its own."""
    with MockServer() as server:
        yield server


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory,
         mock: MockServer) -> Iterator[dict[str, DocRun]]:
    """One DocRun per page (made up front: the leak check would flag threads started inside
    a test), closed at the end."""
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def make(page: str) -> DocRun:
        root = tmp_path_factory.mktemp("doc")
        work = root / "work"
        work.mkdir()
        data, rate = soundfile.read(sample_path(), dtype="int16")
        soundfile.write(work / "talk.mp3", data, rate, format="MP3")
        home = fake_mic_home(root, speech(1.6, seed=2) + silence(2.0))
        bin_dir = root / "bin"
        bin_dir.mkdir()
        shim = bin_dir / "scribe-sync"
        shim.write_text(SHIM.format(python=sys.executable))
        shim.chmod(0o755)
        env = base_env()
        env.update(SCRIBE_SYNC_BASE_URL=mock.base_url, ELEVENLABS_API_KEY=KEY, HOME=str(home),
                   PATH=f"{bin_dir}:{pathlib.Path(sys.executable).parent}:{env.get('PATH', '')}")
        handler = functools.partial(_QuietHandler, directory=str(work))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=httpd.serve_forever, name=f"doc-http-{page}")
        thread.start()
        servers.append((httpd, thread))
        env["README_HTTP"] = f"http://127.0.0.1:{httpd.server_address[1]}/"
        return DocRun(env, work)

    made = {page: make(page) for page in sorted({block.page for block in BLOCKS})}
    try:
        yield made
    finally:
        for run in made.values():
            run.close()
        for httpd, thread in servers:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_block_runs_and_prints_what_it_shows(block: Block, runs: dict[str, DocRun]) -> None:
    """A README or guide block runs to completion and prints the output shown after it."""
    if block.no_run is not None:
        assert block.no_run, f"{block.id}: a no-run marker needs a reason"
        pytest.skip(f"no-run: {block.no_run}")
    code = block.code
    if "scribe-sync listen" in code or "scribe-sync devices" in code:
        pytest.importorskip("pyaudio", reason="PyAudio (the mic extra) is not installed")
    for tool in ("ffmpeg", "curl"):
        if f"{tool} " in code and shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    runs[block.page].run(block)


def test_every_page_is_covered() -> None:
    """The harness reads the README and every guide page, and finds their blocks."""
    names = [path.name for path in pages()]
    assert names[0] == "README.md" and "getting-started.md" in names
    assert all(blocks_of(path) is not None for path in pages())
    assert sum(block.page == "README.md" for block in BLOCKS) >= 4
