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
with no control characters. SRT, WebVTT and JSON are written once, at the end. ``-o FILE``
replaces a regular file only once there is a transcript to write (through a temporary file
renamed into place), so a run that fails early leaves the file as it was.

Exit codes (also in ``--help``): 0 success, 1 internal error (a bug: please report it; ``-v``
shows the traceback), 2 usage or invalid option, 3 authentication (no key, or the key or token
was refused), 4 audio source (missing, unreadable or undecodable file, no microphone, no
ffmpeg), 5 server or connection error, 6 output (cannot write the ``-o`` file or stdout),
130 interrupted by Ctrl+C (what was transcribed so far is kept and written), 141 stdout closed
early (piped into ``head``). Every failure but 1 is one line, ``scribe-sync: error: ...``.

The command lives in three modules: :mod:`scribe_sync._cli_args` (arguments and exit codes),
:mod:`scribe_sync._cli_io` (the metered source, the output file, the display) and this one,
which runs the commands and maps every exception to its exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, Final, Protocol

from ._cli_args import (
    EXIT_AUDIO,
    EXIT_AUTH,
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_SERVER,
    EXIT_USAGE,
    PROG,
    build_parser,
    choose_format,
    session_kwargs,
)
from ._cli_io import (
    Display,
    Metered,
    Output,
    OutputError,
    clean,
    native_stderr_captured,
    open_output,
)
from ._signals import DeferredInterrupt
from .client import API_KEY_ENV, ScribeClient
from .errors import (
    AuthError,
    ConfigError,
    ScribeError,
)
from .messages import AudioFormat, SessionStarted
from .session import Session
from .transcript import Transcript

if TYPE_CHECKING:
    from .session import SessionStats

__all__ = [
    "EXIT_AUDIO",
    "EXIT_AUTH",
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_SERVER",
    "EXIT_USAGE",
    "MOCK_ENTRY_POINT_GROUP",
    "build_parser",
    "main",
]

logger = logging.getLogger("scribe_sync.cli")

#: The entry-point group in which the mock server registers itself for ``--mock`` and ``demo``.
MOCK_ENTRY_POINT_GROUP: Final = "scribe_sync.mock_server"

# The sample's transcript revealed one word per 250 ms of detected speech covers the whole
# sample, and a 0.5 s VAD silence threshold commits at its sentence pauses, so the demo shows
# several committed lines rather than one at the end.
_DEMO_WORD_MS: Final = 250
_DEMO_VAD_SILENCE: Final = 0.5
_PROGRESS_INTERVAL: Final = 0.2


class _Interrupted(Exception):
    """Raised out of the event loop after a clean Ctrl+C stop; carries exit code 130."""


# =============================================================================================
# Running


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _pump(session: Session, transcript: Transcript, display: Display, meter: Metered) -> None:
    """Receive until the session ends; wake up regularly to redraw the progress line."""
    while True:
        try:
            event = session.recv(timeout=_PROGRESS_INTERVAL)
        except TimeoutError:
            display.tick(meter.seconds)
            continue
        if event is None:
            display.tick(meter.seconds, force=True)
            return
        transcript.add(event)
        display.event(event)
        display.tick(meter.seconds)


def _audio_report(meter: Metered, stats: SessionStats | None) -> dict[str, float]:
    """``--format json``'s ``"audio"``: the caller's seconds, and the silence the session added
    (padding short segments to the service's minimum, keepalives while the source is quiet)."""
    report = {"seconds": round(meter.seconds, 3)}
    if stats is not None:
        report["padding_seconds"] = round(stats.padding_seconds_sent, 3)
        report["keepalive_seconds"] = round(stats.keepalive_seconds_sent, 3)
    return report


def _transcribe_source(
    args: argparse.Namespace,
    client: ScribeClient,
    meter: Metered,
    kwargs: dict[str, Any],
    fmt: str,
    label: str,
) -> int:
    """Stream ``meter``'s source through a session, showing and writing the transcript."""
    stderr = sys.stderr
    transcript = Transcript()
    started = time.monotonic()
    ended_well = False  # the run ended normally or by Ctrl+C (a summary line, outputs kept)
    streaming = False  # the stream owns the source and closes it
    session: Session | None = None
    display: Display | None = None
    out: Output | None = None
    stdout = Output.stdout()
    try:
        out = open_output(args.output) if args.output is not None else stdout
        stdout_tty = stdout.isatty()
        live = stdout if stdout_tty and (fmt == "text" or out is not stdout) else None
        writes_stdout_as_it_goes = stdout_tty and (live is not None or fmt == "jsonl")
        progress = (stderr if _isatty(stderr) and not writes_stdout_as_it_goes
                    and not args.quiet else None)
        display = Display(fmt, out, live=live, progress=progress, label=label,
                          total=meter.duration)
        session = client.connect(**kwargs)
        display.event(SessionStarted(session.session_id, session.config))
        handle = session.stream(meter, speed=args.speed, commit_every=args.commit_every or None)
        streaming = True
        try:
            _pump(session, transcript, display, meter)
        except KeyboardInterrupt:
            # Keep what was said: stop sending, commit the tail, collect its transcripts.
            # A second Ctrl+C abandons the tail.
            logger.info("interrupted: committing the audio sent so far")
            handle.stop()
            try:
                handle.join(client.close_timeout)
                if not session.closed:
                    session.finish()
                _pump(session, transcript, display, meter)
            except KeyboardInterrupt:
                pass
            except (ScribeError, TimeoutError) as exc:
                logger.warning("the last transcripts were lost: %s", exc)
            ended_well = True
            raise _Interrupted() from None
        ended_well = True
    finally:
        # Closing and writing what arrived run to the end: a second Ctrl+C gives up on the
        # transcripts still to come, never on the output (it is delivered afterwards).
        with DeferredInterrupt():
            if not streaming:
                meter.close()
            if session is not None:
                session.close()
            # Replace -o's file only with something in it: a finished run (even with no words), or
            # the segments that arrived before a failure. Otherwise the old file stays as it was.
            keep = ended_well or len(transcript) > 0
            written = False
            try:
                if display is not None:
                    audio = _audio_report(meter, session.stats if session is not None else None)
                    display.close(transcript, audio, document=keep)
                written = keep
            finally:
                if out is not None:
                    out.finish(written)
                stdout.finish(True)
            if session is not None and ended_well and not args.quiet:
                words = len(transcript.text.split())
                language = f" ({transcript.language_code})" if transcript.language_code else ""
                stderr.write(
                    f"{PROG}: {meter.seconds:.1f} s of audio, {len(transcript)} "
                    f"segment{'s' * (len(transcript) != 1)}, {words} word{'s' * (words != 1)}"
                    f"{language} in {time.monotonic() - started:.1f} s"
                    + (f"; written to {args.output}" if args.output else "") + "\n"
                )
    return EXIT_OK


class _MockServer(Protocol):
    base_url: str

    def __enter__(self) -> _MockServer: ...
    def __exit__(self, *exc_info: object) -> None: ...


def _mock_server_factory() -> Callable[..., _MockServer]:
    """The embedded mock server's class, found through an entry point.

    STYLE.md's rule is that scribe_sync never imports mock_server, so that the library cannot
    come to depend on its own test double. The command keeps to it by inverting the
    dependency: mock_server registers itself in the ``scribe_sync.mock_server`` entry-point
    group (setup.cfg), as it registers its pytest plugin with pytest, and ``--mock`` and
    ``demo`` use whatever is registered there, through the small interface above (keyword
    settings in, a context manager with ``base_url`` out). Nothing here names the package.

    Raises:
        ConfigError: no mock is installed, or its dependencies (the mock extra) are missing.
    """
    hint = "pip install 'scribe-sync[mock]'"
    for entry in importlib.metadata.entry_points(group=MOCK_ENTRY_POINT_GROUP, name="embedded"):
        try:
            factory: Callable[..., _MockServer] = entry.load()
        except ImportError as exc:
            missing = exc.name or "a dependency"
            raise ConfigError(f"the embedded mock server needs {missing}: {hint}",
                              option="mock") from exc
        return factory
    raise ConfigError(f"no embedded mock server is installed: {hint}", option="mock")


@contextlib.contextmanager
def _server(args: argparse.Namespace, **mock_settings: Any) -> Iterator[tuple[str, str | None]]:
    """The base URL and API key to use: the given ones, or an embedded mock server's."""
    if not args.mock:
        yield args.base_url, args.api_key
        return
    manager = _mock_server_factory()(**mock_settings)
    server = manager.__enter__()
    try:
        logger.info("embedded mock server at %s", server.base_url)
        yield server.base_url, args.api_key or "mock-key"
    finally:
        # A second Ctrl+C must not cut the server's shutdown short: its thread would outlive
        # the command and hold the interpreter's exit. The interrupt is delivered after it.
        with DeferredInterrupt():
            manager.__exit__(None, None, None)


def _client(base_url: str, api_key: str | None) -> ScribeClient:
    if not (api_key or os.environ.get(API_KEY_ENV)):
        # Checked here, not left to connect(), to name the command-line ways to fix it.
        raise ConfigError(
            f"no API key: set {API_KEY_ENV} (or pass --api-key), or try --mock to run offline",
            option="api_key",
        )
    return ScribeClient(api_key, base_url=base_url)


def _audio_format(kwargs: dict[str, Any]) -> AudioFormat:
    return AudioFormat(kwargs.get("audio_format", AudioFormat.PCM_16000))


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from .audio import open_source

    fmt = choose_format(args)
    kwargs = session_kwargs(args, fmt)
    # The source first: a missing file or a missing audio extra is what the user must fix
    # whatever the key or the server, so it is named before either is looked at.
    meter = Metered(open_source(args.source, format=_audio_format(kwargs),
                                chunk_ms=args.chunk_ms))
    label = "<stdin>" if args.source == "-" else os.path.basename(args.source.rstrip("/"))
    handed_over = False  # _transcribe_source owns the source from its first line
    try:
        with _server(args) as (base_url, api_key):
            client = _client(base_url, api_key)
            handed_over = True
            return _transcribe_source(args, client, meter, kwargs, fmt, label or args.source)
    finally:
        if not handed_over:
            meter.close()


def _cmd_listen(args: argparse.Namespace) -> int:
    from .audio import MicrophoneSource

    fmt = choose_format(args)
    kwargs = session_kwargs(args, fmt)
    # A microphone has natural pauses and no end: let the service commit at silences.
    kwargs.setdefault("commit_strategy", "vad")
    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be > 0 seconds, got {args.duration:g}",
                          option="duration")
    device: int | str | None = args.device
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    with _server(args) as (base_url, api_key):
        client = _client(base_url, api_key)
        mic = MicrophoneSource(device=device, format=_audio_format(kwargs),
                               chunk_ms=args.chunk_ms)
        logger.info("recording from %s", mic.name)
        if _isatty(sys.stderr) and not args.quiet:
            sys.stderr.write(f"{PROG}: listening on {mic.device.name} (Ctrl+C to stop)\n")
        return _transcribe_source(args, client, Metered(mic, args.duration), kwargs, fmt,
                                  "microphone")


def _cmd_demo(args: argparse.Namespace) -> int:
    from .audio import open_source, sample_path
    from .audio._sample import sample_sentences

    fmt = choose_format(args)
    kwargs = session_kwargs(args, fmt)
    if "commit_strategy" not in kwargs:
        kwargs["commit_strategy"] = "vad"
        kwargs.setdefault("vad_silence_threshold_secs", _DEMO_VAD_SILENCE)
    args.mock = True  # the demo always runs offline
    with _server(args, transcript=sample_sentences(), word_ms=_DEMO_WORD_MS) as (url, key):
        client = _client(url, key)
        source = open_source(sample_path(), format=_audio_format(kwargs), chunk_ms=args.chunk_ms)
        return _transcribe_source(args, client, Metered(source), kwargs, fmt, "sample")


def _cmd_devices(args: argparse.Namespace) -> int:
    from .audio import AudioSourceError, list_devices

    devices = list_devices()
    if not devices:
        raise AudioSourceError("microphone", "no audio input devices found")
    out = Output.stdout()
    for device in devices:
        mark = "*" if device.is_default else " "
        host = f"  [{device.host_api}]" if device.host_api else ""
        out.write(
            f"{mark}{device.index:3d}  {clean(device.name)}  {device.max_input_channels} ch, "
            f"{device.default_sample_rate:g} Hz{host}\n"
        )
    return EXIT_OK


def _cmd_token(args: argparse.Namespace) -> int:
    with _server(args) as (base_url, api_key):
        token = _client(base_url, api_key).create_token()
    # The one place a secret is printed: on stdout, where the user asked for it.
    Output.stdout().write(token + "\n")
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from . import _probe

    return _probe.run_command(args, session_kwargs(args, "text"))


_COMMANDS: Final = {
    "bench": _cmd_bench,
    "transcribe": _cmd_transcribe,
    "listen": _cmd_listen,
    "devices": _cmd_devices,
    "token": _cmd_token,
    "demo": _cmd_demo,
}


# =============================================================================================
# Entry point


def _exit_code(exc: BaseException) -> int:
    from .audio import AudioSourceError

    if isinstance(exc, OutputError):
        return EXIT_OUTPUT
    if isinstance(exc, AuthError):
        return EXIT_AUTH
    if isinstance(exc, ConfigError):
        return EXIT_AUTH if exc.option == "api_key" else EXIT_USAGE
    if isinstance(exc, AudioSourceError):
        return EXIT_AUDIO
    return EXIT_SERVER


def _describe(exc: BaseException) -> str:
    text = clean(str(exc)).strip() or type(exc).__name__
    option = getattr(exc, "option", None)
    if isinstance(exc, ConfigError) and option and option not in ("api_key", "output", "mock"):
        flag = "--" + str(option).replace("_", "-")
        if "--" not in text:
            text = f"{flag}: {text}"
    if isinstance(exc, TimeoutError) and "time" not in text:
        text = f"timed out: {text}"
    return text


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so that the interpreter's final flush of what could not be
    written (a closed pipe, a full disk) cannot print "Exception ignored" at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def _logging_to_stderr(verbose: int) -> Iterator[None]:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    for name in ("scribe_sync", "mock_server"):
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _run(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.command](args)
    except _Interrupted:
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        # Before a session existed (connecting, opening a device): nothing to keep.
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our stdout went away (`| head`): stop quietly, as Unix tools do.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (ScribeError, TimeoutError) as exc:
        if isinstance(exc, OutputError) and exc.name == "<stdout>":
            _silence_stdout()
        sys.stderr.write(f"{PROG}: error: {_describe(exc)}\n")
        return _exit_code(exc)
    except Exception as exc:
        # A bug. Say so in one line; the traceback is for the report, so only with -v.
        sys.stderr.write(
            f"{PROG}: internal error: {type(exc).__name__}: {clean(str(exc)).strip()[:200]}; "
            "this is a bug, please report it"
            + (" with the traceback below\n" if args.verbose else " (-v shows the traceback)\n")
        )
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``scribe-sync`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    Example::

        from scribe_sync.audio import sample_path
        from scribe_sync.cli import main

        exit_code = main(["transcribe", str(sample_path()), "--fast", "-o", "sample.srt"])
        assert exit_code == 0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Without -v, what C libraries print on fd 2 (decoders, PortAudio) stays off the screen.
        with native_stderr_captured(args.verbose == 0), _logging_to_stderr(args.verbose):
            return _run(args)
    except KeyboardInterrupt:
        # A Ctrl+C (often the second of two) that lands after the command's own handling, while
        # the captures above are undone: an interrupted run, not a traceback.
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
