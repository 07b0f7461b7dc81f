"""What a ``scribe-sync`` run reads and writes, apart from the session and the display.

- :class:`Metered`: the audio source, counted (and cut, for ``listen --duration``), so that the
  summary reports the caller's audio, not the silence the session adds to short segments.
- :class:`Output` and :func:`open_output`: stdout or ``-o FILE``. A regular file is written to a
  temporary file beside it and renamed into place only once there is something to keep; a
  device or a pipe is written directly. Every failure to write is one :class:`OutputError`.
- :func:`check_not_input`: ``-o`` must not name an input (it would replace the audio).
- :func:`check_writable`: an output written only at the end (``--summary``) is checked before
  the run, without creating or truncating it.
- :func:`say`: a line on stderr that never fails the run (stderr may be closed or full).
- :func:`native_stderr_captured`: keeps what C libraries (libsndfile, mpg123, PortAudio/ALSA)
  print on file descriptor 2 off the user's screen, unless ``-v`` asked for it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any, Final

from .errors import ConfigError, ScribeError

__all__ = [
    "Metered",
    "Output",
    "OutputError",
    "check_not_input",
    "check_writable",
    "clean",
    "native_stderr_captured",
    "open_output",
    "say",
    "temp_prefix",
]

logger = logging.getLogger("scribe_sync.cli")

#: Characters a server-supplied text must not bring to a terminal or a pipe (C0, DEL, C1).
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def clean(text: str) -> str:
    """Text safe for a terminal or a pipe: control characters (escapes, CR, ...) become spaces."""
    return _CONTROL_RE.sub(" ", text)


# =============================================================================================
# The source, metered


class Metered:
    """An audio source that counts what it hands on, optionally cut after ``limit`` seconds.

    The count is the caller's audio as read from the source: the session's own padding of short
    segments and its keepalive silence are not in it (they are in ``--format json``'s
    ``"audio"`` object, from the session's statistics).
    """

    def __init__(self, source: Any, limit: float | None = None) -> None:
        self._source = source
        self.format = source.format
        self.live = bool(getattr(source, "live", False))
        self.duration: float | None = getattr(source, "duration", None)
        size = self.format.bytes_per_sample
        self._left = (None if limit is None
                      else int(limit * self.format.bytes_per_second) // size * size)
        self.bytes = 0

    @property
    def seconds(self) -> float:
        """Seconds of audio handed on so far."""
        return float(self.format.duration(self.bytes))

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._left is not None and self._left <= 0:
            self.close()
            raise StopIteration
        chunk: bytes = next(self._source)
        if self._left is not None:
            chunk = chunk[: self._left]
            self._left -= len(chunk)
        self.bytes += len(chunk)
        return chunk

    def close(self) -> None:
        """Close the source (idempotent, as every source's close is)."""
        close = getattr(self._source, "close", None)
        if callable(close):
            close()


# =============================================================================================
# Output


class OutputError(ScribeError):
    """The output (stdout or ``-o FILE``) could not be written: ``cannot write FILE: REASON``
    (``action`` "create" for the ``-o`` directory of a batch). Exit 6, whatever the reason."""

    def __init__(self, name: str, exc: OSError, *, action: str = "write") -> None:
        reason = exc.strerror or str(exc) or type(exc).__name__
        super().__init__(f"cannot {action} {name}: {reason}")
        self.name = name
        self.errno = exc.errno


def _umask() -> int:
    # The only way to read the umask is to set it; this runs on the main thread, before any
    # other thread exists, so nothing can create a file in between.
    mask = os.umask(0)
    os.umask(mask)
    return mask


class Output:
    """A text stream the run writes its format to; every write is flushed at once.

    Errors become :class:`OutputError`, except ``BrokenPipeError`` (the reader went away, as
    with ``| head``), which the command ends on quietly.
    """

    def __init__(self, stream: IO[str] | None, name: str, *, owned: bool = True,
                 temp: str | None = None, target: str | None = None) -> None:
        self.stream = stream
        self.name = name
        self._owned = owned  # False for stdout, which is flushed but never closed
        self._temp = temp  # the temporary file to rename over ``target``, for a regular file
        self._target = target
        self._finished = False

    @classmethod
    def stdout(cls) -> Output:
        """Standard output, as ``<stdout>`` in messages. Python sets ``sys.stdout`` to None when
        the command starts with file descriptor 1 closed (``>&-``): writing to it is then an
        :class:`OutputError` (exit 6), and a run that writes only to ``-o`` is unaffected."""
        return cls(sys.stdout, "<stdout>", owned=False)

    @property
    def atomic(self) -> bool:
        """True when the output is a temporary file renamed into place at the end."""
        return self._temp is not None

    def isatty(self) -> bool:
        try:
            return self.stream is not None and self.stream.isatty()
        except (AttributeError, ValueError, OSError):
            return False

    def write(self, text: str) -> None:
        if self.stream is None:
            raise OutputError(self.name, OSError(errno.EBADF, "it is closed"))
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(self.name, exc) from None

    def finish(self, keep: bool) -> None:
        """End the output: rename the temporary file into place if ``keep``, else remove it
        (the file that was there stays as it was). Idempotent."""
        if self._finished:
            return
        self._finished = True
        if self.stream is None:
            return
        try:
            if not self._owned:
                self.stream.flush()
                return
            if self._temp is None:
                self.stream.close()
                return
            try:
                if keep:
                    self.stream.flush()
                    os.fsync(self.stream.fileno())  # the rename must not outrun the data
                self.stream.close()
                if keep:
                    assert self._target is not None
                    os.replace(self._temp, self._target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._temp)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(self.name, exc) from None


def _is_special(path: str) -> bool:
    """/dev/stdout and /dev/fd/N lead to whatever the descriptor is: when that is a regular
    file (``-o /dev/stdout > out.txt``), it is the shell's open file, to be written, not
    replaced by a rename."""
    absolute = os.path.abspath(path)
    return absolute.startswith(("/dev/", "/proc/"))


# The bytes of the target's name kept in its temporary file's: with the dots, mkstemp's eight
# random characters and ".part", the temporary name stays well within NAME_MAX (255 bytes).
_TEMP_NAME_KEEP = 200


def temp_prefix(target: str) -> str:
    """The prefix of ``target``'s temporary file: a hidden file named after it, its name cut
    short so that a target of 241 to 255 bytes (a legal name) still has a legal temporary
    file."""
    name = os.fsencode(os.path.basename(target))[:_TEMP_NAME_KEEP]
    return "." + os.fsdecode(name) + "."


def open_output(path: str) -> Output:
    """``-o path``: a temporary file beside a regular (or new) file, ``path`` itself otherwise.

    Raises:
        OutputError: the file cannot be created or replaced (permission denied, no such folder,
            a read-only file or file system, a directory).
    """
    if not path or path.endswith(os.sep):
        # No file name: realpath() would make one up from the folder (the temporary file beside
        # it, renamed over it or into a new file named after it, and only after the session).
        code = errno.EISDIR if path else errno.ENOENT
        raise OutputError(path or repr(path), OSError(code, os.strerror(code), path))
    try:
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(path, exc) from None
    try:
        if (info is not None and not stat.S_ISREG(info.st_mode)) or _is_special(path):
            # /dev/full, /dev/stdout, a named pipe, a terminal: renaming over one would replace
            # the device node or the pipe with a plain file, so write to it directly.
            stream = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            return Output(stream, path)
        if info is not None and not os.access(path, os.W_OK):
            # A rename would replace a file the user cannot write to; refuse as open() would.
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        target = os.path.realpath(path)  # through a symlink: replace its target, not the link
        fd, temp = tempfile.mkstemp(
            prefix=temp_prefix(target), suffix=".part", dir=os.path.dirname(target)
        )
    except OSError as exc:
        raise OutputError(path, exc) from None
    try:
        # mkstemp makes the file private (0600); give it the mode the file had, or the one a
        # plain open() would have given it.
        os.fchmod(fd, stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask())
        stream = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
    except OSError as exc:
        os.close(fd)
        os.unlink(temp)
        raise OutputError(path, exc) from None
    return Output(stream, path, temp=temp, target=target)


def _refuse(name: str, code: int) -> OutputError:
    return OutputError(name, OSError(code, os.strerror(code)))


def check_writable(path: str, name: str) -> None:
    """Refuse now an output that :func:`open_output` could not open at the end of the run, as
    ``name`` (``--summary FILE``), and touch nothing: opening it now would truncate the file,
    which a run refused or interrupted later must leave as it was. What is checked is what
    open_output needs: a regular (or new) file that may be written, in a folder where its
    temporary file can be made; a device or a pipe that may be written (not opened: a FIFO
    would block until a reader came).

    Raises:
        OutputError: the file or its folder cannot be written (missing, a directory, not a
            directory, permission denied, a read-only file system).
    """
    if not path or path.endswith(os.sep):
        raise _refuse(name, errno.EISDIR if path else errno.ENOENT)
    try:
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:  # a parent that is a file (ENOTDIR), or one we may not search
        raise OutputError(name, exc) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise _refuse(name, errno.EISDIR)
    if info is not None and not os.access(path, os.W_OK):
        raise _refuse(name, _denied(path))
    if info is not None and (not stat.S_ISREG(info.st_mode) or _is_special(path)):
        return  # written in place, never renamed over: its folder does not matter
    folder = os.path.dirname(os.path.realpath(path))
    try:
        if not stat.S_ISDIR(os.stat(folder).st_mode):
            raise _refuse(name, errno.ENOTDIR)
    except OSError as exc:
        raise OutputError(name, exc) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _refuse(name, _denied(folder))


def _denied(path: str) -> int:
    """Why access() refused to write ``path``: a read-only file system says so (EROFS), as
    open() would, rather than a "permission denied" that chmod cannot fix."""
    try:
        readonly = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        readonly = False
    return errno.EROFS if readonly else errno.EACCES


def check_not_input(output: str, inputs: Sequence[str], flag: str = "-o") -> None:
    """Refuse an ``-o`` that names an input, by path or by file (a symlink, a hard link): the
    rename at the end would replace the audio with its transcript.

    Raises:
        ConfigError: (option ``output``) the output is one of the inputs.
    """
    try:
        target = os.stat(output)
    except OSError:
        return  # no such file yet (or not reachable): it cannot be an input
    if not stat.S_ISREG(target.st_mode):
        return  # a device or a pipe (/dev/stdout, a FIFO) is written, never replaced
    for name in inputs:
        try:
            same = os.path.samestat(os.stat(name), target)
        except (OSError, ValueError):  # not a file (a URL, stdin): cannot be the output
            continue
        if same:
            raise ConfigError(f"{flag} {output} is the input {name}: it would replace the "
                              "audio; choose another output", option="output")


def say(text: str) -> bool:
    """Write ``text`` to stderr; False (and nothing raised) when stderr cannot be written: a
    closed or full stderr must not turn a run whose output was written into a failure."""
    stream = sys.stderr
    if stream is None:
        return False
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError, AttributeError):
        return False
    return True


# =============================================================================================
# Native stderr


@contextlib.contextmanager
def native_stderr_captured(enabled: bool) -> Iterator[None]:
    """While active, what C code writes to file descriptor 2 goes to a temporary file, and
    Python's ``sys.stderr`` (our error lines, logging, the progress line) to the real stderr.

    libsndfile's mpg123 prints "Note: Illegal Audio-MPEG-Header ..." for a file that is not
    MP3, PortAudio prints ALSA's "cannot find card" on machines without a sound card: noise
    next to the one line that says what is wrong. ``-v`` turns the capture off (``enabled``
    False), so the libraries' own words are there when someone needs them.
    """
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2: nothing to protect
        yield
        return
    python_stderr = sys.stderr
    encoding = getattr(python_stderr, "encoding", None) or "utf-8"
    # A file, not a pipe: nobody has to drain it, so a chatty library never blocks on it.
    with tempfile.TemporaryFile() as capture:
        sys.stderr = open(  # noqa: SIM115 (closed below, without closing fd 2's copy twice)
            saved, "w", encoding=encoding, errors="backslashreplace", buffering=1,
            closefd=False,
        )
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.close()  # flushes; the fd is ``saved``'s, closed next
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
