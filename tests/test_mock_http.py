"""Token endpoint, CORS, admin API, CLI, benchmark stamps and many concurrent sessions."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mock_server import MockServer
from mock_server.testing import Peer, chunk, silence, speech

ROOT = Path(__file__).resolve().parent.parent


def _http(method: str, url: str, *, headers: dict[str, str] | None = None,
          body: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data = response.read()
            return response.status, dict(response.headers), json.loads(data) if data else None
    except urllib.error.HTTPError as exc:
        data = exc.read()
        exc.close()
        return exc.code, dict(exc.headers), json.loads(data) if data else None


def test_token_is_single_use_and_expires() -> None:
    """Tokens work once and not after 15 minutes (injected clock)."""
    now = [1000.0]
    with MockServer(api_keys=["k"], clock=lambda: now[0]) as server:
        url = server.base_url + "/v1/single-use-token/realtime_scribe"
        status, headers, body = _http("POST", url, headers={"xi-api-key": "k"})
        assert status == 200
        assert body["token"].startswith("sutkn_")
        assert headers["Access-Control-Allow-Origin"] == "*"
        first = Peer(server, api_key=None, token=body["token"])
        first.recv_until("session_started")
        first.close()
        reused = Peer(server, api_key="k", token=body["token"])  # the token wins over the key
        assert [m["message_type"] for m in reused.recv_all()] == ["auth_error"]

        _, _, late = _http("POST", url, headers={"xi-api-key": "k"})
        now[0] += 15 * 60
        expired = Peer(server, api_key=None, token=late["token"])
        assert [m["message_type"] for m in expired.recv_all()] == ["auth_error"]


def test_token_endpoint_rejects_bad_key_and_type() -> None:
    """A bad key gets 401, an unknown token type 422."""
    with MockServer(api_keys=["k"]) as server:
        base = server.base_url + "/v1/single-use-token/"
        assert _http("POST", base + "realtime_scribe", headers={"xi-api-key": "x"})[0] == 401
        assert _http("POST", base + "realtime_scribe")[0] == 401
        assert _http("POST", base + "nope", headers={"xi-api-key": "k"})[0] == 422


def test_token_endpoint_cors_preflight(scribe_mock: MockServer) -> None:
    """OPTIONS on the token endpoint answers a browser's CORS preflight."""
    status, headers, _ = _http(
        "OPTIONS",
        scribe_mock.base_url + "/v1/single-use-token/realtime_scribe",
        headers={"Origin": "http://localhost:3000",
                 "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "xi-api-key"},
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "xi-api-key"


def test_admin_api_lists_resets_and_installs_scenarios(scribe_mock: MockServer) -> None:
    """/_mock/ lists the journal, installs a scenario for a key, and resets."""
    peer = Peer(scribe_mock)
    peer.recv_until("session_started")
    peer.send(chunk(silence(0.5), commit=True))
    peer.recv_until("committed_transcript")
    peer.close()
    scribe_mock.wait_idle()
    status, _, sessions = _http("GET", scribe_mock.base_url + "/_mock/sessions")
    assert status == 200
    assert sessions[0]["audio_bytes"] == 16000
    assert sessions[0]["headers"]["xi-api-key"] == "<redacted>"
    assert [f["message_type"] for f in sessions[0]["frames"]][:2] == [
        "session_started", "input_audio_chunk"
    ]

    scenario = {"faults": [{"action": "error", "when": "connect", "error_type": "quota_exceeded"}]}
    status, _, _ = _http("POST", scribe_mock.base_url + "/_mock/scenario?api_key=poor",
                         body=json.dumps(scenario).encode(),
                         headers={"Content-Type": "application/json"})
    assert status == 200
    poor = Peer(scribe_mock, api_key="poor")
    assert [m["message_type"] for m in poor.recv_all()] == ["quota_exceeded"]
    rich = Peer(scribe_mock, api_key="rich")
    rich.recv_until("session_started")
    rich.close()

    assert _http("POST", scribe_mock.base_url + "/_mock/reset", body=b"")[0] == 200
    assert _http("GET", scribe_mock.base_url + "/_mock/sessions")[2] == []
    after = Peer(scribe_mock, api_key="poor")
    after.recv_until("session_started")
    after.close()
    assert _http("POST", scribe_mock.base_url + "/_mock/scenario", body=b"{bad")[0] == 400
    assert _http("GET", scribe_mock.base_url + "/nowhere")[0] == 404


def test_admin_scenario_takes_only_an_object(tmp_path: Path) -> None:
    """POST /_mock/scenario takes a scenario object or null; a JSON string is not read as a
    file on the server (a valid scenario file there is not installed), and a missing file,
    a directory, deep nesting, numbers or lists all get a 400 with one message, never a 500."""
    path = tmp_path / "quota.json"
    path.write_text(json.dumps({"faults": [{"action": "error", "when": "connect",
                                            "error_type": "quota_exceeded"}]}))
    bodies = [json.dumps(str(path)), b'"no-such-file"', b'"/"', b"[" * 100_000, b"5",
              b"true", b"[]", b"{bad", b'{"faults": ' + b"[" * 100_000 + b"}"]
    with MockServer() as server:
        url = server.base_url + "/_mock/scenario"
        for body in bodies:
            status, _, answer = _http("POST", url, body=body if isinstance(body, bytes)
                                      else body.encode())
            assert status == 400, body[:40]
            assert answer["detail"].startswith("invalid scenario: ")
            assert "\n" not in answer["detail"]
        with Peer(server) as peer:
            peer.recv_until("session_started")  # nothing was installed
        assert _http("POST", url, body=b"null")[0] == 200


def test_admin_api_refuses_non_loopback(scribe_mock: MockServer) -> None:
    """Admin requests from a non-loopback address get 403 (the route's own check)."""
    import asyncio
    from unittest import mock

    from aiohttp.test_utils import make_mocked_request

    from mock_server._http import build_app

    app = build_app(scribe_mock.context)
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("10.1.2.3", 5555) if name == "peername" else default)

    async def handle() -> int:
        probe = make_mocked_request("GET", "/_mock/sessions", app=app)
        match = await app.router.resolve(probe)
        request = make_mocked_request("GET", "/_mock/sessions", app=app, transport=transport,
                                      match_info=dict(match))
        response = await match.handler(request)
        return response.status

    assert asyncio.run(handle()) == 403


def test_bench_stamps() -> None:
    """stamp_send_times adds _mock_sent_ns (monotonic ns) to every message."""
    with MockServer(stamp_send_times=True) as server:
        before = __import__("time").monotonic_ns()
        peer = Peer(server)
        started = peer.recv_until("session_started")
        peer.close()
    assert isinstance(started["_mock_sent_ns"], int)
    assert started["_mock_sent_ns"] >= before


@pytest.mark.scribe_mock(transcript="marker works")
def test_plugin_marker_settings(scribe_mock: MockServer) -> None:
    """@pytest.mark.scribe_mock passes settings to the fixture's server."""
    peer = Peer(scribe_mock)
    peer.recv_until("session_started")
    peer.send_audio(speech(0.8))
    peer.commit()
    assert peer.recv_until("committed_transcript")["text"] == "marker works"
    peer.close()


def test_many_sessions_stay_isolated() -> None:
    """Sixteen concurrent sessions each get exactly their own audio and transcript."""
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    ready = threading.Barrier(16)

    with MockServer(idle_timeout_secs=None) as server:

        def run(n: int) -> None:
            try:
                peer = Peer(server, api_key=f"key-{n}")
                peer.recv_until("session_started")
                ready.wait(10)
                peer.send_audio(speech(1.2, seed=n), chunk_bytes=1600)
                peer.commit()
                results[n] = peer.recv_until("committed_transcript")["text"]
                peer.close()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,), name=f"test-peer-{n}")
                   for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        records = server.wait_idle(count=16)
    by_key = {r.key_label: r for r in records}
    for n in range(16):
        record = by_key["…" + f"key-{n}"[-4:]]
        assert record.audio_sha256 == hashlib.sha256(speech(1.2, seed=n)).hexdigest()
        assert record.commits == 1
    # Same audio, same text: session n's text equals a fresh solo run of seed n.
    with MockServer() as solo:
        peer = Peer(solo)
        peer.recv_until("session_started")
        peer.send_audio(speech(1.2, seed=3))
        peer.commit()
        assert peer.recv_until("committed_transcript")["text"] == results[3]
        peer.close()


def test_cli_prints_url_and_stops_on_sigint() -> None:
    """scribe-mock --port 0 prints the base URL, serves, and exits 0 on Ctrl+C."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", "0", "--api-key", "cli-key",
         "--transcript", "from the command line"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("scribe-mock listening on http://127.0.0.1:")
        base_url = line.split()[-1]

        class Target:
            ws_url = base_url.replace("http://", "ws://") + "/v1/speech-to-text/realtime"

        peer = Peer(Target(), api_key="cli-key")
        peer.recv_until("session_started")
        peer.send_audio(speech(1.6))
        peer.commit()
        assert peer.recv_until("committed_transcript")["text"] == "from the command line"
        peer.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
