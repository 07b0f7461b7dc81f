"""The ``scribe-mock`` command: run the fake Scribe Realtime server until Ctrl+C.

Exit codes: 0 after Ctrl+C or SIGTERM; 1 when a ``--workers`` worker died; 2 for a bad option
or a start-up failure (port in use, unreadable or invalid scenario or transcript file, bad
certificate, a host that cannot be bound), printed as one line ``scribe-mock: error: ...``.

Example::

    scribe-mock --port 8765 --api-key test-key --transcript "hello world"
    python -m mock_server --port 0 --scenario faults.json --key-scenario flaky=flaky.json
    scribe-mock --port 8765 --workers 2 --journal-frames none   # two processes, one port
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from typing import Any

from . import MockDependencyError, _cassette_cli
from ._options import (
    MAX_WORKERS_PER_CPU,
    build_parser,
    check_conflicts,
    describe_error,
    max_workers,
)
from .validation import MockConfigError

try:
    from . import _workers
    from .scenarios import load_scenario
    from .server import MockServer
except ModuleNotFoundError as exc:
    # The base install has the command but not the mock extra (aiohttp, numpy): main() says so
    # in one line, after --help has had its chance. A module of our own missing is a bug.
    if exc.name is None or exc.name.split(".")[0] in ("mock_server", "scribe_sync"):
        raise
    _MISSING: str | None = exc.name
else:
    _MISSING = None

__all__ = [
    "MAX_WORKERS_PER_CPU",
    "StartupError",
    "build_parser",
    "main",
    "max_workers",
    "settings_from_args",
]


class StartupError(Exception):
    """A start-up failure the command reports in one line (exit code 2)."""


def _scenario(option: str, path: str) -> Any:
    try:
        return load_scenario(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"{option} {path}: cannot read it: {describe_error(exc)}") from None
    except json.JSONDecodeError as exc:
        raise StartupError(f"{option} {path}: not JSON: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise StartupError(f"{option} {path}: not a valid scenario: {exc}") from None


def _ssl_context(certfile: str, keyfile: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        reason = describe_error(exc)
        raise StartupError(f"--certfile {certfile}: cannot load it: {reason}") from None
    return context


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """MockServer keyword arguments from parsed options.

    Raises:
        StartupError: a scenario or certificate file cannot be read or is invalid.
    """
    settings: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "api_keys": args.api_keys,
        "scenario": None if args.scenario is None else _scenario("--scenario", args.scenario),
        "key_scenarios": {
            key: _scenario(f"--key-scenario {key}=", path) for key, path in args.key_scenario
        },
        "transcript": args.transcript,
        "word_ms": args.word_ms,
        "echo_partial": not args.no_echo_partial,
        "auto_commit_secs": args.auto_commit_secs,
        "idle_timeout_secs": args.idle_timeout_secs,
        "idle_error": args.idle_error,
        "handshake_timeout_secs": args.handshake_timeout_secs,
        "read_timeout_secs": args.read_timeout_secs,
        "max_chunk_bytes": args.max_chunk_bytes,
        "max_session_secs": args.max_session_secs,
        "max_sessions_per_key": args.max_sessions_per_key,
        "stamp_send_times": args.bench_stamps,
        "journal_sessions": args.journal_sessions,
        "timing": args.timing,
        "timing_seed": args.timing_seed,
        "language_format": args.language_format,
        "audio_check": args.audio_check,
        **_cassette_cli.replay_settings(args),
    }
    if args.no_journal_frames or args.journal_frames is not None:
        settings["journal_frames"] = "none" if args.no_journal_frames else args.journal_frames
    if args.certfile:
        settings["ssl_context"] = _ssl_context(args.certfile, args.keyfile)
    return settings


def _serve(argv: list[str], args: argparse.Namespace, stop: threading.Event) -> int:
    if os.environ.get(_workers.WORKER_ENV):
        return _workers.run_worker(settings_from_args(args), stop)
    if args.workers > 1:
        MockServer(**settings_from_args(args))  # bad options fail here, not in every worker
        code = _workers.run_parent(argv, args.workers, args.host, args.port, stop)
    else:
        code = 0
        with MockServer(**settings_from_args(args)) as server:
            print(f"scribe-mock listening on {server.base_url}", flush=True)
            print(f"  WebSocket: {server.ws_url}", flush=True)
            print(f"  admin:     {server.base_url}/_mock/sessions", flush=True)
            while not stop.wait(3600):
                pass
    print("scribe-mock: shutting down", file=sys.stderr, flush=True)
    return code


def _one_line(exc: BaseException, args: argparse.Namespace) -> str:
    """A start-up failure as the one line ``scribe-mock: error: ...`` shows."""
    if isinstance(exc, MockConfigError):
        return f"--{exc.option.replace('_', '-')} must be {exc.allowed}"
    if isinstance(exc, OSError):
        return f"cannot listen on {args.host}:{args.port}: {describe_error(exc)}"
    return str(exc)


def _stop_at_eof(stop: threading.Event) -> None:
    """Read stdin until it ends (the writer, a supervising program, closed it or died), then
    stop. A daemon thread: a read blocked on a pipe cannot be interrupted, and the process
    ends with the server."""
    stream = sys.stdin.buffer if sys.stdin is not None else None
    while stream is not None and stream.read(4096):
        pass
    stop.set()


def main(argv: Sequence[str] | None = None) -> int:
    """Run until Ctrl+C (SIGINT) or SIGTERM; print the base URL first."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _cassette_cli.COMMANDS:  # record, cassette show|diff
        return _cassette_cli.main(argv)
    parser = build_parser()
    _cassette_cli.add_replay_options(parser)
    args = parser.parse_args(argv)
    if _MISSING is not None:
        print(f"scribe-mock: error: {MockDependencyError(_MISSING)}", file=sys.stderr)
        return 2
    problem = check_conflicts(args) or _cassette_cli.check_replay_options(args)
    if problem is None:
        problem = _cassette_cli.check_files(args)  # --cassette, --timing FILE
    if problem is not None:
        print(f"scribe-mock: error: {problem}", file=sys.stderr)
        return 2
    stop = threading.Event()
    if args.stop_on_stdin_eof:
        threading.Thread(target=_stop_at_eof, args=(stop,), name="scribe-mock-stdin",
                         daemon=True).start()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {
        sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return _serve(argv, args, stop)
    except (StartupError, MockConfigError, OSError, _workers.WorkerStartError) as exc:
        # OSError: the port is taken, the host unknown or not ours (start-up binds it).
        print(f"scribe-mock: error: {_one_line(exc, args)}", file=sys.stderr, flush=True)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
