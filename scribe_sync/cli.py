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
130 interrupted by Ctrl+C (what was transcribed so far is kept and written), 143, 129 and
131 terminated by SIGTERM, SIGHUP and SIGQUIT (as a second Ctrl+C), 141 stdout closed early
(piped into ``head``). Every failure but 1 is one line, ``scribe-sync: error: ...``.

The command is split by concern, imported one way (each module only imports those above it):
:mod:`scribe_sync._cli_args` (arguments, exit codes), :mod:`scribe_sync._cli_signals` (Ctrl+C),
:mod:`scribe_sync._cli_io` (source meter, output files, stderr), :mod:`scribe_sync._cli_progress`
(status lines), :mod:`scribe_sync._cli_display` (the live view and formats),
:mod:`scribe_sync._cli_server` (server and key), :mod:`scribe_sync._cli_run` (one input),
:mod:`scribe_sync._cli_batch` (many inputs), and this one, which runs the commands and maps
every exception to its exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any, Final

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
from ._cli_batch import is_batch, run_batch
from ._cli_errors import describe, exit_code, spelled
from ._cli_io import (
    Metered,
    Output,
    OutputError,
    check_not_input,
    clean,
    native_stderr_captured,
    say,
)
from ._cli_run import isatty, run_source
from ._cli_server import MOCK_ENTRY_POINT_GROUP, make_client, server
from ._cli_signals import Interrupts
from .errors import AudioSourceError, ScribeError
from .messages import AudioFormat

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
    "exit_code",
    "main",
]

logger = logging.getLogger("scribe_sync.cli")

# The sample's transcript revealed one word per 250 ms of detected speech covers the whole
# sample, and a 0.5 s VAD silence threshold commits at its sentence pauses, so the demo shows
# several committed lines rather than one at the end.
_DEMO_WORD_MS: Final = 250
_DEMO_VAD_SILENCE: Final = 0.5

#: The one SIGINT handler of the command (see scribe_sync._cli_signals), installed by main().
_INTERRUPTS = Interrupts()


# =============================================================================================
# Commands


def _audio_format(kwargs: dict[str, Any]) -> AudioFormat:
    return AudioFormat(kwargs.get("audio_format", AudioFormat.PCM_16000))


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from .audio import open_source

    fmt = choose_format(args)
    kwargs = session_kwargs(args, fmt)
    if is_batch(args):
        with server(args) as (base_url, api_key):
            return run_batch(args, make_client(base_url, api_key), kwargs, fmt, _INTERRUPTS)
    source = args.sources[0]
    if args.output is not None:
        check_not_input(args.output, [source])
    if source == "-" and sys.stdin is None:
        # Started with fd 0 closed (``<&-``): Python sets sys.stdin to None.
        raise AudioSourceError("<stdin>", "it is closed; pipe raw PCM into it")
    if source == "-" and isatty(sys.stdin):
        # Nobody types raw PCM: waiting on the keyboard would look like a hang.
        raise AudioSourceError("<stdin>", "it is a terminal; pipe raw PCM into it "
                               f"(... | {PROG} transcribe -)")
    # The source first: a missing file or a missing audio extra is what the user must fix
    # whatever the key or the server, so it is named before either is looked at.
    opened = _INTERRUPTS.run(lambda: open_source(source, format=_audio_format(kwargs),
                                                 chunk_ms=args.chunk_ms))
    meter = Metered(opened.value) if opened.value is not None else None
    if opened.error is not None:
        if meter is not None:
            meter.close()
        raise opened.error
    assert meter is not None
    label = "<stdin>" if source == "-" else os.path.basename(source.rstrip("/"))
    handed_over = False  # run_source owns the source from its first line
    try:
        with server(args) as (base_url, api_key):
            client = make_client(base_url, api_key)
            handed_over = True
            return run_source(args, client, meter, kwargs, fmt, label or source, _INTERRUPTS)
    finally:
        if not handed_over:
            meter.close()


def _cmd_listen(args: argparse.Namespace) -> int:
    from .audio import MicrophoneSource

    fmt = choose_format(args)
    kwargs = session_kwargs(args, fmt)
    # A microphone has natural pauses and no end: let the service commit at silences.
    kwargs.setdefault("commit_strategy", "vad")
    device: int | str | None = args.device
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    with server(args) as (base_url, api_key):
        client = make_client(base_url, api_key)
        mic = MicrophoneSource(device=device, format=_audio_format(kwargs),
                               chunk_ms=args.chunk_ms)
        logger.info("recording from %s", mic.name)
        if isatty(sys.stderr) and not args.quiet:
            say(f"{PROG}: listening on {mic.device.name} (Ctrl+C to stop)\n")
        return run_source(args, client, Metered(mic, args.duration), kwargs, fmt,
                          "microphone", _INTERRUPTS)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .audio import open_source, sample_path
    from .audio._sample import sample_sentences

    fmt = choose_format(args)
    kwargs = session_kwargs(args, fmt)
    if "commit_strategy" not in kwargs:
        kwargs["commit_strategy"] = "vad"
        kwargs.setdefault("vad_silence_threshold_secs", _DEMO_VAD_SILENCE)
    args.mock = True  # the demo always runs offline
    with server(args, transcript=sample_sentences(), word_ms=_DEMO_WORD_MS) as (url, key):
        client = make_client(url, key)
        source = open_source(sample_path(), format=_audio_format(kwargs), chunk_ms=args.chunk_ms)
        return run_source(args, client, Metered(source), kwargs, fmt, "sample", _INTERRUPTS)


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
    with server(args) as (base_url, api_key):
        token = make_client(base_url, api_key).create_token()
    # The one place a secret is printed: on stdout, where the user asked for it.
    Output.stdout().write(token + "\n")
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from . import _probe

    # Ctrl+C, SIGTERM and SIGHUP are only counted by the handler: the bench polls the count.
    return _probe.run_command(args, session_kwargs(args, "text"),
                              stop=lambda: _INTERRUPTS.count > 0)


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


def _silence(fd: int) -> None:
    """Point ``fd`` (1 or 2) at /dev/null, so that the interpreter's final flush of what could
    not be written (a closed pipe, a full disk) cannot print "Exception ignored" at exit, nor
    turn the exit code into 120."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def _reserve_standard_fds() -> None:
    """Open /dev/null on fd 0, 1 or 2 where it is closed (``2>&-``), as daemons do.

    Otherwise the next descriptor opened takes the free number: the WebSocket took fd 2 and the
    redirection of what C decoders print on fd 2 then replaced the connection (the run hung).
    ``sys.stdout`` and ``sys.stderr`` stay ``None``, so a closed stdout is still reported.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                opened = os.open(os.devnull, os.O_RDWR)
                if opened != fd:  # the lowest free number: fd itself, unless a lower one was
                    os.dup2(opened, fd)
                    os.close(opened)


class _QuietHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler that drops a record stderr cannot take rather than print a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:
        """Nothing: a stderr that cannot be written must not change the run's outcome."""


@contextlib.contextmanager
def _logging_to_stderr(verbose: int) -> Iterator[None]:
    handler = _QuietHandler(sys.stderr)
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
    except KeyboardInterrupt:
        # Before a session existed (connecting, opening a device): nothing to keep.
        say(f"\n{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our stdout went away (`| head`): stop quietly, as Unix tools do.
        _silence(1)
        return EXIT_BROKEN_PIPE
    except (ScribeError, TimeoutError) as exc:
        if isinstance(exc, OutputError) and exc.name == "<stdout>" and sys.stdout is not None:
            _silence(1)
        say(f"{PROG}: error: {describe(exc, spelled(args))}\n")
        return exit_code(exc)
    except Exception as exc:
        # A bug. Say so in one line; the traceback is for the report, so only with -v.
        say(
            f"{PROG}: internal error: {type(exc).__name__}: {clean(str(exc)).strip()[:200]}; "
            "this is a bug, please report it"
            + (" with the traceback below\n" if args.verbose else " (-v shows the traceback)\n")
        )
        if args.verbose:
            with contextlib.suppress(Exception):
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
    _reserve_standard_fds()
    # One SIGINT handler for the whole command: Ctrl+C raises only where it loses nothing.
    _INTERRUPTS.install()
    try:
        code = EXIT_INTERRUPTED
        parsed = _INTERRUPTS.run(lambda: build_parser().parse_args(argv))
        if parsed.error is not None:
            if isinstance(parsed.error, KeyboardInterrupt):
                return 128 + (_INTERRUPTS.signal or 2)
            raise parsed.error  # SystemExit from --help, --version or a usage error
        args = parsed.value
        assert args is not None
        # Without -v, what C libraries print on fd 2 (decoders, PortAudio) stays off the screen.
        with native_stderr_captured(args.verbose == 0), _logging_to_stderr(args.verbose):
            code = _run(args)
    finally:
        # From the command line (no argv), the process ends here: a late Ctrl+C is ignored.
        _INTERRUPTS.uninstall(ignore=argv is None)
    if code == EXIT_INTERRUPTED and _INTERRUPTS.signal is not None:
        code = 128 + _INTERRUPTS.signal  # what a shell reports for a process it killed
    if not say(""):
        _silence(2)  # stderr is gone: its final flush must not change the exit code
    return code


if __name__ == "__main__":
    sys.exit(main())
