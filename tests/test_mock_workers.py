"""``scribe-mock --workers N``: several processes on one port, one admin API for all of them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from mock_server.testing import Peer, speech

ROOT = Path(__file__).resolve().parent.parent
KEY = "workers-key"
#: Connections tried before giving up on seeing both workers (the kernel hashes each new
#: connection's addresses; with fresh source ports, 2 workers both serve within a few).
ATTEMPTS = 64


class _Target:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.ws_url = base_url.replace("http://", "ws://") + "/v1/speech-to-text/realtime"


@pytest.fixture
def cluster() -> Iterator[tuple[_Target, subprocess.Popen[str]]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", "0", "--workers", "2",
         "--api-key", KEY, "--api-key", "poor", "--transcript", "two workers"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("scribe-mock listening on http://127.0.0.1:"), lines
        assert lines[3].startswith("  workers:   2 processes"), lines
        yield _Target(lines[0].split()[-1]), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def _session(target: _Target, **kwargs: Any) -> list[str]:
    with Peer(target, **kwargs) as peer:
        first = peer.recv()
        assert first is not None
        if first["message_type"] != "session_started":
            return [first["message_type"]]
        peer.send_audio(speech(0.8))
        peer.commit()
        return ["session_started", peer.recv_until("committed_transcript")["text"]]


def _workers_seen(target: _Target) -> set[int]:
    return {record["worker"] for record in _http("GET", target.base_url + "/_mock/sessions")}


def test_workers_share_the_port_and_the_admin_api_answers_for_all(
    cluster: tuple[_Target, subprocess.Popen[str]],
) -> None:
    """Sessions land on both processes; /_mock/sessions lists all of them, /_mock/health
    counts both workers, and a token minted by one worker is single-use on the other."""
    target, process = cluster
    for _ in range(ATTEMPTS):
        assert _session(target, api_key=KEY) == ["session_started", "two workers"]
        if _workers_seen(target) == {0, 1}:
            break
    records = _http("GET", target.base_url + "/_mock/sessions")
    assert {r["worker"] for r in records} == {0, 1}
    assert all(r["closed_at"] is not None and r["commits"] == 1 for r in records)
    assert [r["opened_at"] for r in records] == sorted(r["opened_at"] for r in records)
    health = _http("GET", target.base_url + "/_mock/health")
    assert (health["workers"], health["open_sessions"]) == (2, 0)
    children = psutil.Process(process.pid).children()
    assert len(children) == 2

    # A token used on the worker that did not mint it: valid once, then refused.
    token_url = target.base_url + "/v1/single-use-token/realtime_scribe"
    crossed = False
    for _ in range(ATTEMPTS):
        _http("POST", target.base_url + "/_mock/reset", {})
        token = _http("POST", token_url, headers={"xi-api-key": KEY})["token"]
        assert _session(target, api_key=None, token=token)[0] == "session_started"
        served_by = _http("GET", target.base_url + "/_mock/sessions")[0]["worker"]
        if served_by != int(token[len("sutkn_") :][:2], 16):
            crossed = True
            break
    assert crossed, "no token was ever used on another worker"
    assert _session(target, api_key=None, token=token) == ["auth_error"]


def test_reset_and_scenarios_apply_to_every_worker(
    cluster: tuple[_Target, subprocess.Popen[str]],
) -> None:
    """A scenario installed through the admin API holds on both workers; reset empties both."""
    target, _ = cluster
    scenario = {"faults": [{"action": "error", "when": "connect", "error_type": "quota_exceeded"}]}
    _http("POST", target.base_url + "/_mock/scenario?api_key=poor", scenario)
    for _ in range(ATTEMPTS):
        assert _session(target, api_key="poor") == ["quota_exceeded"]
        if _workers_seen(target) == {0, 1}:
            break
    assert _workers_seen(target) == {0, 1}
    _http("POST", target.base_url + "/_mock/reset", {})
    assert _http("GET", target.base_url + "/_mock/sessions") == []
    for _ in range(4):  # reset also removed the scenario, wherever the session lands
        assert _session(target, api_key="poor")[0] == "session_started"


def test_sigint_stops_every_worker(cluster: tuple[_Target, subprocess.Popen[str]]) -> None:
    """Ctrl+C on the parent stops it and both workers, exit status 0."""
    _, process = cluster
    children = psutil.Process(process.pid).children()
    assert len(children) == 2
    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0
    _, alive = psutil.wait_procs(children, timeout=20)
    assert alive == []


def test_a_dead_worker_stops_the_rest(cluster: tuple[_Target, subprocess.Popen[str]]) -> None:
    """When one worker dies, the parent stops the other and exits 1 (no half-served port)."""
    _, process = cluster
    first, second = psutil.Process(process.pid).children()
    first.kill()
    assert process.wait(20) == 1
    _, alive = psutil.wait_procs([second], timeout=20)
    assert alive == []


def test_workers_option_is_validated() -> None:
    """--workers 0 fails before anything starts, naming the option."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "mock_server", "--workers", "0"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert "--workers" in proc.stderr


def test_workers_on_a_port_in_use_fail_with_one_line() -> None:
    """A port another --workers cluster listens on (SO_REUSEPORT) is in use: exit 2 and the
    one-line error, as without --workers, rather than sharing the port with that cluster."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mock_server", "--port", str(port), "--workers", "2"],
            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
            cwd=ROOT, timeout=60,
        )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"scribe-mock: error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    )
