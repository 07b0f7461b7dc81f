"""What C libraries print on file descriptor 2 while we call them goes to the log instead.

libsndfile decodes MP3 through libmpg123, which prints a line per frame it finds damaged: about
40 ``[src/libmpg123/layer3.c:...] error: part2_3_length ... too large`` lines for a minute of
ffmpeg-made MP3 that decodes perfectly well. PortAudio, probing ALSA and JACK when it starts,
prints ``ALSA lib ...`` and ``jack server is not running`` lines on most desktops and every
machine without a sound card. Neither goes through Python, so neither can be silenced from it:
while a source calls into them, :func:`quiet_native_stderr` points fd 2 at a temporary file.

Afterwards each captured line is sorted: a line of those libraries is logged on the
``scribe_sync.audio`` logger at INFO (``scribe-sync -v`` shows it; a program shows it through
its logging configuration); blank lines are dropped; any other line is written back to fd 2 as
it was, so that nothing else printed meanwhile, by Python or by another thread, is lost, only
delayed until the call returns. fd 2 belongs to the whole process, so overlapping captures from
several threads share one redirection: the first to enter makes it, the last to leave undoes it
and sorts the lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

__all__ = ["NOISE", "quiet_native_stderr"]

logger = logging.getLogger("scribe_sync.audio")

#: Lines that libmpg123 (through libsndfile) and PortAudio's ALSA and JACK back ends print.
NOISE = re.compile(
    r"^\s*(\[[^\]]*libmpg123[^\]]*\]"  # [src/libmpg123/layer3.c:INT123_do_layer3():1774] error: ...
    r"|Note: (Illegal Audio-MPEG-Header|Trying to resync|Skipped \d+ bytes)"
    r"|Warning: Xing stream size off"  # a cut-short MP3 (libmpg123)
    r"|ALSA lib "  # ALSA lib pcm.c:2664:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear
    r"|Expression '.*' failed in '.*src/hostapi/"  # PortAudio's own ALSA/JACK host API checks
    r"|Cannot connect to server (socket|request channel)"
    r"|jack server is not running"
    r"|Jack(Shm|Client|Socket)\w*"
    r"|jack_client_(new|open)"
    r"|connect\(2\) call to \S*jack"
    r"|attempt to connect to server failed"
    r"|bt_audio_service_open)",
    re.IGNORECASE,
)

# Guards the shared redirection below: its depth, the saved fd 2 and the capture file.
_lock = threading.Lock()
_depth = 0
_saved: int | None = None
_capture: IO[bytes] | None = None


@contextlib.contextmanager
def quiet_native_stderr(what: str) -> Iterator[None]:
    """While the block runs, fd 2 goes to a temporary file; then its lines are sorted (see the
    module docstring). ``what`` names the source in the log
    (``talk.mp3: [src/libmpg123/layer3.c:...] error: ...``).

    A process without a usable fd 2 (closed when it started, whatever holds the number now),
    or without a writable temporary directory, runs the block as it is.
    """
    if not _enter():
        yield
        return
    try:
        yield
    finally:
        captured = _leave()
        if captured:
            _sort(what, captured)


def _enter() -> bool:
    global _depth, _saved, _capture
    if sys.__stderr__ is None:
        # fd 2 was closed when the process started: whatever holds that number now (a socket,
        # a file opened since) is not stderr, and pointing it elsewhere would break it.
        return False
    with _lock:
        if _depth == 0:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            try:
                # A file, not a pipe: nobody has to drain it, so a chatty library never blocks.
                capture = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _leave)
            except OSError:
                return False  # no usable temporary directory (full, read-only): do not capture
            try:
                saved = os.dup(2)
            except OSError:
                capture.close()
                return False  # fd 2 is closed: nothing to keep quiet
            try:
                os.dup2(capture.fileno(), 2)
            except OSError:
                os.close(saved)
                capture.close()
                return False
            _saved, _capture = saved, capture
        _depth += 1
        return True


def _leave() -> bytes:
    global _depth, _saved, _capture
    with _lock:
        _depth -= 1
        if _depth or _saved is None or _capture is None:
            return b""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()  # what Python wrote meanwhile is in the capture too
        os.dup2(_saved, 2)
        os.close(_saved)
        capture, _saved, _capture = _capture, None, None
    with capture:
        capture.seek(0)
        return capture.read()


def _sort(what: str, captured: bytes) -> None:
    others = []
    for line in captured.decode("utf-8", "backslashreplace").splitlines(keepends=True):
        if not line.strip():
            continue  # PortAudio's probing leaves blank lines between its complaints
        if NOISE.search(line):
            logger.info("%s: %s", what, line.rstrip())
        else:
            others.append(line)
    if others:
        with contextlib.suppress(OSError):
            os.write(2, "".join(others).encode("utf-8", "backslashreplace"))
