"""Cassettes: recorded realtime sessions, one JSON object per line (docs/cassettes.md).

A cassette file starts with a ``cassette`` line (format and version), then holds one or more
sessions, each a ``session`` line (the query options, no secret) followed by its ``client``,
``server`` and ``close`` lines in the order they crossed the recording proxy. Keys are written
in a fixed order and every frame is one line, so that a re-recording diffs line by line.

:class:`SessionTape` builds one session's lines while it is recorded; :class:`CassetteWriter`
writes finished sessions (a file holds them in the order they started; a directory gets one
file per session); :func:`load` reads and checks a file or a directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from scribe_sync._redact import SECRET_NAMES, is_secret_name

from ._cassette_io import CassetteWriter, LineError, natural_key, read_lines
from ._cassette_schema import FORMAT, VERSION, SchemaError, check_line, shown

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
]

#: Query parameter names that carry a credential (in lower case, ``-`` for ``_``; any name
#: ending in ``-key``, ``-token`` or ``-secret`` too): never written to a cassette. The rule is
#: the client's own (``scribe_sync._redact.is_secret_name``).
SECRET_PARAMS: Final = SECRET_NAMES
_REDACTED: Final = "<redacted>"
_OPAQUE: Final = frozenset({"kind", "sha256", "audio", "binary"})  # fields never scrubbed
_RATES: Final = {"ulaw_8000": (8000, 1)}
_ENDINGS: Final = frozenset({"close", "refused"})  # the last line of every session
#: The longest line and the largest file :func:`load` reads: a client message is at most
#: 16 MiB (what the recording proxy relays), its audio kept with ``--keep-audio`` as long in
#: base64; an hour's audio is a few hundred MiB.
MAX_LINE: Final = 32 * 1024 * 1024
MAX_FILE: Final = 1024 * 1024 * 1024
#: The largest client frame that is not audio kept whole (garbage is not the service's).
MAX_OTHER: Final = 64 * 1024


class CassetteError(ValueError):
    """A cassette that cannot be read; ``str(exc)`` is one line naming the file and line."""


def bytes_per_sample(audio_format: str) -> tuple[int, int]:
    """``(sample rate, bytes per sample)`` of an ``audio_format`` (``pcm_16000`` by default)."""
    if audio_format in _RATES:
        return _RATES[audio_format]
    _, _, rate = audio_format.partition("_")
    # A rate of 0 (``pcm_0``, from a hostile client or file) would divide by zero.
    return (int(rate) if rate.isdigit() and int(rate) > 0 else 16000), 2


def _summary(data: str | bytes) -> str:
    """A client frame too large to keep: what it was, its size and digest."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    what = "text" if isinstance(data, str) else "binary"
    return f"<{what} frame: {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}>"


def _line(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A line's object: ``kind`` first, then the fields sorted (a stable order for diffs)."""
    return {"kind": kind, **{name: fields[name] for name in sorted(fields)}}


def _seconds(value: float) -> float:
    return round(value, 4)


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


class SessionTape:
    """The lines of one session being recorded. One per session; not thread-safe.

    Args:
        n: the session's number in the recording (1 for the first).
        path: the request path.
        query: the query parameters; credentials are dropped here, before anything is kept.
        secrets: strings that must never be written (the key, the token): any line containing
            one has it replaced, a last line of defence behind dropping the fields.
        keep_audio: keep each chunk's audio (base64) beside its digest.
        clock: the session's start on the same clock as the ``now`` arguments below.
    """

    def __init__(self, n: int, path: str, query: Mapping[str, Sequence[str]], *,
                 auth: str, secrets: Iterable[str] = (), keep_audio: bool = False,
                 start: float = 0.0) -> None:
        self.n = n
        self.path = path
        self.query = {name: list(values) for name, values in sorted(query.items())
                      if not is_secret_name(name)}
        self.auth = auth
        self.secrets = tuple(s for s in secrets if s)
        # Each secret as written and as a JSON encoder escapes it (in a frame's exact text),
        # longest first, replaced in one pass (a replacement is never scrubbed again).
        forms = {form for s in self.secrets for form in (s, json.dumps(s)[1:-1])}
        self._secret_forms = re.compile("|".join(
            re.escape(form) for form in sorted(forms, key=len, reverse=True)))
        self.keep_audio = keep_audio
        self.start = start
        formats = self.query.get("audio_format") or ["pcm_16000"]
        self.rate, self.width = bytes_per_sample(formats[-1])
        self.samples = 0
        self.commits = 0
        self.client_frames = 0
        self.lines: list[dict[str, Any]] = []
        self.closed = False

    @property
    def audio_s(self) -> float:
        """The client's audio position, in seconds of audio sent so far."""
        return _seconds(self.samples / self.rate)

    def _progress(self, now: float) -> dict[str, Any]:
        return {"t": _seconds(now - self.start), "audio_s": self.audio_s,
                "commits": self.commits}

    def client(self, data: str | bytes, now: float) -> None:
        """A frame the client sent."""
        fields: dict[str, Any] = {"message_type": None, "samples": 0, "sha256": "",
                                  "commit": False, "sample_rate": None, "previous_text": None}
        obj: Any = None
        if isinstance(data, str):
            try:
                obj = json.loads(data)
            except (ValueError, RecursionError):  # not JSON, or nested past the parser
                obj = None
        audio = b""
        if isinstance(obj, dict) and isinstance(obj.get("audio_base_64"), str):
            try:
                audio = base64.b64decode(obj["audio_base_64"], validate=True)
            except ValueError:
                audio = b""
            kind = obj.get("message_type")
            fields["message_type"] = kind if isinstance(kind, str) else None
            fields["commit"] = obj.get("commit") is True
            rate = obj.get("sample_rate")
            fields["sample_rate"] = rate if type(rate) is int else None
            text = obj.get("previous_text")
            fields["previous_text"] = (
                None if not isinstance(text, str) else text if len(text) <= MAX_OTHER
                else _summary(text))
            fields["samples"] = len(audio) // self.width
            fields["sha256"] = hashlib.sha256(audio).hexdigest()
            if self.keep_audio and audio:
                fields["audio"] = base64.b64encode(audio).decode("ascii")
            rest = {k: v for k, v in obj.items() if k not in (
                "audio_base_64", "message_type", "commit", "sample_rate", "previous_text")}
            if rest:
                fields["other"] = rest if len(data) - len(obj["audio_base_64"]) <= MAX_OTHER \
                    else _summary(data)
        else:
            # Not an audio chunk: kept as it was (or its text), with nothing to digest; a
            # large one only as its size and digest, so that its line stays loadable.
            fields["other"] = _summary(data) if len(data) > MAX_OTHER else (
                obj if isinstance(obj, dict) else (
                    data if isinstance(data, str) else "<binary frame>"))
            if isinstance(obj, dict):
                kind = obj.get("message_type")
                fields["message_type"] = kind if isinstance(kind, str) else None
        self.samples += fields["samples"]
        if fields["commit"]:
            self.commits += 1
        self.client_frames += 1
        self.lines.append(_line("client", {**fields, **self._progress(now)}))

    def server(self, data: str | bytes, now: float) -> None:
        """A frame the server sent, kept verbatim."""
        fields = {**self._progress(now), "after": self.client_frames}
        if isinstance(data, bytes):
            fields["binary"] = base64.b64encode(data).decode("ascii")
        else:
            try:
                frame = json.loads(data)
            except (ValueError, RecursionError):  # not JSON, or nested past the parser
                frame = None
                fields["frame"] = data
                fields["raw"] = data
            else:
                fields["frame"] = frame
                if encode_frame(frame) != data:
                    fields["raw"] = data  # the exact text, when the JSON alone loses it
        self.lines.append(_line("server", fields))

    def close(self, by: str, code: int, reason: str, now: float, *, dropped: bool = False
              ) -> None:
        """How the session ended: who closed, with which code (1006 and ``dropped``: the
        connection ended without a close frame)."""
        if self.closed:
            return
        self.closed = True
        fields: dict[str, Any] = {**self._progress(now), "after": self.client_frames,
                                  "by": by, "code": code, "reason": reason}
        if dropped:
            fields["dropped"] = True
        self.lines.append(_line("close", fields))

    def refused(self, status: int, body: str, now: float) -> None:
        """The upstream refused the WebSocket handshake with an HTTP status."""
        self.closed = True
        self.lines.append(_line("refused", {"t": _seconds(now - self.start),
                                            "status": status, "body": body}))

    def text(self) -> str:
        """The session's lines (its ``session`` line first), secrets scrubbed.

        Raises:
            ValueError: the session has not ended (:meth:`close` or :meth:`refused`): its
                lines would not load, as a cassette cut short does not.
        """
        if not self.closed:
            raise ValueError(f"session {self.n} has not ended: record its close or refusal "
                             "before writing it")
        head = _line("session", {"n": self.n, "path": self.path, "query": self.query,
                                 "auth": self.auth})
        return "".join(self._dump(line) for line in (head, *self.lines))

    def _dump(self, obj: Mapping[str, Any]) -> str:
        # Scrubbed value by value, not in the encoded text: a short key ("a", a quote) would
        # otherwise rewrite field names and JSON syntax, and the cassette would not load.
        # Digests and base64 carry no text a secret could be in.
        clean = {name: value if name in _OPAQUE else self._scrub(value)
                 for name, value in obj.items()}
        return json.dumps(clean, ensure_ascii=False, separators=(", ", ": ")) + "\n"

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._secret_forms.sub(_REDACTED, value) if self.secrets else value
        if isinstance(value, dict):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value


def encode_frame(frame: Any) -> str:
    """A JSON frame as the mock sends it (compact, UTF-8)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


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
    try:
        for number, raw in read_lines(file, max_line=MAX_LINE, max_file=MAX_FILE):
            if not raw.strip():
                continue
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
    if number == 0:
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
