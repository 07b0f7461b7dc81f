"""The ``scribe-sync`` command: transcribe files, URLs, stdin and microphones from a shell.

::

    scribe-sync demo                          the bundled sample through an embedded mock server
    scribe-sync transcribe PATH|URL|-         a file, anything ffmpeg reads, or raw PCM on stdin
    scribe-sync listen [--device D]           the microphone (Ctrl+C or --duration to stop)
    scribe-sync devices                       list audio input devices
    scribe-sync token                         print a single-use token for browser or app clients
    scribe-sync bench [FILE]                  measure latency against the service (or --mock)

Output follows where it goes. On a terminal the live partial is redrawn in place and committed
lines scroll above it; piped or redirected, only committed text (or JSONL events) is written,
with no control characters. SRT, WebVTT and JSON are written once, at the end.

Exit codes (also in ``--help``): 0 success, 1 internal error (a bug: please report it),
2 usage or invalid option, 3 authentication (no key, or the key or token was refused),
4 audio source (missing or unreadable file, no microphone, no ffmpeg), 5 server or connection
error, 130 interrupted by Ctrl+C (what was transcribed so far is kept and written), 141 stdout
closed early (piped into ``head``).
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import logging
import os
import re
import shutil
import sys
import time
import types
import typing
from collections.abc import Iterator, Sequence
from typing import IO, Any, Final, NoReturn

import attrs

from . import _probe
from ._version import __version__
from .audio import AudioSource, AudioSourceError, open_source
from .client import API_KEY_ENV, DEFAULT_BASE_URL, ScribeClient
from .errors import (
    AuthError,
    ConfigError,
    ConnectionClosedError,
    ScribeError,
    server_error_class,
)
from .messages import (
    AudioFormat,
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    ErrorEvent,
    Event,
    PartialTranscript,
    SessionStarted,
)
from .protocol import SessionOptions, encode
from .session import Session
from .transcript import Transcript

__all__ = [
    "EXIT_AUDIO",
    "EXIT_AUTH",
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SERVER",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

logger = logging.getLogger("scribe_sync.cli")

PROG: Final = "scribe-sync"
EXIT_OK: Final = 0
EXIT_INTERNAL: Final = 1
EXIT_USAGE: Final = 2
EXIT_AUTH: Final = 3
EXIT_AUDIO: Final = 4
EXIT_SERVER: Final = 5
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE, what shells report for `yes | head`

#: Lets scripts, CI and the README's tests point every command at another server.
BASE_URL_ENV: Final = "SCRIBE_SYNC_BASE_URL"

FORMATS: Final = ("text", "jsonl", "json", "srt", "vtt")
_SUFFIX_FORMATS: Final = {
    ".txt": "text", ".jsonl": "jsonl", ".json": "json", ".srt": "srt", ".vtt": "vtt",
}
#: Formats written once from the whole Transcript (the rest are written as events arrive).
_DOCUMENT_FORMATS: Final = frozenset({"json", "srt", "vtt"})

_EXIT_CODES_HELP: Final = """\
exit codes:
  0    success
  1    internal error (a bug: please report it)
  2    usage error or invalid option value
  3    authentication: no API key, or the key or token was refused
  4    audio source: missing or unreadable file, no microphone, no ffmpeg
  5    server error or connection failure
  130  interrupted (Ctrl+C); what was transcribed so far is kept and written
  141  stdout was closed early (for example piped into head)
"""

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

# The sample's transcript revealed one word per 250 ms of detected speech covers the whole
# sample, and a 0.5 s VAD silence threshold commits at its sentence pauses, so the demo shows
# several committed lines rather than one at the end.
_DEMO_WORD_MS: Final = 250
_DEMO_VAD_SILENCE: Final = 0.5

#: Characters a server-supplied text must not bring to a terminal or a pipe (C0, DEL, C1).
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_CLEAR_LINE: Final = "\r\x1b[K"
_PROGRESS_INTERVAL: Final = 0.2


class _Interrupted(Exception):
    """Raised out of the event loop after a clean Ctrl+C stop; carries exit code 130."""


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


def _common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    server = group.add_mutually_exclusive_group()
    server.add_argument(
        "--base-url", default=os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL, metavar="URL",
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
        ".json .srt .vtt); a terminal still shows the live transcript",
    )
    sending = out.add_argument_group("sending")
    speed = sending.add_mutually_exclusive_group()
    speed.add_argument("--realtime", dest="speed", action="store_const", const=1.0,
                       help="send audio at real time" + (" (default)" if default_speed else ""))
    speed.add_argument("--fast", dest="speed", action="store_const", const=None,
                       help="send audio as fast as possible")
    speed.add_argument("--speed", dest="speed", type=float, metavar="FACTOR",
                       help="send audio at FACTOR times real time")
    out.set_defaults(speed=default_speed)
    sending.add_argument(
        "--commit-every", type=float, default=20.0, metavar="SECONDS",
        help="manual strategy: commit after about this much audio, at a pause (default: "
        "20; 0: only at the end)",
    )
    sending.add_argument("--chunk-ms", type=int, default=100, metavar="MS",
                         help="audio per message, 20 to 1000 ms (default: 100)")
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

    transcribe = add("transcribe", "transcribe a file, a URL (through ffmpeg) or raw audio "
                     "on stdin", _output_parser())
    transcribe.add_argument(
        "source", metavar="PATH|URL|-",
        help="an audio or video file, a URL ffmpeg can read, or - for raw audio on stdin "
        "(already in --audio-format, e.g. 16-bit little-endian mono PCM at 16 kHz)",
    )

    listen = add("listen", "transcribe the microphone until Ctrl+C (or --duration)",
                 _output_parser())
    listen.add_argument("--device", default=None, metavar="INDEX|NAME",
                        help="input device: an index or (part of) a name from "
                        "'scribe-sync devices' (default: the system's default input)")
    listen.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds of audio")
    listen.set_defaults(speed=None)  # a microphone is live: never paced

    add("devices", "list audio input devices (needs the mic extra)")
    add("token", "print a single-use token (valid 15 minutes, one session); needs an API key")
    add("demo", "stream the bundled sample through an embedded mock server, live",
        _output_parser())
    bench = add("bench", "measure the latency your setup sees (connect, partials, commits)")
    _probe.add_arguments(bench)
    _add_session_options(bench)
    return parser


# =============================================================================================
# Output


def _clean(text: str) -> str:
    """Text safe for a terminal or a pipe: control characters (escapes, CR, ...) become spaces."""
    return _CONTROL_RE.sub(" ", text)


class _Display:
    """Everything a run writes while it runs, and at the end.

    - ``sink`` gets the chosen format: committed lines (text), events (jsonl), or the whole
      transcript at the end (json, srt, vtt).
    - ``live`` is a terminal on which the partial is redrawn in place (carriage return and
      clear-line) and committed lines scroll above it. When it is also the text sink, the
      committed lines are written once, by the live view.
    - ``progress`` is a terminal (stderr) for a redrawn progress line, used only when nothing
      else writes to a terminal as the run goes, so the two never fight over one line.
    """

    def __init__(self, fmt: str, sink: IO[str], *, live: IO[str] | None,
                 progress: IO[str] | None, label: str, total: float | None) -> None:
        self.fmt = fmt
        self.sink = sink
        self.live = live
        self.progress = progress
        self.label = label
        self.total = total
        self._partial_shown = False
        self._last_committed = ""
        self._plain = 0  # committed_transcript messages seen
        self._twins = 0  # ... committed_transcript_with_timestamps
        self._segments = 0
        self._progress_shown = False
        self._next_progress = 0.0

    # -- events ------------------------------------------------------------------------------

    def event(self, event: Event) -> None:
        if self.fmt == "jsonl":
            self.sink.write(encode(event) + "\n")
            self.sink.flush()
        if isinstance(event, PartialTranscript):
            self._partial(event.text)
        elif isinstance(event, (CommittedTranscript, CommittedTranscriptWithTimestamps)):
            # A commit is answered by a plain message and, with timestamps or language
            # detection, a timestamped twin that may come first (PROTOCOL.md §4.4): show the
            # segment when the first of the pair arrives.
            if isinstance(event, CommittedTranscriptWithTimestamps):
                self._twins += 1
                first = self._twins > self._plain
            else:
                self._plain += 1
                first = self._plain > self._twins
            if first:
                self._committed(event.text)

    def _partial(self, text: str) -> None:
        if self.live is None:
            return
        text = _clean(text).strip()
        # The service echoes each committed text as a partial right after the commit
        # (PROTOCOL.md §4.2): redrawing it would show the same line twice.
        if not text or text == self._last_committed:
            return
        width = max(10, shutil.get_terminal_size().columns - 1)  # never wrap: \r redraws one row
        if len(text) > width:
            text = "…" + text[-(width - 1):]
        self.live.write(_CLEAR_LINE + text)
        self.live.flush()
        self._partial_shown = True

    def _committed(self, text: str) -> None:
        text = _clean(text).strip()
        self._last_committed = text
        if not text:
            return
        self._segments += 1
        if self.live is not None:
            self.live.write(_CLEAR_LINE + text + "\n")
            self.live.flush()
            self._partial_shown = False
        if self.fmt == "text" and self.sink is not self.live:
            self.sink.write(text + "\n")
            self.sink.flush()

    # -- progress ----------------------------------------------------------------------------

    def tick(self, session: Session, *, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now < self._next_progress:
            return
        self._next_progress = now + _PROGRESS_INTERVAL
        sent = session.stats.audio_seconds_sent
        line = f"{self.label}: {sent:.1f} s"
        if self.total:
            line += f" of {self.total:.1f} s ({min(100, round(100 * sent / self.total))}%)"
        line += f", {self._segments} segment{'s' * (self._segments != 1)}"
        self.progress.write(_CLEAR_LINE + line)
        self.progress.flush()
        self._progress_shown = True

    # -- the end -----------------------------------------------------------------------------

    def close(self, transcript: Transcript) -> None:
        """Clear the redrawn lines and write the document formats. Safe to call once, always."""
        if self.live is not None and self._partial_shown:
            self.live.write(_CLEAR_LINE)
            self.live.flush()
        if self.progress is not None and self._progress_shown:
            self.progress.write(_CLEAR_LINE)
            self.progress.flush()
        if self.fmt in _DOCUMENT_FORMATS:
            self.sink.write(transcript.render(self.fmt))
            self.sink.flush()


# =============================================================================================
# Running


class _Limited:
    """A source cut after ``seconds`` of audio (``listen --duration``); closes the source."""

    def __init__(self, source: AudioSource, seconds: float) -> None:
        self._source = source
        self.format = source.format
        self.live = source.live
        size = source.format.bytes_per_sample
        self._left = int(seconds * source.format.bytes_per_second) // size * size

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._left <= 0:
            self.close()
            raise StopIteration
        chunk = next(self._source)[: self._left]
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        self._source.close()


@contextlib.contextmanager
def _native_stderr_silenced(enabled: bool) -> Iterator[None]:
    """Hide what C libraries print on fd 2 while PortAudio probes ALSA ("cannot find card"
    lines on every machine without a sound card); Python-level errors are unaffected."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _session_kwargs(args: argparse.Namespace, fmt: str) -> dict[str, Any]:
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


def _choose_format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return str(args.format)
    if args.output is not None:
        suffix = os.path.splitext(args.output)[1].lower()
        return _SUFFIX_FORMATS.get(suffix, "text")
    return "text"


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _pump(session: Session, transcript: Transcript, display: _Display) -> None:
    """Receive until the session ends; wake up regularly to redraw the progress line."""
    server_error: ErrorEvent | None = None
    while True:
        try:
            event = session.recv(timeout=_PROGRESS_INTERVAL)
        except TimeoutError:
            display.tick(session)
            continue
        except ConnectionClosedError as exc:
            # The server reports an error and closes; when our sender hits the closed socket
            # first, the session can end with "send failed" although the server said why.
            # The server's reason is the one worth a user's one line.
            if server_error is None:
                raise
            cls = server_error_class(server_error.error_type)
            raise cls(server_error.message, error_type=server_error.error_type) from exc
        if isinstance(event, ErrorEvent):
            server_error = event
        if event is None:
            display.tick(session, force=True)
            return
        transcript.add(event)
        display.event(event)
        display.tick(session)


def _transcribe_source(
    args: argparse.Namespace,
    client: ScribeClient,
    source: AudioSource | Any,
    kwargs: dict[str, Any],
    fmt: str,
    label: str,
) -> int:
    """Stream ``source`` through a session, showing and writing the transcript."""
    stdout, stderr = sys.stdout, sys.stderr
    sink: IO[str] = stdout
    opened: IO[str] | None = None
    transcript = Transcript()
    started = time.monotonic()
    ended_well = False  # the summary line is for runs that ended normally or by Ctrl+C
    session: Session | None = None
    display: _Display | None = None
    try:
        if args.output is not None:
            try:
                opened = open(args.output, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            except OSError as exc:
                raise ConfigError(f"cannot write {args.output}: {exc.strerror or exc}",
                                  option="output") from None
            sink = opened
        stdout_tty = _isatty(stdout)
        live = stdout if stdout_tty and (fmt == "text" or opened is not None) else None
        writes_stdout_as_it_goes = stdout_tty and (live is not None or fmt == "jsonl")
        progress = (stderr if _isatty(stderr) and not writes_stdout_as_it_goes
                    and not args.quiet else None)
        display = _Display(fmt, sink, live=live, progress=progress, label=label,
                           total=getattr(source, "duration", None))
        session = client.connect(**kwargs)
        display.event(SessionStarted(session.session_id, session.config))
        commit_every = args.commit_every or None
        handle = session.stream(source, speed=args.speed, commit_every=commit_every)
        source = None  # the stream owns it now and closes it
        try:
            _pump(session, transcript, display)
        except KeyboardInterrupt:
            # Keep what was said: stop sending, commit the tail, collect its transcripts.
            # A second Ctrl+C abandons the tail.
            logger.info("interrupted: committing the audio sent so far")
            handle.stop()
            try:
                handle.join(client.close_timeout)
                if not session.closed:
                    session.finish()
                _pump(session, transcript, display)
            except KeyboardInterrupt:
                pass
            except (ScribeError, TimeoutError) as exc:
                logger.warning("the last transcripts were lost: %s", exc)
            ended_well = True
            raise _Interrupted() from None
        ended_well = True
    finally:
        if source is not None and hasattr(source, "close"):
            source.close()
        if session is not None:
            session.close()
        try:
            if display is not None:
                display.close(transcript)
        finally:
            if opened is not None:
                opened.close()
        if session is not None and ended_well and not args.quiet:
            stats = session.stats
            words = len(transcript.text.split())
            language = f" ({transcript.language_code})" if transcript.language_code else ""
            stderr.write(
                f"{PROG}: {stats.audio_seconds_sent:.1f} s of audio, {len(transcript)} "
                f"segment{'s' * (len(transcript) != 1)}, {words} word{'s' * (words != 1)}"
                f"{language} in {time.monotonic() - started:.1f} s"
                + (f"; written to {args.output}" if args.output else "") + "\n"
            )
    return EXIT_OK


@contextlib.contextmanager
def _server(args: argparse.Namespace, **mock_settings: Any) -> Iterator[tuple[str, str | None]]:
    """The base URL and API key to use: the given ones, or an embedded mock server's."""
    if not args.mock:
        yield args.base_url, args.api_key
        return
    # The library never imports the mock; the command does, lazily, for --mock and demo only.
    from mock_server import MockServer

    with MockServer(**mock_settings) as server:
        logger.info("embedded mock server at %s", server.base_url)
        yield server.base_url, args.api_key or "mock-key"


def _client(base_url: str, api_key: str | None) -> ScribeClient:
    if not (api_key or os.environ.get(API_KEY_ENV)):
        # Checked here, not left to connect(), to name the command-line ways to fix it.
        raise ConfigError(
            f"no API key: set {API_KEY_ENV} (or pass --api-key), or try --mock to run offline",
            option="api_key",
        )
    return ScribeClient(api_key, base_url=base_url)


def _cmd_transcribe(args: argparse.Namespace) -> int:
    fmt = _choose_format(args)
    kwargs = _session_kwargs(args, fmt)
    audio_format = AudioFormat(kwargs.get("audio_format", AudioFormat.PCM_16000))
    with _server(args) as (base_url, api_key):
        client = _client(base_url, api_key)
        source = open_source(args.source, format=audio_format, chunk_ms=args.chunk_ms)
        label = "<stdin>" if args.source == "-" else os.path.basename(args.source.rstrip("/"))
        return _transcribe_source(args, client, source, kwargs, fmt, label or args.source)


def _cmd_listen(args: argparse.Namespace) -> int:
    from .audio import MicrophoneSource

    fmt = _choose_format(args)
    kwargs = _session_kwargs(args, fmt)
    # A microphone has natural pauses and no end: let the service commit at silences.
    kwargs.setdefault("commit_strategy", "vad")
    audio_format = AudioFormat(kwargs.get("audio_format", AudioFormat.PCM_16000))
    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be > 0 seconds, got {args.duration:g}",
                          option="duration")
    device: int | str | None = args.device
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    with _server(args) as (base_url, api_key):
        client = _client(base_url, api_key)
        with _native_stderr_silenced(args.verbose < 2):
            mic = MicrophoneSource(device=device, format=audio_format, chunk_ms=args.chunk_ms)
        logger.info("recording from %s", mic.name)
        source: Any = mic if args.duration is None else _Limited(mic, args.duration)
        if _isatty(sys.stderr) and not args.quiet:
            sys.stderr.write(f"{PROG}: listening on {mic.device.name} (Ctrl+C to stop)\n")
        return _transcribe_source(args, client, source, kwargs, fmt, "microphone")


def _cmd_demo(args: argparse.Namespace) -> int:
    from .audio import sample_path
    from .audio._sample import sample_sentences

    fmt = _choose_format(args)
    kwargs = _session_kwargs(args, fmt)
    if "commit_strategy" not in kwargs:
        kwargs["commit_strategy"] = "vad"
        kwargs.setdefault("vad_silence_threshold_secs", _DEMO_VAD_SILENCE)
    audio_format = AudioFormat(kwargs.get("audio_format", AudioFormat.PCM_16000))
    args.mock = True  # the demo always runs offline
    with _server(args, transcript=sample_sentences(), word_ms=_DEMO_WORD_MS) as (url, key):
        client = _client(url, key)
        source = open_source(sample_path(), format=audio_format, chunk_ms=args.chunk_ms)
        return _transcribe_source(args, client, source, kwargs, fmt, "sample")


def _cmd_devices(args: argparse.Namespace) -> int:
    from .audio import list_devices

    with _native_stderr_silenced(args.verbose < 2):
        devices = list_devices()
    if not devices:
        raise AudioSourceError("microphone", "no audio input devices found")
    for device in devices:
        mark = "*" if device.is_default else " "
        host = f"  [{device.host_api}]" if device.host_api else ""
        sys.stdout.write(
            f"{mark}{device.index:3d}  {_clean(device.name)}  {device.max_input_channels} ch, "
            f"{device.default_sample_rate:g} Hz{host}\n"
        )
    return EXIT_OK


def _cmd_token(args: argparse.Namespace) -> int:
    with _server(args) as (base_url, api_key):
        token = _client(base_url, api_key).create_token()
    # The one place a secret is printed: on stdout, where the user asked for it.
    sys.stdout.write(token + "\n")
    return EXIT_OK


_COMMANDS: Final = {
    "bench": lambda args: _probe.run_command(args, _session_kwargs(args, "text")),
    "transcribe": _cmd_transcribe,
    "listen": _cmd_listen,
    "devices": _cmd_devices,
    "token": _cmd_token,
    "demo": _cmd_demo,
}


# =============================================================================================
# Entry point


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, AuthError):
        return EXIT_AUTH
    if isinstance(exc, ConfigError):
        return EXIT_AUTH if exc.option == "api_key" else EXIT_USAGE
    if isinstance(exc, AudioSourceError):
        return EXIT_AUDIO
    return EXIT_SERVER


def _describe(exc: BaseException) -> str:
    text = _clean(str(exc)).strip() or type(exc).__name__
    option = getattr(exc, "option", None)
    if isinstance(exc, ConfigError) and option and option not in ("api_key", "output"):
        flag = "--" + str(option).replace("_", "-")
        if "--" not in text:
            text = f"{flag}: {text}"
    if isinstance(exc, TimeoutError) and "time" not in text:
        text = f"timed out: {text}"
    return text


def _configure_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    for name in ("scribe_sync", "mock_server"):
        logging.getLogger(name).setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``scribe-sync`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return _COMMANDS[args.command](args)
    except _Interrupted:
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        # Before a session existed (connecting, opening a device): nothing to keep.
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except (ScribeError, TimeoutError) as exc:
        sys.stderr.write(f"{PROG}: error: {_describe(exc)}\n")
        return _exit_code(exc)
    except BrokenPipeError:
        # The reader of our stdout went away (`| head`): stop quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
