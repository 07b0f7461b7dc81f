"""The ``scribe-sync`` command line: its arguments, exit codes and session-option flags.

Part of :mod:`scribe_sync.cli` (which runs the commands), kept apart so that each file has one
concern: what the user can type here, what happens when it runs there.
"""

from __future__ import annotations

import argparse
import enum
import os
import types
import typing
from typing import Any, Final, NoReturn

import attrs

from ._cli_numbers import COMMIT_EVERY_MAX, MIN_SPEED, number
from ._version import __version__
from .client import API_KEY_ENV, DEFAULT_BASE_URL
from .errors import ConfigError
from .protocol import SessionOptions

__all__ = [
    "BASE_URL_ENV",
    "EXIT_AUDIO",
    "EXIT_AUTH",
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_SERVER",
    "EXIT_USAGE",
    "FORMATS",
    "MAX_JOBS",
    "PROG",
    "FromEnvironment",
    "build_parser",
    "choose_format",
    "default_jobs",
    "session_kwargs",
]

PROG: Final = "scribe-sync"
EXIT_OK: Final = 0
EXIT_INTERNAL: Final = 1
EXIT_USAGE: Final = 2
EXIT_AUTH: Final = 3
EXIT_AUDIO: Final = 4
EXIT_SERVER: Final = 5
EXIT_OUTPUT: Final = 6
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE, what shells report for `yes | head`

#: Lets scripts, CI and the README's tests point every command at another server.
BASE_URL_ENV: Final = "SCRIBE_SYNC_BASE_URL"

FORMATS: Final = ("text", "jsonl", "json", "srt", "vtt")
_SUFFIX_FORMATS: Final = {
    ".txt": "text", ".jsonl": "jsonl", ".json": "json", ".srt": "srt", ".vtt": "vtt",
}

#: --jobs' upper bound: the service limits concurrent sessions per plan (beyond it, sessions
#: fail with rate_limited), and a typo such as --jobs 100000 must not open thousands of them.
MAX_JOBS: Final = 32

_EXIT_CODES_HELP: Final = """\
exit codes:
  0    success (with many inputs: every file succeeded or was skipped)
  1    internal error (a bug: please report it; -v shows the traceback)
  2    usage error or invalid option value (an output file naming an input included)
  3    authentication: no API key, or the key or token was refused
  4    audio source: missing, unreadable or undecodable file, a directory, no microphone,
       no ffmpeg
  5    server error or connection failure
  6    output: cannot write the output file, the summary file or stdout, or create the
       output directory (disk full, permission denied, stdout closed and no output file)
  130  interrupted (Ctrl+C); what was transcribed so far is kept and written
  143  terminated (SIGTERM), or 129 for SIGHUP, 131 for SIGQUIT: as a second Ctrl+C.
       One input: what was transcribed so far is written at once, replacing the output
       file (left untouched if nothing was). A batch of files: the files in flight are
       abandoned, their outputs untouched, and the completed ones kept. Never a .part file
  141  stdout was closed early (for example piped into head)
With many inputs, the code is that of the first input (in command-line order) that failed.
A stderr that cannot be written never changes the code.
"""


def default_jobs() -> int:
    """--jobs' default: sessions wait on the network, not the CPU, but each decodes its audio
    and frames it; two per core, at most 4 (a plan's usual concurrency)."""
    return max(1, min(4, 2 * (os.cpu_count() or 1)))


# One line of help per session option. A field added to SessionOptions still gets a flag (with a
# generic help text) because the flags are generated from attrs.fields(SessionOptions).
_OPTION_HELP: Final = {
    "model_id": "realtime model (default: scribe_v2_realtime)",
    "audio_format": "audio sent to the service; sources are converted to it (default: pcm_16000)",
    "commit_strategy": "manual: the client commits (see --commit-every); vad: the service "
    "commits after silence",
    "vad_silence_threshold_secs": "vad: seconds of silence that end a segment (0.3-3.0)",
    "vad_threshold": "vad: speech detection threshold (0.1-0.9)",
    "min_speech_duration_ms": "vad: shortest speech that counts, in ms (50-2000)",
    "min_silence_duration_ms": "vad: shortest silence that counts, in ms (50-2000)",
    "language_code": "ISO 639-1/639-3 language code such as en or eng (default: detected)",
    "secondary_languages": "other languages spoken (repeat, or separate with commas)",
    "include_timestamps": "word timestamps (turned on automatically for --format srt and vtt)",
    "include_language_detection": "report the detected language with each segment",
    "keyterms": "a word or phrase to favour, up to 20 characters (repeat for more, up to 50)",
    "no_verbatim": "drop filler words and false starts",
    "filter_background_audio": "suppress background noise and speech",
    "enable_logging": "let the service keep logs of this session (server default: on)",
    "entity_detection": "entity categories or types to detect, e.g. pii, email_address "
    "(repeat, or separate with commas)",
    "entity_redaction": "entity categories or types to redact (repeat, or separate with commas)",
    "entity_redaction_mode": "how redacted entities are shown",
    "transcript_edit": "an instruction for editing the committed transcript",
    "diarize": "attribute words to speakers (SRT/WebVTT cues get speaker labels)",
}
#: Tuple options whose values may be comma-separated. Keyterms are phrases, so only repeated.
_COMMA_LISTS: Final = frozenset(
    {"secondary_languages", "entity_detection", "entity_redaction"}
)

_BATCH_HELP: Final = """\
a batch:
  scribe-sync transcribe a.wav b.mp3 talks/*.flac -o out/ --format srt --jobs 4
  Each input gets its own session, up to --jobs at once, and its own output inside the -o
  directory, named after it (talks/x.flac -> out/x.srt), written whole or not at all. A
  failed input never stops the others. The first Ctrl+C starts no new file and lets those
  in flight finish; a second abandons them (every completed output is kept). SIGTERM,
  SIGHUP and SIGQUIT do both at once. At the end, a summary on stderr, and with --summary
  FILE as JSON: per file ok, failed (with the reason), skipped or interrupted (naming
  Ctrl+C or the signal), its audio seconds, segments and wall time, and the totals. An -o
  directory that cannot be created, or a --summary FILE that could not be written, is
  refused (exit 6) before any file starts.
"""

# =============================================================================================
# Argument parsing


class _Parser(argparse.ArgumentParser):
    """Reports usage errors as one line (the ``--help`` hint instead of the usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _option_types() -> dict[str, Any]:
    # SessionOptions' annotations are strings (PEP 563); resolve them once, here.
    return typing.get_type_hints(SessionOptions)


def _unwrap_optional(tp: Any) -> Any:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _accepted_values(name: str, enum_type: type[enum.Enum]) -> list[str]:
    """The members SessionOptions accepts (its converters may refuse some, such as
    turn_prediction), found by asking it rather than by keeping a second list here."""
    accepted = []
    for member in enum_type:
        try:
            SessionOptions.from_kwargs(**{name: member.value})
        except ConfigError:
            continue
        accepted.append(str(member.value))
    return accepted


def _add_session_options(parser: argparse.ArgumentParser) -> None:
    """One flag per SessionOptions field, typed from its annotation; defaults are None so that
    only the options given are sent and the service applies its own defaults for the rest."""
    group = parser.add_argument_group(
        "session options", "sent to the service when given (see scribe_sync.SessionOptions)"
    )
    hints = _option_types()
    for field in attrs.fields(SessionOptions):
        flag = "--" + field.name.replace("_", "-")
        help_text = _OPTION_HELP.get(field.name, f"the {field.name} session option")
        tp = _unwrap_optional(hints[field.name])
        dest = "opt_" + field.name
        if tp is bool and field.name.startswith("no_"):
            # --no-verbatim / --verbatim rather than --no-verbatim / --no-no-verbatim.
            group.add_argument(flag, dest=dest, action="store_const", const=True, default=None,
                               help=help_text)
            group.add_argument("--" + field.name[3:].replace("_", "-"), dest=dest,
                               action="store_const", const=False, help=f"the opposite of {flag}")
        elif tp is bool:
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction,
                               default=None, help=help_text)
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            group.add_argument(flag, dest=dest, default=None, metavar=field.name.upper(),
                               choices=_accepted_values(field.name, tp),
                               help=help_text + ": {%(choices)s}")
        elif typing.get_origin(tp) is tuple:
            group.add_argument(flag, dest=dest, action="append", default=None,
                               metavar="VALUE", help=help_text)
        elif tp in (int, float, str):
            group.add_argument(flag, dest=dest, type=tp, default=None,
                               metavar=field.name.upper(), help=help_text)
        else:  # an annotation this code does not know yet: take the text, let attrs convert
            group.add_argument(flag, dest=dest, default=None, help=help_text)


class FromEnvironment(str):
    """An option's value taken from an environment variable (``variable``), which errors
    name. argparse keeps such a default as it is (no ``type=`` converts it)."""

    variable = ""


def _base_url_default() -> str:
    value = os.environ.get(BASE_URL_ENV)
    if not value:
        return DEFAULT_BASE_URL
    default = FromEnvironment(value)
    default.variable = "$" + BASE_URL_ENV
    return default


def _common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    server = group.add_mutually_exclusive_group()
    server.add_argument(
        "--base-url", default=_base_url_default(), metavar="URL",
        help=f"API base URL (default: ${BASE_URL_ENV} or {DEFAULT_BASE_URL})",
    )
    server.add_argument(
        "--mock", action="store_true",
        help="run against an embedded mock server (offline, no API key needed; its "
        "transcript is made-up words)",
    )
    group.add_argument(
        "--api-key", default=None, metavar="KEY",
        help=f"ElevenLabs API key (default: ${API_KEY_ENV}; prefer the variable, since "
        "command lines are visible to other users)",
    )
    misc = common.add_argument_group("logging")
    misc.add_argument("-v", "--verbose", action="count", default=0,
                      help="log to stderr (-v: info, -vv: debug)")
    misc.add_argument("-q", "--quiet", action="store_true",
                      help="no progress line and no summary on stderr")
    return common


def _output_parser(default_speed: float | None = 1.0) -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(add_help=False)
    group = out.add_argument_group("output")
    group.add_argument(
        "--format", choices=FORMATS, default=None,
        help="text: committed lines (default); jsonl: one JSON object per server event; "
        "json: the whole transcript at the end; srt, vtt: subtitles at the end "
        "(these turn on --include-timestamps)",
    )
    group.add_argument(
        "-o", "--output", default=None, metavar="FILE",
        help="write to FILE instead of stdout (the format follows the suffix: .txt .jsonl "
        ".json .srt .vtt); a terminal still shows the live transcript. A regular FILE is "
        "replaced only once there is a transcript to write (a run that fails before leaves "
        "it as it was); a device or pipe is written directly. With many inputs (or FILE "
        "ending in /): a directory, one output per input",
    )
    sending = out.add_argument_group("sending")
    speed = sending.add_mutually_exclusive_group()
    speed.add_argument("--realtime", dest="speed", action="store_const", const=1.0,
                       help="send audio at real time" + (" (default)" if default_speed else ""))
    speed.add_argument("--fast", dest="speed", action="store_const", const=None,
                       help="send audio as fast as possible")
    # A floor, not > 0: 1e-300 schedules chunks past the clock's end (an overflow mid-session).
    speed.add_argument("--speed", dest="speed", type=number(float, MIN_SPEED, 1000),
                       metavar="FACTOR",
                       help=f"send audio at FACTOR times real time ({MIN_SPEED:g} to 1000)")
    out.set_defaults(speed=default_speed)
    sending.add_argument(
        "--commit-every", type=number(float, 1, COMMIT_EVERY_MAX, zero=True), default=20.0,
        metavar="SECONDS", help="manual strategy: commit after about this much audio, at a "
        f"pause: 1 to {COMMIT_EVERY_MAX:g}, or 0 for only at the end (default: 20)",
    )
    sending.add_argument("--chunk-ms", type=number(int, 20, 1000), default=100, metavar="MS",
                         help="audio per message, 20 to 1000 ms (default: 100)")
    progress = out.add_argument_group("progress")
    progress.add_argument(
        "--progress", choices=("auto", "tty", "plain", "none"), default="auto",
        help="auto: a status line redrawn on stderr when it is a terminal (position, total, "
        "speed as a multiple of real time, ETA), nothing otherwise; plain: a line every "
        "--progress-every seconds, for CI logs; none: no progress (as -q)")
    progress.add_argument("--progress-every", type=number(float, 0, 3600, low_open=True),
                          default=5.0, metavar="SECONDS",
                          help="--progress plain: seconds between lines (default: 5)")
    _add_session_options(out)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``scribe-sync`` argument parser (exposed for tests and documentation tools)."""
    parser = _Parser(
        prog=PROG,
        description="Realtime speech-to-text with ElevenLabs Scribe v2 Realtime.",
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    common = _common_parser()

    def add(name: str, help_text: str, *parents: argparse.ArgumentParser) -> Any:
        inherited: list[argparse.ArgumentParser] = [*parents, common]
        return sub.add_parser(
            # typeshed types parents as the subparser class; any ArgumentParser works.
            name, help=help_text, description=help_text, parents=typing.cast(Any, inherited),
            epilog=_EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    transcribe = add("transcribe", "transcribe files, URLs (through ffmpeg) or raw audio "
                     "on stdin", _output_parser())
    transcribe.epilog = _BATCH_HELP + "\n" + _EXIT_CODES_HELP
    transcribe.add_argument(
        "sources", nargs="+", metavar="PATH|URL|-",
        help="audio or video files, URLs ffmpeg can read, or - for raw audio on stdin "
        "(already in --audio-format, e.g. 16-bit little-endian mono PCM at 16 kHz)",
    )
    batch = transcribe.add_argument_group("many inputs")
    batch.add_argument("-j", "--jobs", type=number(int, 1, MAX_JOBS), default=None,
                       metavar="N", help=f"sessions at once, 1 to {MAX_JOBS} (default: "
                       f"{default_jobs()} on this machine)")
    batch.add_argument("--skip-existing", action="store_true",
                       help="skip the inputs whose output file already exists (resume an "
                       "interrupted batch; needs -o)")
    batch.add_argument("--summary", default=None, metavar="FILE",
                       help="write the per-file results and totals as JSON to FILE (needs "
                       "-o, a file for one input)")

    listen = add("listen", "transcribe the microphone until Ctrl+C (or --duration)",
                 _output_parser())
    listen.add_argument("--device", default=None, metavar="INDEX|NAME",
                        help="input device: an index or (part of) a name from "
                        "'scribe-sync devices' (default: the system's default input)")
    listen.add_argument("--duration", type=number(float, 0, 1e7, low_open=True), default=None,
                        metavar="SECONDS",
                        help="stop after this many seconds of audio")
    listen.set_defaults(speed=None)  # a microphone is live: never paced

    add("devices", "list audio input devices (needs the mic extra)")
    add("token", "print a single-use token (valid 15 minutes, one session); needs an API key")
    add("demo", "stream the bundled sample through an embedded mock server, live (demo always "
        "runs on its embedded mock: --base-url, --mock and --api-key change nothing)",
        _output_parser())
    from . import _probe  # the probe's own options live beside its code

    bench = add("bench", "measure the latency your setup sees (connect, partials, commits)")
    _probe.add_arguments(bench)
    _add_session_options(bench)
    return parser


def session_kwargs(args: argparse.Namespace, fmt: str) -> dict[str, Any]:
    """The session options given on the command line, validated (ConfigError otherwise)."""
    kwargs: dict[str, Any] = {}
    for field in attrs.fields(SessionOptions):
        value = getattr(args, "opt_" + field.name, None)
        if value is None:
            continue
        if isinstance(value, list):
            if field.name in _COMMA_LISTS:
                value = [item.strip() for v in value for item in v.split(",") if item.strip()]
            value = tuple(value)
        kwargs[field.name] = value
    if fmt in ("srt", "vtt"):
        if kwargs.get("include_timestamps") is False:
            raise ConfigError(f"--format {fmt} needs word timestamps: drop "
                              "--no-include-timestamps", option="include_timestamps")
        kwargs["include_timestamps"] = True
    SessionOptions.from_kwargs(**kwargs)  # validate now: nothing is opened or sent on error
    return kwargs


def choose_format(args: argparse.Namespace) -> str:
    """``--format``, else the one ``-o``'s suffix names, else text."""
    if args.format is not None:
        return str(args.format)
    if args.output is not None:
        suffix = os.path.splitext(args.output)[1].lower()
        return _SUFFIX_FORMATS.get(suffix, "text")
    return "text"

