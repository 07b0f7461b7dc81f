"""``scribe-sync bench`` under hostile input: absurd numbers are refused before any session, an
unwritable --plot or --record-timing is one line and exit 6, and Ctrl+C, SIGTERM and SIGHUP end
the run at once, with no session started after them and no mock server left behind."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time

import pytest

from mock_server import MockServer
from scribe_sync.audio._sample import sample_sentences
from scribe_sync.cli import EXIT_OUTPUT, EXIT_USAGE
from tests.test_cli import KEY, TIMEOUT, _cli, _env, one_error_line, run


@pytest.mark.parametrize(("args", "expected"), [
    (["--chunk-ms", "-1"], "--chunk-ms must be between 20 and 1000"),
    (["--chunk-ms", "0"], "--chunk-ms must be between 20 and 1000"),
    (["--chunk-ms", str(2**64)], "--chunk-ms must be between 20 and 1000"),
    (["-n", str(2**64)], "--sessions must be between 1 and"),
])
def test_an_absurd_bench_number_is_refused_before_any_session(args: list[str],
                                                              expected: str) -> None:
    """Exit 2 in one line, no mock started (--chunk-ms used to fail each session, exit 5; a
    huge -n queued that many sessions in memory)."""
    proc = run("bench", "--mock", *args)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert expected in one_error_line(proc.stderr)


def test_record_timing_on_a_full_disk_is_one_line_and_exit_6(short_wav: pathlib.Path) -> None:
    """It was an internal error (exit 1) after the whole run."""
    proc = run("bench", "--mock", "-n", "1", str(short_wav), "--record-timing", "/dev/full")
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert "/dev/full" in one_error_line(proc.stderr)


def test_record_timing_is_written_whole_with_a_plain_mode(short_wav: pathlib.Path,
                                                          tmp_path: pathlib.Path) -> None:
    out = tmp_path / "timing.json"
    proc = run("bench", "--mock", "-n", "1", str(short_wav), "--record-timing", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8").endswith("}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.wav", "timing.json"]


@pytest.fixture
def server() -> MockServer:
    with MockServer(transcript=sample_sentences()) as mock:
        yield mock  # type: ignore[misc]


def _wait_for(condition: object, what: str) -> None:
    """Poll ``condition`` (a callable) until true: synchronising on state, not on a sleep."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["INT", "TERM", "HUP"])
def test_a_signal_stops_the_bench_and_no_new_session_starts(
    server: MockServer, sig: signal.Signals,
) -> None:
    """Mid-session, the signal ends the run (128+N): before, Ctrl+C was counted and ignored
    until every session had streamed the 14 s sample, and SIGTERM killed the process."""
    proc = subprocess.Popen(
        _cli("bench", "--base-url", server.base_url, "--api-key", KEY, "-n", "3"),
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        _wait_for(lambda: len(server.sessions()) >= 1, "a bench session opened")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert len(server.sessions()) == 1  # stopped: the other two never started


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
            found += [int(c) for c in handle.read().split()]
    return found


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs /proc")
def test_sigterm_on_bench_mock_leaves_no_mock_server_behind() -> None:
    """The mock server child is stopped with the run (it was orphaned, listening forever)."""
    proc = subprocess.Popen(_cli("bench", "--mock", "-n", "2"), env=_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        children: list[int] = []

        def started() -> bool:
            children[:] = _children(proc.pid)
            return bool(children)

        _wait_for(started, "the mock server child started")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, err
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)


HIDE_AIOHTTP = '''
import sys

class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "aiohttp" or name.startswith("aiohttp."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Hide())
'''


def test_bench_mock_without_the_mock_extra_is_the_same_line_as_elsewhere(
    tmp_path: pathlib.Path,
) -> None:
    """aiohttp hidden (as when the mock extra is not installed): exit 2 and the line --mock
    gives everywhere else (it was exit 5, "the mock server did not start")."""
    (tmp_path / "sitecustomize.py").write_text(HIDE_AIOHTTP, encoding="utf-8")
    env = _env()
    env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env["PYTHONPATH"]
    proc = subprocess.run(_cli("bench", "--mock", "-n", "1"), env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "needs aiohttp" in one_error_line(proc.stderr)


@pytest.mark.parametrize("alias", ["same", "hardlink", "symlink"])
def test_record_timing_naming_the_input_is_refused_before_any_session(
    short_wav: pathlib.Path, alias: str,
) -> None:
    """It replaced the bench's own audio with the JSON profile (exit 0): now the same refusal
    as transcribe's -o naming its input."""
    before = short_wav.read_bytes()
    target = short_wav if alias == "same" else short_wav.with_name("alias.json")
    if alias == "hardlink":
        os.link(short_wav, target)
    elif alias == "symlink":
        target.symlink_to(short_wav)
    proc = run("bench", "--mock", "-n", "1", str(short_wav), "--record-timing", str(target))
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "--record-timing" in one_error_line(proc.stderr)
    assert short_wav.read_bytes() == before
