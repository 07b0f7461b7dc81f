"""Cassettes: recorded realtime sessions, one JSON object per line (docs/cassettes.md).

A cassette file starts with a ``cassette`` line (format and version), then holds one or more
sessions, each a ``session`` line (the query options, no secret) followed by its ``client``,
``server`` and ``close`` lines in the order they crossed the recording proxy. Keys are written
in a fixed order and every frame is one line, so that a re-recording diffs line by line.

:class:`SessionTape` (:mod:`mock_server._cassette_tape`) builds one session's lines while it
is recorded; :class:`CassetteWriter` writes finished sessions (a file holds them in the order
they started; a directory gets one file per session); :func:`load` reads and checks a file or
a directory.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from scribe_sync._redact import SECRET_NAMES

from ._cassette_io import CassetteWriter, LineError, natural_key, read_lines
from ._cassette_schema import FORMAT, VERSION, SchemaError, check_line, shown
from ._cassette_tape import SessionTape, bytes_per_sample, read_client_frame

__all__ = [
    "SECRET_PARAMS",
    "Cassette",
    "CassetteError",
    "CassetteWriter",
    "RecordedSession",
    "SessionTape",
    "bytes_per_sample",
    "load",
    "load_cassette",
    "read_client_frame",
]

#: Query parameter names that carry a credential (in lower case, ``-`` for ``_``; any name
#: ending in ``-key``, ``-token`` or ``-secret`` too): never written to a cassette. The rule is
#: the client's own (``scribe_sync._redact.is_secret_name``).
SECRET_PARAMS: Final = SECRET_NAMES
_ENDINGS: Final = frozenset({"close", "refused"})  # the last line of every session
#: The longest line and the largest file :func:`load` reads: a client message is at most
#: 16 MiB (what the recording proxy relays), its audio kept with ``--keep-audio`` as long in
#: base64; an hour's audio is a few hundred MiB.
MAX_LINE: Final = 32 * 1024 * 1024
MAX_FILE: Final = 1024 * 1024 * 1024


class CassetteError(ValueError):
    """A cassette that cannot be read; ``str(exc)`` is one line naming the file and line."""


@attrs.frozen
class RecordedSession:
    """One recorded session: its number, path, query options and lines after the first."""

    n: int
    path: str
    query: Mapping[str, Sequence[str]]
    auth: str
    lines: tuple[Mapping[str, Any], ...]

    @property
    def options(self) -> dict[str, tuple[str, ...]]:
        """The query as a comparable value (what a replay matches sessions by)."""
        return {name: tuple(values) for name, values in sorted(self.query.items())}

    def of(self, kind: str) -> list[Mapping[str, Any]]:
        """The lines of one kind, in order."""
        return [line for line in self.lines if line["kind"] == kind]

    def audio(self) -> list[bytes]:
        """The audio of each client chunk, in order, for a client that streams the recorded
        audio again (needs a cassette recorded with ``--keep-audio``).

        Raises:
            CassetteError: the cassette kept only the audio's digests.
        """
        chunks = []
        for line in self.lines:
            if line["kind"] != "client" or not line["sha256"]:
                continue
            if line["samples"] and "audio" not in line:
                raise CassetteError(f"session {self.n} kept no audio: record it with "
                                    "--keep-audio to stream it again")
            chunks.append(base64.b64decode(line.get("audio", "")))
        return chunks

    def server_frames(self) -> list[Any]:
        """The server's JSON frames, in order (binary frames left out)."""
        return [line["frame"] for line in self.lines if line["kind"] == "server"
                and "frame" in line]


@attrs.frozen
class Cassette:
    """A loaded cassette: where it came from and its sessions in recorded order."""

    source: str
    keep_audio: bool
    sessions: tuple[RecordedSession, ...]


def load(path: str | os.PathLike[str]) -> Cassette:
    """Read and check a cassette file, or a directory of them (in name order).

    Raises:
        CassetteError: one line naming the file, the line number and what is wrong.
    """
    source = Path(path)
    if source.is_dir():
        files = sorted(source.glob("*.jsonl"), key=natural_key)
        if not files:
            raise CassetteError(f"{source}: no *.jsonl cassette in this directory")
    else:
        files = [source]
    sessions: list[RecordedSession] = []
    keep_audio = True
    seen: dict[int, Path] = {}  # a replay hands sessions out by number: each is one session
    for file in files:
        kept, found = _load_file(file)
        keep_audio = keep_audio and kept
        for session in found:
            if session.n in seen:
                raise CassetteError(f"{file}: session {session.n} again (also in "
                                    f"{seen[session.n].name}): one recording per cassette")
            seen[session.n] = file
        sessions.extend(found)
    return Cassette(str(source), keep_audio, tuple(sessions))


#: :func:`load` under the name ``mock_server`` exports it by.
load_cassette = load


def _load_file(file: Path) -> tuple[bool, list[RecordedSession]]:
    sessions: list[RecordedSession] = []
    current: dict[str, Any] | None = None
    lines: list[Mapping[str, Any]] = []
    starts: dict[int, int] = {}  # session number -> the line of its session line
    keep_audio = False
    number = 0
    blank = True  # every line so far was blank: a file of blank lines is as empty as none
    try:
        for number, raw in read_lines(file, max_line=MAX_LINE, max_file=MAX_FILE):
            if not raw.strip():
                continue
            blank = False
            obj, kind = _parse(file, number, raw)
            if number == 1 or kind == "cassette":
                keep_audio = _check_header(file, number, obj, kind)
                continue
            if kind == "session":
                if current is not None:
                    sessions.append(_ended(file, number, current, lines))
                if obj["n"] in starts:
                    raise CassetteError(f"{file}:{number}: session {obj['n']} again (first at "
                                        f"line {starts[obj['n']]})")
                starts[obj["n"]] = number
                current, lines = obj, []
                continue
            if current is None:
                raise CassetteError(f"{file}:{number}: a {kind} line before any session line")
            if lines and lines[-1]["kind"] in _ENDINGS:
                raise CassetteError(f"{file}:{number}: a {kind} line after session "
                                    f"{current['n']} ended")
            lines.append(obj)
    except FileNotFoundError:
        raise CassetteError(f"{file}: no such cassette") from None
    except LineError as exc:
        where = f"{file}:{exc.line}" if exc.line else f"{file}"
        raise CassetteError(f"{where}: {exc}") from None
    except OSError as exc:
        raise CassetteError(f"{file}: cannot read the cassette: {exc.strerror or exc}") from None
    if blank:
        raise CassetteError(f"{file}: the cassette is empty")
    if current is not None:
        sessions.append(_ended(file, number + 1, current, lines))
    # Each session is written when it ends: concurrent sessions reach the file out of the
    # order they started, which is the order a replay hands them out in.
    sessions.sort(key=lambda session: session.n)
    return keep_audio, sessions


def _parse(file: Path, number: int, raw: str) -> tuple[Any, str]:
    """One line's object and kind, checked against the schema."""
    try:
        obj = json.loads(raw)
        return obj, check_line(obj)
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, SchemaError) else "not valid JSON"
        raise CassetteError(f"{file}:{number}: {detail}") from None


def _check_header(file: Path, number: int, obj: Mapping[str, Any], kind: str) -> bool:
    """The cassette line's ``keep_audio``, once its place, format and version are checked."""
    if number != 1 or kind != "cassette":
        raise CassetteError(f"{file}:{number}: the first line, and only it, must be "
                            "the cassette line")
    if obj["format"] != FORMAT:
        raise CassetteError(f"{file}:1: not a scribe cassette (format {shown(obj['format'])})")
    if obj["version"] > VERSION:
        raise CassetteError(f"{file}:1: cassette version {obj['version']} is newer "
                            f"than this scribe-mock reads ({VERSION}): upgrade scribe-sync")
    if obj["version"] < 1:
        raise CassetteError(f"{file}:1: cassette version {obj['version']} does not exist "
                            "(versions start at 1)")
    return bool(obj["keep_audio"])


def _ended(file: Path, number: int, head: Mapping[str, Any], lines: list[Mapping[str, Any]]
           ) -> RecordedSession:
    """A session whose lines are all read (the next line, ``number``, is past them): it must
    end with its ``close`` or ``refused`` line, which the proxy always writes last."""
    if not lines or lines[-1]["kind"] not in _ENDINGS:
        raise CassetteError(f"{file}:{number}: session {head['n']} has no close or refused "
                            "line: the cassette was cut short (record it again)")
    return _session(head, lines)


def _session(head: Mapping[str, Any], lines: list[Mapping[str, Any]]) -> RecordedSession:
    return RecordedSession(head["n"], head["path"], head["query"], head["auth"], tuple(lines))
