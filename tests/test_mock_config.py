"""Bad input to the mock: scribe-mock's start-up errors are one line and exit 2, and every
option and scenario field is validated in MockServer(...) and at the command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mock_server import MockServer, Scenario, load_scenario
from mock_server.__main__ import build_parser, main, max_workers, settings_from_args
from mock_server.faults import RandomFaults
from mock_server.settings import Settings
from mock_server.validation import MockConfigError

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """main(argv) in this process: its exit code and stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """Bad scenario, transcript and certificate files."""
    (tmp_path / "garbage.json").write_text("{garbage")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "delay.json").write_text('{"delay": {"fixed_secs": -5}}')
    (tmp_path / "count.json").write_text('{"faults": [{"action": "drop", "count": -1}]}')
    (tmp_path / "rate.json").write_text('{"random_faults": {"rate": 5}}')
    (tmp_path / "bad.pem").write_text("not a certificate")
    (tmp_path / "zero.json").symlink_to("/dev/zero")  # endless: it was read to exhaustion
    os.mkfifo(tmp_path / "fifo.json")  # no writer: start-up waited for one for ever
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--port", "-1"], "--port"),
        (["--port", "70000"], "--port"),
        (["--scenario", "{d}/missing.json"], "missing.json"),
        (["--scenario", "{d}/garbage.json"], "not JSON"),
        (["--scenario", "{d}/list.json"], "scenario must be a JSON object"),
        (["--scenario", "{d}/delay.json"], "fixed_secs must be a number >= 0"),
        (["--scenario", "{d}/count.json"], "count must be an integer >= 1"),
        (["--scenario", "{d}/rate.json"], "rate must be a number from 0 to 1"),
        (["--key-scenario", "k={d}/garbage.json"], "--key-scenario"),
        (["--scenario", "/dev/zero"], "/dev/zero: cannot read it: not a regular file"),
        (["--scenario", "{d}/fifo.json"], "fifo.json: cannot read it: not a regular file"),
        (["--key-scenario", "k={d}/zero.json"], "not a regular file"),
        (["--transcript", "@/dev/zero"], "not a regular file"),
        (["--transcript", "@{d}/fifo.json"], "not a regular file"),
        (["--timing", "{d}/zero.json"], "cannot read the timing profile: not a regular file"),
        (["--transcript", "@{d}/missing.txt"], "--transcript"),
        (["--transcript", "[1, "], "--transcript"),
        (["--certfile", "{d}/bad.pem"], "--certfile"),
        (["--host", "no.such.host.invalid"], "no.such.host.invalid"),
        (["--host", "a b"], "--host"),
        (["--workers", "100000"], "--workers"),
        (["--workers", "0"], "--workers"),
        (["--word-ms", "-5"], "--word-ms"),
        (["--word-ms", "0"], "--word-ms"),
        (["--idle-timeout-secs", "-1"], "--idle-timeout-secs"),
        (["--auto-commit-secs", "-1"], "--auto-commit-secs"),
        (["--max-chunk-bytes", "-1"], "--max-chunk-bytes"),
        (["--max-session-secs", "0"], "--max-session-secs"),
        (["--max-sessions-per-key", "-1"], "--max-sessions-per-key"),
    ],
)
def test_a_bad_start_is_one_line_naming_the_problem_and_exit_2(
    argv: list[str], names: str, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every bad option or file gives exit 2 and one stderr line that names it."""
    argv = [arg.replace("{d}", str(files)) for arg in argv]
    code, err = _run(["--port", "0", *argv], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scribe-mock: error: ")
    assert names in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--keyfile", "/nonexistent/key.pem"], "--keyfile needs --certfile"),
        (["--strict"], "--strict needs --cassette"),
        (["--replay-timing", "recorded"], "--replay-timing needs --cassette"),
        (["--replay-timing", "instant"], "--replay-timing needs --cassette"),
        (["--journal-frames", "5", "--no-journal-frames"],
         "--journal-frames and --no-journal-frames contradict each other"),
        (["--no-journal-frames", "--journal-frames", "all"],
         "--journal-frames and --no-journal-frames contradict each other"),
        (["--host", ""], "argument --host: must not be empty"),
    ],
)
def test_conflicting_options_fail_before_starting(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Options that only make sense together, or contradict each other, and an empty --host
    (which binds every address) give one line and exit 2; no server starts."""

    def start(*args: object, **kwargs: object) -> None:
        raise AssertionError("a server started")

    monkeypatch.setattr(MockServer, "start", start)
    code, err = _run(["--port", "0", *argv], capsys)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"scribe-mock: error: {line}")


def test_no_journal_frames_alone_still_works() -> None:
    """--no-journal-frames is --journal-frames none; neither given keeps the default."""
    def settings(*argv: str) -> dict[str, Any]:
        return settings_from_args(build_parser().parse_args(argv))

    assert settings("--no-journal-frames")["journal_frames"] == "none"
    assert settings("--journal-frames", "3")["journal_frames"] == 3
    assert "journal_frames" not in settings()


def test_a_port_in_use_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A port another socket listens on: one line naming the address, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _run(["--port", str(port)], capsys)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert f"cannot listen on 127.0.0.1:{port}" in err


def test_the_command_itself_prints_no_traceback(files: Path) -> None:
    """As a process too (the console script's path): one line on stderr, exit 2."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "mock_server", "--port", "0", "--scenario",
         str(files / "garbage.json")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_workers_are_bounded_by_the_cpu_count() -> None:
    """The bound is the CPU count times a small factor, at least 1."""
    assert 1 <= max_workers() <= (os.cpu_count() or 1) * 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {"word_ms": -5}, {"word_ms": 0}, {"word_ms": 1.5}, {"idle_timeout_secs": -1},
        {"max_chunk_bytes": -1}, {"max_sessions_per_key": -1}, {"max_sessions_per_key": 0},
        {"port": -1}, {"port": 70000}, {"auto_commit_secs": 0}, {"max_session_secs": -1},
        {"max_message_bytes": 0}, {"token_ttl_secs": 0}, {"warmup_secs": -1},
        {"journal_sessions": -1}, {"host": "a b"}, {"timing": "fast"}, {"audio_check": "maybe"},
        {"idle_timeout_secs": float("nan")}, {"word_ms": True},
    ],
)
def test_mockserver_refuses_nonsense_options(kwargs: dict[str, Any]) -> None:
    """MockServer(...) raises MockConfigError (a ValueError) naming the option."""
    with pytest.raises(MockConfigError) as info:
        MockServer(**kwargs)
    assert isinstance(info.value, ValueError)
    assert info.value.option == next(iter(kwargs))
    assert next(iter(kwargs)) in str(info.value)


def test_none_still_disables_the_optional_limits() -> None:
    """None keeps meaning 'off' / 'no limit'."""
    settings = Settings(idle_timeout_secs=None, auto_commit_secs=None, max_chunk_bytes=None,
                        max_sessions_per_key=None, max_session_secs=None)
    assert settings.idle_timeout_secs is None


@pytest.mark.parametrize(
    ("data", "option"),
    [
        ({"delay": {"fixed_secs": -5}}, "fixed_secs"),
        ({"delay": {"jitter_secs": -1}}, "jitter_secs"),
        ({"delay": -5}, "delay"),
        ({"faults": [{"action": "drop", "count": -1}]}, "count"),
        ({"faults": [{"action": "drop", "when": "audio", "seconds": -1}]}, "seconds"),
        ({"faults": [{"action": "drop", "session": 0}]}, "session"),
        ({"faults": [{"action": "close", "code": 70000}]}, "code"),
        ({"faults": "drop"}, "faults"),
        ({"random_faults": {"rate": 5}}, "rate"),
        ({"random_faults": {"rate": -0.1}}, "rate"),
        ({"random_faults": {"error_types": ["nope"]}}, "error_types"),
        ({"nonsense": 1}, "scenario"),
    ],
)
def test_scenarios_refuse_nonsense_fields(data: dict[str, Any], option: str) -> None:
    """A scenario field out of range is a ValueError naming the field."""
    with pytest.raises(ValueError, match=option):
        load_scenario(data)


def test_valid_scenarios_still_load() -> None:
    """The documented example loads; the edges of each range are accepted."""
    scenario = load_scenario({
        "faults": [{"action": "error", "when": "commit", "count": 2}],
        "delay": {"fixed_secs": 0, "jitter_secs": 0.02},
        "random_faults": {"rate": 1.0},
    })
    assert isinstance(scenario, Scenario)
    assert RandomFaults(rate=0.0).rate == 0.0


def test_stop_on_stdin_eof_stops_the_server_when_its_starter_goes() -> None:
    """``scribe-sync bench --mock`` killed by SIGKILL left its mock listening, orphaned; with
    a pipe as stdin and --stop-on-stdin-eof, the pipe's end (its writer gone) stops it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", "0", "--stop-on-stdin-eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert "listening on" in proc.stdout.readline()
        proc.stdin.close()  # what the kernel does for a writer killed by SIGKILL
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
