"""``FfmpegSource``: anything ffmpeg can read (URLs, live streams, video files), via a subprocess.

ffmpeg decodes, mixes down and resamples, and writes raw audio in the target format to a pipe.
The subprocess never outlives its source: it is killed and reaped on :meth:`close`, on any error,
and, through a :func:`weakref.finalize` finaliser, when the source is garbage-collected or the
interpreter exits.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
import weakref
from collections.abc import Sequence
from typing import IO

from scribe_sync.errors import ConfigError
from scribe_sync.messages import AudioFormat

from ._base import (
    DEFAULT_CHUNK_MS,
    AudioDependencyError,
    AudioSource,
    AudioSourceError,
    check_live,
)

__all__ = ["FfmpegSource", "find_ffmpeg"]

# Protocols whose data arrives at the rate it is produced. ffmpeg reads them no faster than
# real time, so they are live: pacing them again would only add latency. http(s) and ftp are
# deliberately not here: most such URLs are finite files that ffmpeg downloads faster than
# real time. An HTTP radio stream is served at real time anyway, so pacing it (the default for a
# non-live source) costs at most the server's initial burst; pass ``live=True`` to skip pacing.
_LIVE_SCHEMES = frozenset(
    {
        "rtmp",
        "rtmps",
        "rtmpt",
        "rtmpe",
        "rtsp",
        "rtsps",
        "rtp",
        "srt",
        "udp",
        "tcp",
        "rist",
        "mms",
        "mmsh",
        "mmst",
        "zmq",
    }
)
# Input formats (``-f``) that capture from a device in real time.
_CAPTURE_FORMATS = frozenset(
    {"alsa", "pulse", "jack", "oss", "sndio", "avfoundation", "dshow", "v4l2", "openal", "x11grab"}
)
# Protocols whose reads honour ffmpeg's -rw_timeout (other inputs reject the option).
_TIMEOUT_SCHEMES = frozenset({"http", "https", "ftp", "tcp", "tls"})
DEFAULT_TIMEOUT = 30.0
# How long to wait for ffmpeg to exit on its own once it has closed its output.
_EXIT_TIMEOUT = 10.0
# The tail of ffmpeg's stderr quoted in errors.
_STDERR_TAIL = 2000
# What ffmpeg logs when a download breaks off (a body shorter than its Content-Length, a read
# that timed out, a reset): it then exits 0 as if the audio had ended, so its status cannot
# tell a cut-short download from a whole one. A read error other than the end of the input is
# logged as "<url>: <reason>"; ffmpeg 6 and later say "Error during demuxing: <reason>".
_CUT_SHORT_MARKERS = ("Stream ends prematurely", "Error during demuxing")
# ...except where the length it expected is its "unknown" (2**64 - 1): a body without a
# Content-Length ends with the connection, and ffmpeg 5 logs that too as premature.
_UNKNOWN_LENGTH = re.compile(r"Stream ends prematurely at \d+, should be (\d+)")
_END_OF_BODY = "Input/output error"  # "<url>: Input/output error" then follows


def find_ffmpeg() -> str:
    """The ffmpeg executable: from ``PATH``, else from ``imageio-ffmpeg`` when it is installed.

    Raises:
        AudioDependencyError: neither is available.
    """
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        pass
    else:
        try:
            return str(imageio_ffmpeg.get_ffmpeg_exe())
        except RuntimeError:
            pass
    raise AudioDependencyError(
        "ffmpeg",
        "not found on PATH and the imageio-ffmpeg package is not installed; install ffmpeg "
        "(apt-get install ffmpeg, brew install ffmpeg) or run: pip install imageio-ffmpeg",
    )


def _redact(location: str) -> str:
    """``location`` without a URL's password or query string, which often carry credentials."""
    parts = urllib.parse.urlsplit(location)
    if not parts.scheme or len(parts.scheme) == 1:  # a path, or a Windows drive letter
        return location
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "***" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _is_live(location: str, input_options: Sequence[str]) -> bool:
    scheme = urllib.parse.urlsplit(location).scheme.lower()
    if scheme in _LIVE_SCHEMES:
        return True
    for flag, value in itertools.pairwise(input_options):
        if flag == "-f" and value in _CAPTURE_FORMATS:
            return True
    return False


def _check_input_options(input_options: Sequence[str]) -> list[str]:
    # A string is a sequence too: "-re" would reach ffmpeg as the three arguments "-", "r", "e".
    if isinstance(input_options, (str, bytes)) or not all(
        isinstance(option, str) for option in input_options
    ):
        raise ConfigError(
            f"input_options must be a list of strings such as ['-f', 'alsa'], got "
            f"{input_options!r}", option="input_options",
        )
    return list(input_options)


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
        math.isfinite(timeout) and 0 < timeout <= 86400
    ):
        raise ConfigError(
            f"timeout must be a number of seconds above 0 and at most 86400, or None, got "
            f"{timeout!r}", option="timeout",
        )
    return float(timeout)


def _timeout_options(location: str, input_options: Sequence[str], timeout: float | None,
                     ) -> list[str]:
    """``-rw_timeout`` for a network URL, unless the caller set a timeout of their own."""
    scheme = urllib.parse.urlsplit(location).scheme.lower()
    if timeout is None or scheme not in _TIMEOUT_SCHEMES:
        return []
    if any(option in ("-rw_timeout", "-timeout") for option in input_options):
        return []
    return ["-rw_timeout", str(round(timeout * 1_000_000))]  # microseconds


def _kill(proc: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
    """Kill and reap ffmpeg, close its pipes. Runs once: from close() or the finaliser."""
    try:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        stderr.close()


class FfmpegSource(AudioSource):
    """Audio from anything ffmpeg reads: a URL, a live stream, a video or audio file.

    Args:
        location: a URL (``http(s)://``, ``rtsp://``, ...), a path, or ``"-"`` for stdin.
        format: the target :class:`~scribe_sync.AudioFormat`; ffmpeg outputs it directly
            (``s16le`` or ``mulaw``, mono, at the target rate).
        chunk_ms: the duration of each chunk, 20 to 1000 ms.
        live: whether the input is produced in real time. ``None`` (the default) guesses: True
            for streaming protocols (rtsp, rtmp, srt, udp, ...) and capture devices
            (``input_options=["-f", "alsa"]``), False for files and http(s) URLs.
        input_options: extra ffmpeg options placed before ``-i`` (for example
            ``["-f", "alsa"]`` or ``["-ss", "30"]``).
        ffmpeg: the ffmpeg executable; default :func:`find_ffmpeg`.
        timeout: for an http(s), ftp, tcp or tls URL, the seconds without any data after which
            ffmpeg gives up (a server that accepts and then says nothing); ``None`` waits for
            ever. Ignored when ``input_options`` sets ``-rw_timeout`` or ``-timeout``.
        stdin: an open file that ffmpeg reads as its standard input instead of opening
            ``location``, which then only names the source in messages: for a pipe or a device
            that only this process can open, or that can be read only once.

    Raises:
        AudioDependencyError: ffmpeg is not available.
        ConfigError: ``format``, ``chunk_ms``, ``live``, ``input_options`` or ``timeout`` is
            invalid.
        AudioSourceError: ffmpeg could not start, or failed while reading (the message quotes
            ffmpeg's own error, with credentials in the URL redacted).
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        format: AudioFormat | str = AudioFormat.PCM_16000,
        chunk_ms: int = DEFAULT_CHUNK_MS,
        live: bool | None = None,
        input_options: Sequence[str] = (),
        ffmpeg: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        stdin: IO[bytes] | None = None,
    ) -> None:
        location = os.fspath(location)
        super().__init__(format=format, chunk_ms=chunk_ms, name=_redact(location))
        input_options = _check_input_options(input_options)
        check_live(live, allow_none=True)
        network = _timeout_options(location, input_options, _check_timeout(timeout))
        self._location = location
        # Only a download can end early while ffmpeg still exits 0 (see _cut_short).
        self._download = urllib.parse.urlsplit(location).scheme.lower() in _TIMEOUT_SCHEMES
        self.live = _is_live(location, input_options) if live is None else live
        executable = ffmpeg if ffmpeg is not None else find_ffmpeg()
        codec = ("mulaw", "pcm_mulaw") if self.format.is_ulaw else ("s16le", "pcm_s16le")
        from_stdin = location == "-" or stdin is not None
        #: The ffmpeg command line (it may contain the unredacted URL; do not log it).
        self.command: list[str] = [
            executable,
            *(() if from_stdin else ("-nostdin",)),
            "-hide_banner",
            "-loglevel",
            "error",
            *network,
            *input_options,
            "-i",
            "pipe:0" if stdin is not None else location,
            "-vn",
            "-sn",
            "-dn",
            "-ac",
            "1",
            "-ar",
            str(self.format.sample_rate),
            "-f",
            codec[0],
            "-acodec",
            codec[1],
            "pipe:1",
        ]
        # stderr goes to a temporary file, not a pipe: nobody has to drain it, so a chatty
        # ffmpeg can never block on a full pipe, and its last lines are there for errors.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (owned by the finaliser)
        try:
            self._proc = subprocess.Popen(
                self.command,
                stdin=stdin if stdin is not None else None if from_stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                # Its own session: Ctrl+C in a terminal reaches Python only, which then kills
                # ffmpeg, instead of ffmpeg exiting first and the read reporting an error.
                start_new_session=True,
            )
        except OSError as exc:
            self._stderr.close()
            self._closed = True
            raise AudioSourceError(self.name, f"cannot start ffmpeg ({executable}): {exc}") from exc
        self._finalizer = weakref.finalize(self, _kill, self._proc, self._stderr)

    @property
    def pid(self) -> int:
        """The ffmpeg process id."""
        return self._proc.pid

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            text = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return " ".join(text.replace(self._location, self.name).split())

    def _cut_short(self) -> str | None:
        """What ffmpeg logged, having exited 0, when the download broke off; else ``None``."""
        if not self._download:
            return None
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return None
        prefix = f"{self._location}: "
        ended = False  # a body without a length ended with its connection, as it may
        for line in text.splitlines():
            if line.startswith(prefix):
                reason = line[len(prefix):].strip()
                if ended and reason == _END_OF_BODY:
                    continue  # what ffmpeg 5 says next about the same, normal, end
                return reason
            unknown = _UNKNOWN_LENGTH.search(line)
            if unknown is not None and int(unknown.group(1)) >= 1 << 63:
                ended = True
                continue
            if any(marker in line for marker in _CUT_SHORT_MARKERS):
                return line.rpartition("] ")[2].strip()  # without "[http @ 0x...] "
        return None

    def _read(self) -> bytes:
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            data = stdout.read(self.chunk_bytes - len(self._pending))
        except (OSError, ValueError):
            if self._closed:  # closed from another thread: the read was cut short
                return b""
            raise
        if data:
            return data
        if self._closed:
            return b""
        try:
            status = self._proc.wait(timeout=_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AudioSourceError(self.name, "ffmpeg closed its output but did not exit") from None
        if status != 0:
            detail = self._stderr_tail() or "no error output"
            raise AudioSourceError(self.name, f"ffmpeg failed (exit status {status}): {detail}")
        reason = self._cut_short()
        if reason is not None:
            raise AudioSourceError(
                self.name, f"the download broke off before the end ({reason})"
            )
        return b""

    def _release(self) -> None:
        self._finalizer()
