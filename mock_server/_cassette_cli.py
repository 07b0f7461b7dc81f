"""The cassette side of the ``scribe-mock`` command (docs/cassettes.md).

- ``scribe-mock record --upstream URL --cassette PATH [--keep-audio]``: run the recording proxy
  until Ctrl+C.
- ``scribe-mock cassette show PATH``: a readable timeline.
- ``scribe-mock cassette diff A B``: frame-by-frame differences (exit 1 when there are any).
- The replay options of the server itself (``--cassette``, ``--strict``, ``--replay-timing``):
  :func:`add_replay_options` and :func:`replay_settings`.

Exit codes: 0 done (``diff``: no difference), 1 ``diff`` found differences or ``record`` could
not record a session (not written, or its upstream not reached; each failure was one line on
stderr as it happened), 2 bad usage or an
unreadable cassette (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ._options import port_number

__all__ = ["COMMANDS", "add_replay_options", "check_files", "check_replay_options", "main",
           "replay_settings"]

#: The first arguments that select this module's commands.
COMMANDS = ("record", "cassette")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scribe-mock", description="Record and read cassettes.")
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="record sessions through a proxy to the service")
    record.add_argument("--upstream", default="https://api.elevenlabs.io",
                        help="the service's base URL (default https://api.elevenlabs.io)")
    record.add_argument("--cassette", required=True, help="file, or directory: one file each")
    record.add_argument("--keep-audio", action="store_true", help="keep the audio itself")
    record.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    record.add_argument("--port", type=port_number, default=8766,
                        help="port; 0 picks a free one")
    cassette = commands.add_parser("cassette", help="read cassettes")
    actions = cassette.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="a readable timeline of a cassette")
    show.add_argument("path")
    compare = actions.add_parser("diff", help="compare two cassettes frame by frame")
    compare.add_argument("a")
    compare.add_argument("b")
    return parser


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """The server's replay options."""
    parser.add_argument("--cassette", metavar="PATH",
                        help="replay the sessions of this cassette (file or directory)")
    parser.add_argument("--strict", action="store_true",
                        help="with --cassette: audio that differs from the recording is an error")
    parser.add_argument("--replay-timing", choices=("instant", "recorded"), default=None,
                        help="with --cassette: answer at once (default) or with the recorded "
                        "delays")


def replay_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``MockServer`` keyword arguments of the replay options (loads the cassette: a bad one
    raises :class:`~mock_server.cassette.CassetteError`)."""
    if getattr(args, "cassette", None) is None:
        return {}
    from .cassette import load

    return {"cassette": load(args.cassette), "strict": args.strict,
            "replay_timing": args.replay_timing or "instant"}


def check_replay_options(args: argparse.Namespace) -> str | None:
    """The one-line problem of a replay option given without ``--cassette``, or ``None``."""
    if args.cassette is None:
        if args.strict:
            return "--strict needs --cassette"
        if args.replay_timing is not None:
            return "--replay-timing needs --cassette"
    return None


def check_files(args: argparse.Namespace) -> str | None:
    """The one-line problem with ``--cassette``'s cassette or ``--timing``'s profile file, or
    ``None`` (none given, or they load)."""
    try:
        replay_settings(args)
        timing = getattr(args, "timing", None)
        if isinstance(timing, str) and timing.endswith(".json"):
            from .timing_file import load_timing

            load_timing(timing)
    except ValueError as exc:
        from .cassette_view import printable

        return printable(str(exc))  # one plain line, whatever the file's name holds
    return None


def main(argv: Sequence[str]) -> int:
    """Run ``record`` or ``cassette``; return the exit code."""
    args = _parser().parse_args(list(argv))
    try:
        from .cassette import CassetteError, load
        from .cassette_view import diff, printable, timeline
    except ModuleNotFoundError as exc:  # pragma: no cover - the base install
        print(f"scribe-mock: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "record":
            return _record(args)
        if args.action == "show":
            for line in timeline(load(args.path)):
                print(line)
            return 0
        lines = diff(load(args.a), load(args.b))
    except (CassetteError, ValueError, OSError) as exc:
        # A file name can hold a newline or an escape sequence: still one plain line.
        print(f"scribe-mock: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 1 if lines else 0


def _record(args: argparse.Namespace) -> int:
    from .proxy import RecordingProxy

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with RecordingProxy(args.upstream, args.cassette, keep_audio=args.keep_audio,
                            host=args.host, port=args.port) as proxy:
            print(f"scribe-mock record: listening on {proxy.base_url}, recording to "
                  f"{args.cassette}", flush=True)
            while not stop.wait(3600):
                pass
        print("scribe-mock record: stopped", file=sys.stderr, flush=True)
        if proxy.failures:
            print(f"scribe-mock record: {len(proxy.failures)} session(s) not recorded",
                  file=sys.stderr, flush=True)
            return 1
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
