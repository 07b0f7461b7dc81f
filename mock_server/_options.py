"""The ``scribe-mock`` command's options: the parser and the types that check each value.

Importing this module needs nothing beyond the standard library, so ``scribe-mock --help``
works on an install without the mock extra.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

if TYPE_CHECKING:
    from .script import Utterance

__all__ = ["MAX_WORKERS_PER_CPU", "build_parser", "check_conflicts", "describe_error",
           "max_workers", "port_number"]

#: ``--workers`` is bounded by the CPU count times this: more processes than that only compete
#: for the same cores (and a typo such as ``--workers 100000`` must not fork a hundred thousand).
MAX_WORKERS_PER_CPU = 4

_T = TypeVar("_T")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def max_workers() -> int:
    """The largest ``--workers`` accepted on this machine."""
    return max(1, (os.cpu_count() or 1) * MAX_WORKERS_PER_CPU)


def _transcript(value: str) -> tuple[Utterance, ...]:
    """``--transcript``: a text (one utterance), an inline JSON list of utterances
    (``'["a", "b"]'``) or ``@FILE`` (one per line, or a JSON list)."""
    from .script import Utterance, load_script  # needs the mock extra; --help does not
    from .validation import read_config_file

    if value.startswith("@"):
        try:
            text = read_config_file(value[1:])
        except (OSError, UnicodeDecodeError) as exc:
            reason = describe_error(exc)
            raise argparse.ArgumentTypeError(f"cannot read {value[1:]!r}: {reason}") from None
    elif value.lstrip().startswith("["):
        text = value
    else:
        return (Utterance.parse(value),)
    try:
        return load_script(text)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"not a script: {describe_error(exc)}") from None


def describe_error(exc: BaseException) -> str:
    """An exception as a short phrase (an OSError without its errno prefix)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def port_number(value: str) -> int:
    """``--port``'s type (the server's and ``record``'s): 0 to 65535, else one usage line."""
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, not {value!r}")
    return port


def _workers_count(value: str) -> int:
    limit = max_workers()
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= limit:
        raise argparse.ArgumentTypeError(
            f"expected 1 to {limit} ({MAX_WORKERS_PER_CPU} per CPU), not {value!r}"
        )
    return count


def _number(kind: Callable[[str], _T], low: float, *, strict: bool = False,
            none: bool = False) -> Callable[[str], _T | None]:
    """An argparse type: a number ``>= low`` (``> low`` if ``strict``); with ``none``, also
    ``none``/``off`` (and ``0``, as before) for "disabled"."""
    bound = f"> {low:g}" if strict else f">= {low:g}"
    what = "an integer" if kind is int else "a number"
    allowed = f"{what} {bound}" + (" or 'none'" if none else "")

    def parse(value: str) -> _T | None:
        if none and value.lower() in ("none", "off", "0"):
            return None
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, not {value!r}") from None
        as_float = float(number)  # type: ignore[arg-type]
        if not math.isfinite(as_float) or not (as_float > low if strict else as_float >= low):
            raise argparse.ArgumentTypeError(f"expected {allowed}, not {value!r}")
        return number

    return parse


def _key_scenario(value: str) -> tuple[str, str]:
    key, sep, path = value.partition("=")
    if not sep or not key or not path:
        raise argparse.ArgumentTypeError("expected KEY=FILE")
    return key, path


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


def _timing(value: str) -> str:
    """``--timing``: a profile's name, or a timing profile file (checked when it is loaded)."""
    if value in ("instant", "live") or value.endswith(".json"):
        return value
    raise argparse.ArgumentTypeError("expected instant, live or a timing profile FILE.json")


def _host(value: str) -> str:
    if not value.strip():
        # (An empty host binds every address, IPv4 and IPv6, while it reads like loopback.)
        raise argparse.ArgumentTypeError(
            "must not be empty (0.0.0.0 or :: listens on every address)")
    return value


def check_conflicts(args: argparse.Namespace) -> str | None:
    """The one-line problem with options that contradict each other, or ``None``."""
    if args.keyfile and not args.certfile:
        return "--keyfile needs --certfile"
    if args.no_journal_frames and args.journal_frames is not None:
        return "--journal-frames and --no-journal-frames contradict each other"
    return None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = _Parser(
        prog="scribe-mock",
        description="A faithful offline fake of the ElevenLabs Scribe v2 Realtime server.",
    )
    parser.add_argument("--host", type=_host, default="127.0.0.1",
                        help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--stop-on-stdin-eof", action="store_true",
                        help="stop when stdin ends: started with a pipe as stdin, the server "
                             "stops with the program that started it, even one killed by "
                             "SIGKILL")
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
        help="scripted utterance, an inline JSON list of them ('[\"a\", \"b\"]'), or @FILE "
        "(one utterance per line, or a JSON list)",
    )
    parser.add_argument("--word-ms", type=_number(int, 1), default=400,
                        help="ms of speech per word (>= 1)")
    parser.add_argument("--no-echo-partial", action="store_true", help="no echo partial")
    parser.add_argument(
        "--auto-commit-secs", type=_number(float, 0, strict=True, none=True), default=36.0,
        help="'none' disables"
    )
    parser.add_argument(
        "--idle-timeout-secs", type=_number(float, 0, strict=True, none=True), default=15.0,
        help="'none' disables"
    )
    parser.add_argument(
        "--idle-error", action="store_true", help="send insufficient_audio_activity first"
    )
    parser.add_argument(
        "--handshake-timeout-secs", type=_number(float, 0, strict=True), default=10.0,
        help="close a connection that has not sent a whole request this long after accept "
        "(default 10)",
    )
    parser.add_argument(
        "--read-timeout-secs", type=_number(float, 0, strict=True, none=True), default=120.0,
        help="close (1008) a WebSocket that delivers no complete frame this long, even with "
        "the idle close off (default 120; 'none' disables)",
    )
    parser.add_argument("--max-chunk-bytes", type=_number(int, 1),
                        help="chunk_size_exceeded above this")
    parser.add_argument("--max-session-secs", type=_number(float, 0, strict=True),
                        help="session_time_limit_exceeded")
    parser.add_argument("--max-sessions-per-key", type=_number(int, 1),
                        help="rate_limited above this")
    parser.add_argument(
        "--bench-stamps",
        action="store_true",
        help='stamp each sent message with "_mock_sent_ns" (CLOCK_MONOTONIC ns)',
    )
    parser.add_argument(
        "--journal-frames",
        type=_journal_frames,
        default=None,  # Settings' default (1000)
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
        action="store_true",
        help="the same as --journal-frames none",
    )
    parser.add_argument(
        "--workers",
        type=_workers_count,
        default=1,
        metavar="N",
        help="serve from N processes on one port (SO_REUSEPORT; the admin API answers for "
        f"all); at most {MAX_WORKERS_PER_CPU} per CPU",
    )
    parser.add_argument(
        "--timing",
        type=_timing,
        default="live",
        metavar="instant|live|FILE.json",
        help="live: the service's delays (commit -> transcript ~300 ms, VAD commit 0.73-0.9 s "
        "after speech); instant: answer at once; FILE.json: the delays scribe-sync bench "
        "--record-timing measured (default: live)",
    )
    parser.add_argument("--timing-seed", type=int, default=0, help="seed of the live delays")
    parser.add_argument(
        "--audio-check",
        choices=("off", "strict"),
        default="off",
        help="strict: audio implausible for the declared audio_format (8 kHz audio sent as "
        "pcm_16000, PCM sent as ulaw_8000) is transcribed as nothing (default: off)",
    )
    parser.add_argument(
        "--language-format",
        choices=("iso639-1", "iso639-3"),
        default="iso639-1",
        help='detected languages as "en" (iso639-1, default) or "eng" (iso639-3)',
    )
    parser.add_argument("--certfile", help="serve wss:// with this certificate (PEM)")
    parser.add_argument("--keyfile", help="private key for --certfile")
    return parser
