"""The ``scribe-mock`` command: run the fake Scribe Realtime server until Ctrl+C.

Example::

    scribe-mock --port 8765 --api-key test-key --transcript "hello world"
    python -m mock_server --port 0 --scenario faults.json --key-scenario flaky=flaky.json
    scribe-mock --port 8765 --workers 2 --journal-frames none   # two processes, one port
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from . import MockDependencyError, _cassette_cli

try:
    from . import _workers
    from .scenarios import load_scenario
    from .script import Utterance, load_script
    from .server import MockServer
except ModuleNotFoundError as exc:
    # The base install has the command but not the mock extra (aiohttp, numpy): main() says so
    # in one line, after --help has had its chance. A module of our own missing is a bug.
    if exc.name is None or exc.name.split(".")[0] in ("mock_server", "scribe_sync"):
        raise
    _MISSING: str | None = exc.name
else:
    _MISSING = None

__all__ = ["build_parser", "main"]


def _transcript(value: str) -> tuple[Utterance, ...]:
    """``--transcript``: a text (one utterance) or ``@FILE`` (one per line, or a JSON list)."""
    if value.startswith("@"):
        with open(value[1:], encoding="utf-8") as handle:
            return load_script(handle.read())
    return (Utterance.parse(value),)


def _key_scenario(value: str) -> tuple[str, str]:
    key, sep, path = value.partition("=")
    if not sep or not key or not path:
        raise argparse.ArgumentTypeError("expected KEY=FILE")
    return key, path


def _optional_float(value: str) -> float | None:
    return None if value.lower() in ("none", "off", "0") else float(value)


def _journal_frames(value: str) -> str | int:
    if value in ("all", "none"):
        return value
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError("expected all, none or a count >= 0")
    return count


def _optional_int(value: str) -> int | None:
    if value == "all":
        return None
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError("expected all or a count >= 0")
    return count


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="scribe-mock",
        description="A faithful offline fake of the ElevenLabs Scribe v2 Realtime server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--scenario", help="global scenario JSON file")
    parser.add_argument(
        "--key-scenario",
        action="append",
        type=_key_scenario,
        default=[],
        metavar="KEY=FILE",
        help="scenario for sessions authenticated with KEY (repeatable)",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accepted API key (repeatable); default: any non-empty key",
    )
    parser.add_argument(
        "--transcript",
        type=_transcript,
        help="scripted utterance (or @FILE: one utterance per line, or a JSON list)",
    )
    parser.add_argument("--word-ms", type=int, default=400, help="ms of speech per word")
    parser.add_argument("--no-echo-partial", action="store_true", help="no echo partial")
    parser.add_argument(
        "--auto-commit-secs", type=_optional_float, default=36.0, help="'none' disables"
    )
    parser.add_argument(
        "--idle-timeout-secs", type=_optional_float, default=15.0, help="'none' disables"
    )
    parser.add_argument(
        "--idle-error", action="store_true", help="send insufficient_audio_activity first"
    )
    parser.add_argument("--max-chunk-bytes", type=int, help="chunk_size_exceeded above this")
    parser.add_argument("--max-session-secs", type=float, help="session_time_limit_exceeded")
    parser.add_argument("--max-sessions-per-key", type=int, help="rate_limited above this")
    parser.add_argument(
        "--bench-stamps",
        action="store_true",
        help='stamp each sent message with "_mock_sent_ns" (CLOCK_MONOTONIC ns)',
    )
    parser.add_argument(
        "--journal-frames",
        type=_journal_frames,
        default=1000,
        metavar="all|none|N",
        help="frames journaled per session (default 1000: the first 1000 of each of the last "
        "--journal-sessions finished sessions; counts and audio digests are always kept)",
    )
    parser.add_argument(
        "--journal-sessions",
        type=_optional_int,
        default=8,
        metavar="N|all",
        help="finished sessions whose frames are kept (default 8)",
    )
    parser.add_argument(
        "--no-journal-frames",
        action="store_const",
        const="none",
        dest="journal_frames",
        help="the same as --journal-frames none",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve from N processes on one port (SO_REUSEPORT; the admin API answers for all)",
    )
    parser.add_argument(
        "--timing",
        choices=("instant", "live"),
        default="live",
        help="live: the service's delays (commit -> transcript ~300 ms, VAD decision ~0.5 s); "
        "instant: answer at once (default: live)",
    )
    parser.add_argument("--timing-seed", type=int, default=0, help="seed of the live delays")
    parser.add_argument(
        "--language-format",
        choices=("iso639-1", "iso639-3"),
        default="iso639-1",
        help='detected languages as "en" (iso639-1, default) or "eng" (iso639-3)',
    )
    _cassette_cli.add_replay_options(parser)
    parser.add_argument("--certfile", help="serve wss:// with this certificate (PEM)")
    parser.add_argument("--keyfile", help="private key for --certfile")
    return parser


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """MockServer keyword arguments from parsed options."""
    settings: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "api_keys": args.api_keys,
        "scenario": None if args.scenario is None else load_scenario(args.scenario),
        "key_scenarios": {key: load_scenario(path) for key, path in args.key_scenario},
        "transcript": args.transcript,
        "word_ms": args.word_ms,
        "echo_partial": not args.no_echo_partial,
        "auto_commit_secs": args.auto_commit_secs,
        "idle_timeout_secs": args.idle_timeout_secs,
        "idle_error": args.idle_error,
        "max_chunk_bytes": args.max_chunk_bytes,
        "max_session_secs": args.max_session_secs,
        "max_sessions_per_key": args.max_sessions_per_key,
        "stamp_send_times": args.bench_stamps,
        "journal_frames": args.journal_frames,
        "journal_sessions": args.journal_sessions,
        "timing": args.timing,
        "timing_seed": args.timing_seed,
        "language_format": args.language_format,
        **_cassette_cli.replay_settings(args),
    }
    if args.certfile:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.certfile, args.keyfile)
        settings["ssl_context"] = context
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run until Ctrl+C (SIGINT) or SIGTERM; print the base URL first."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _cassette_cli.COMMANDS:  # record, cassette show|diff
        return _cassette_cli.main(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if _MISSING is not None:
        print(f"scribe-mock: error: {MockDependencyError(_MISSING)}", file=sys.stderr)
        return 2
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if (problem := _cassette_cli.check_replay(args)) is not None:  # one line, exit 2
        print(f"scribe-mock: error: {problem}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {
        sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        if os.environ.get(_workers.WORKER_ENV):
            return _workers.run_worker(settings_from_args(args), stop)
        if args.workers > 1:
            settings_from_args(args)  # bad options fail here, not in every worker
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
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
