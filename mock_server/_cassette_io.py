"""A cassette file's I/O: its lines read with bounds, so that no file can hang or exhaust a
reader, and sessions written whole or not at all (:class:`CassetteWriter`).

- Only a regular file is read: a FIFO would block for ever waiting for a writer, and a device
  such as ``/dev/zero`` never ends. The file is opened non-blocking to find out without
  waiting.
- A line longer than ``max_line`` bytes, or a file past ``max_file`` bytes (checked as it is
  read too, for a file that grows while it is read), is refused instead of being held whole.
- Each line is decoded on its own, so that bad UTF-8 names its line; a byte order mark on the
  first line (a Windows editor's) is dropped, and ``\\r\\n`` line ends read as ``\\n``.
- A write that fails (disk full) is undone, so that the sessions already in a file still load.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from ._cassette_schema import FORMAT, VERSION

__all__ = [
    "CassetteWriter",
    "LineError",
    "Tape",
    "header",
    "natural_key",
    "read_lines",
    "session_file",
    "write_whole",
]


class Tape(Protocol):
    """What a writer needs of a recorded session (:class:`mock_server.cassette.SessionTape`)."""

    @property
    def n(self) -> int: ...

    def text(self) -> str: ...


_BOM = b"\xef\xbb\xbf"


class LineError(ValueError):
    """A file or one of its lines cannot be read; ``line`` is its number, or 0 for the file."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def read_lines(file: Path, *, max_line: int, max_file: int) -> Iterator[tuple[int, str]]:
    """The file's lines with their numbers (from 1), line ends removed.

    Raises:
        LineError: not a regular file, too large, a line too long or not UTF-8.
        OSError: the file cannot be opened or read.
    """
    descriptor = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise LineError(0, "not a regular file")
        if info.st_size > max_file:
            raise LineError(0, f"larger than {_megabytes(max_file)}")
        os.set_blocking(descriptor, True)
        handle = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with handle:
        total = 0
        number = 0
        while True:
            raw = handle.readline(max_line + 1)
            if not raw:
                return
            number += 1
            total += len(raw)
            if total > max_file:
                raise LineError(number, f"the file grew larger than {_megabytes(max_file)}")
            if len(raw) > max_line and not raw.endswith(b"\n"):
                raise LineError(number, f"a line longer than {_megabytes(max_line)}")
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LineError(number, f"not UTF-8 (byte {exc.start + 1} of the line)") from None
            yield number, text.rstrip("\r\n")


def write_whole(target: Path, text: str, fresh: bool) -> None:
    """Write ``text`` to a new file or at the end of one; on failure, undo the part written.

    Unbuffered, so that nothing is left in a buffer to be flushed after the undo."""
    data = memoryview(text.encode("utf-8"))
    with open(target, "wb" if fresh else "ab", buffering=0) as handle:
        size = handle.seek(0, os.SEEK_END)
        try:
            while data:
                written = handle.write(data)
                data = data[written or 0:]
        except OSError:
            with contextlib.suppress(OSError):
                handle.truncate(size)
            if fresh:
                with contextlib.suppress(OSError):
                    target.unlink()
            raise


def natural_key(file: Path) -> tuple[tuple[int, str], ...]:
    """A file name's sort key with its numbers compared as numbers (session-1000 after
    session-999)."""
    return tuple((int(part), "") if part.isdigit() else (-1, part)
                 for part in re.split(r"(\d+)", file.name))


def header(keep_audio: bool) -> str:
    """A cassette's first line (``kind`` first, then the fields sorted, as every line)."""
    obj = {"kind": "cassette", "format": FORMAT, "keep_audio": keep_audio, "version": VERSION}
    return json.dumps(obj, separators=(", ", ": ")) + "\n"


def session_file(n: int) -> str:
    """The name of session ``n``'s file in a cassette directory."""
    return f"session-{n:03d}.jsonl"


def _is_session_file(name: str) -> bool:
    """Whether ``name`` is one :func:`session_file` gives: only those are ever removed."""
    match = re.fullmatch(r"session-([0-9]+)\.jsonl", name)
    return match is not None and session_file(int(match.group(1))) == name


class CassetteWriter:
    """Writes finished sessions to a cassette file, or one file per session to a directory.

    A file is started afresh by the first session written (the record modes decide whether
    an old one may be replaced, before recording starts); later sessions are appended. In a
    directory, the first session written removes the session files of an older recording
    first (``session-NNN.jsonl``, no other file), so that the directory holds this
    recording alone.
    """

    def __init__(self, path: str | os.PathLike[str], *, keep_audio: bool = False) -> None:
        self.path = Path(path)
        self.keep_audio = keep_audio
        self._lock = threading.Lock()  # guards _started and the file's appends
        self._started = False  # a session was written (the file has its header; the
        # directory has no older recording left)

    def write(self, tape: Tape) -> Path:
        """Write one finished session; return the file it went to.

        Raises:
            OSError: it could not be written (disk full, not a regular file...); the file is
                left as it was before, so that the sessions already in it still load.
        """
        with self._lock:
            if self.path.is_dir():
                if not self._started:
                    # An older recording's higher-numbered sessions would otherwise load
                    # with this one's, two recordings mixed without a word.
                    self._remove_sessions()
                    self._started = True
                target = self.path / session_file(tape.n)
                fresh = True
            else:
                target = self.path
                fresh = not self._started
                target.parent.mkdir(parents=True, exist_ok=True)
            # A FIFO would block the recording proxy's event loop until someone reads it.
            if target.exists() and not target.is_file():
                raise OSError(0, "not a regular file")
            text = (header(self.keep_audio) if fresh else "") + tape.text()
            write_whole(target, text, fresh)
            self._started = self._started or target == self.path
            return target

    def _remove_sessions(self) -> None:
        for entry in os.scandir(self.path):
            if _is_session_file(entry.name) and not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)
