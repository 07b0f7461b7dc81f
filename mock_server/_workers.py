"""Several mock processes on one port: ``scribe-mock --workers N``.

The parent process reserves the port (a bound, non-listening ``SO_REUSEPORT`` socket, so that
``--port 0`` has a number to share) and starts N worker processes, each a full mock server
listening on that port with ``SO_REUSEPORT``: the kernel spreads connections over them. The
parent serves nothing itself; it prints the URL once every worker is ready, stops them all on
Ctrl+C or SIGTERM, and stops them all if one dies.

Shared state stays in the worker that owns it, and workers ask each other over a private
loopback port each (``/_worker/...``, refused without the secret the parent hands out):

- The admin API (``/_mock/...``), answered by whichever worker a request reaches, fans out to
  every worker: ``sessions`` is every worker's journal merged in opening order (each record
  gets a ``worker`` field; ``index`` counts per worker), ``health`` sums open sessions,
  ``reset`` and ``scenario`` apply to all.
- A single-use token names the worker that minted it (its first two hex digits); a session
  that presents it on another worker asks the owner to consume it, so it stays single-use.
- Per-worker only: ``max_sessions_per_key`` and the scenario session numbering (``session``
  in a fault) count the sessions of one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any, Final

import aiohttp
from aiohttp import web

from ._http import is_loopback, json_response
from .admin import Admin, LocalAdmin
from .scenarios import Scenario
from .server import MockServer

__all__ = ["WORKER_ENV", "Cluster", "WorkerStartError", "run_parent", "run_worker"]

#: Set in a worker's environment: ``{"index": i, "secret": "..."}`` (JSON).
WORKER_ENV: Final = "SCRIBE_MOCK_WORKER"
_SECRET_HEADER: Final = "X-Scribe-Mock-Worker"
_TIMEOUT: Final = aiohttp.ClientTimeout(total=10)


class WorkerStartError(RuntimeError):
    """A worker process exited before it was ready (the command reports it in one line)."""


class Cluster:
    """Every worker, as seen from one of them: the worker's topology and its admin (all
    coroutines run on its event loop).

    Args:
        index: this worker's number (0-based); it prefixes the tokens it mints.
        secret: the parent's secret that the workers' private API requires.
    """

    private_site: Final = True

    def __init__(self, index: int, secret: str) -> None:
        self.index = index
        self.secret = secret
        self.ports: list[int] = []  # private ports, by worker index; set once all started
        self._local: LocalAdmin | None = None

    # ---------------------------------------------------------------------------- topology

    @property
    def token_prefix(self) -> str:
        return f"{self.index:02x}"

    def routes(self) -> Sequence[web.RouteDef]:
        return (web.route("*", "/_worker/{action}", self._handle),)

    def admin(self, local: LocalAdmin) -> Admin:
        self._local = local
        return self

    @property
    def local(self) -> LocalAdmin:
        """This worker's own state."""
        if self._local is None:
            raise RuntimeError("the cluster is not attached to a server")
        return self._local

    # ---------------------------------------------------------------------------- as a client

    async def _call(self, port: int, method: str, action: str, body: Any = None,
                    query: dict[str, str] | None = None) -> Any:
        url = f"http://127.0.0.1:{port}/_worker/{action}"
        async with aiohttp.ClientSession(timeout=_TIMEOUT) as client, client.request(
            method, url, json=body, params=query, headers={_SECRET_HEADER: self.secret}
        ) as response:
            response.raise_for_status()
            return await response.json()

    async def _all(self, method: str, action: str, body: Any = None,
                   query: dict[str, str] | None = None) -> list[Any]:
        return await asyncio.gather(
            *(self._call(port, method, action, body, query) for port in self.ports)
        )

    async def consume_token(self, token: str) -> str | None:
        try:
            owner = int(token[len("sutkn_") : len("sutkn_") + 2], 16)
        except ValueError:
            return None
        if owner == self.index:
            return await self.local.consume_token(token)
        if not 0 <= owner < len(self.ports):
            return None
        answer = await self._call(self.ports[owner], "POST", "consume", {"token": token})
        key = answer.get("api_key")
        return key if isinstance(key, str) else None

    async def sessions(self) -> list[dict[str, Any]]:
        merged = [record for records in await self._all("GET", "sessions") for record in records]
        merged.sort(key=lambda record: (record["opened_at"], record["worker"]))
        return merged

    async def health(self) -> dict[str, Any]:
        answers = await self._all("GET", "health")
        return {
            "ok": True,
            "open_sessions": sum(answer["open_sessions"] for answer in answers),
            "port": (await self.local.health())["port"],
            "workers": len(answers),
        }

    async def reset(self) -> None:
        await self._all("POST", "reset")

    async def install_scenario(self, data: Any, api_key: str | None) -> None:
        if data is not None:
            Scenario.from_dict(data)  # a bad scenario fails here, before any worker has it
        await self._all("POST", "scenario", data, None if api_key is None else {"api_key": api_key})

    # ---------------------------------------------------------------------------- as a server

    async def _handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(_SECRET_HEADER, "")
        if not is_loopback(request.remote) or not hmac.compare_digest(given, self.secret):
            return json_response(403, {"detail": "workers only"})
        local, action = self.local, request.match_info["action"]
        if action == "sessions":
            records = [{**record, "worker": self.index} for record in await local.sessions()]
            return json_response(200, records)
        if action == "health":
            return json_response(200, {"open_sessions": (await local.health())["open_sessions"]})
        if action == "reset":
            await local.reset()
            return json_response(200, {"ok": True})
        if action == "scenario":
            await local.install_scenario(await request.json(), request.query.get("api_key"))
            return json_response(200, {"ok": True})
        if action == "consume":
            token = (await request.json()).get("token", "")
            return json_response(200, {"api_key": await local.consume_token(str(token))})
        return json_response(404, {"detail": "Not Found"})


# =============================================================================================
# Processes


def run_worker(settings: dict[str, Any], stop: threading.Event) -> int:
    """A worker's life: serve on the shared port, report, learn the others, serve until
    ``stop`` is set or the parent goes away (stdin closes)."""
    info = json.loads(os.environ.pop(WORKER_ENV))
    cluster = Cluster(int(info["index"]), str(info["secret"]))
    server = MockServer(**settings, reuse_port=True, topology=cluster)

    def watch_parent() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        stop.set()

    with server:
        print(json.dumps({"private_port": server.private_port}), flush=True)
        line = sys.stdin.readline()
        if not line:
            return 1
        # Set before "ready": the parent prints the URL (so admin requests come) only after.
        cluster.ports = [int(p) for p in json.loads(line)["ports"]]
        print(json.dumps({"ready": True}), flush=True)
        watcher = threading.Thread(target=watch_parent, name="scribe-mock-parent", daemon=True)
        watcher.start()
        stop.wait()
    return 0


def _reserve(host: str, port: int) -> socket.socket:
    """A bound, non-listening socket that holds the port (and picks one for port 0).

    Raises:
        OSError: the port is in use, by any server (``EADDRINUSE``).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # First a bind without SO_REUSEPORT, as a single server binds (SO_REUSEADDR, as asyncio
    # sets it): with SO_REUSEPORT alone, a port another --workers cluster of this user listens
    # on would be shared with it, the kernel splitting connections between the two.
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind((host, port))
    return reserved


def run_parent(argv: Sequence[str], workers: int, host: str, port: int,
               stop: threading.Event) -> int:
    """Start ``workers`` worker processes on one port; return when ``stop`` is set or one dies."""
    import secrets

    reserved = _reserve(host, port)
    port = reserved.getsockname()[1]
    secret = secrets.token_hex(16)
    command = [sys.executable, "-m", "mock_server", *argv, "--port", str(port)]
    procs: list[subprocess.Popen[str]] = []
    try:
        for index in range(workers):
            env = dict(os.environ, **{WORKER_ENV: json.dumps({"index": index, "secret": secret})})
            procs.append(subprocess.Popen(command, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True, env=env))
        ports = [json.loads(_line(proc))["private_port"] for proc in procs]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"ports": ports}) + "\n")
            proc.stdin.flush()
        for proc in procs:
            json.loads(_line(proc))
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"
        print(f"scribe-mock listening on {base}", flush=True)
        print(f"  WebSocket: {base.replace('http', 'ws', 1)}/v1/speech-to-text/realtime",
              flush=True)
        print(f"  admin:     {base}/_mock/sessions", flush=True)
        print(f"  workers:   {workers} processes (pids {' '.join(str(p.pid) for p in procs)})",
              flush=True)
        while not stop.wait(0.5):
            if any(proc.poll() is not None for proc in procs):
                print("scribe-mock: a worker exited; stopping", file=sys.stderr, flush=True)
                return 1
        return 0
    finally:
        _stop_all(procs)
        reserved.close()


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise WorkerStartError(f"worker {proc.pid} exited during start-up")
    return line


def _stop_all(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()  # a worker stops at EOF
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
