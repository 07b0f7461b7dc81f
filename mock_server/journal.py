"""The journal: what every session received and sent, for tests to assert on.

Written on the server's event loop, read from any thread: :class:`Journal` hands out frozen
snapshots (:class:`SessionRecord`) and lets a test wait for sessions to finish without sleeping.
Every change to a session's log happens under the journal's lock, so a snapshot is consistent
(``audio_bytes`` and ``audio_sha256`` always describe the same audio). Secrets are redacted
before they are stored: headers and query parameters named like a credential, whatever their
case and whether words are joined by ``-`` or ``_`` (``xi-api-key``, ``XI_API_KEY``,
``token``, ``TOKEN``, ``authorization``, ``cookie``, ``...-token``, ``...-key``), and
``sec-websocket-protocol``, through which a browser client may pass one.

Memory is bounded by default (:class:`FramePolicy`): counts, digests and errors are kept for every
session, frames only for the first ``per_session`` frames of a session and only for the
``sessions`` most recently finished sessions (open sessions always keep theirs). Dropped frames
are counted in :attr:`SessionRecord.frames_dropped`. Each kept client frame (and each error
message, which may echo one) is bounded in size too (:mod:`mock_server._journal_bounds`).
"""

from __future__ import annotations

import collections
import hashlib
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

import attrs

from scribe_sync._redact import is_secret_name

from ._journal_bounds import MAX_DEPTH, bounded, deeper_than, shorten
from ._scrub import MIN_SECRET, REDACTED, Scrubber
from .actions import AudioAccepted, Committed, FrameReceived, Record, SessionStarted

__all__ = [
    "DEFAULT_FRAME_POLICY",
    "REDACTED",
    "FramePolicy",
    "Journal",
    "JournalFrame",
    "SessionLog",
    "SessionRecord",
]

#: Deeper frame data is exported cut (a JSON encoder's recursion gives out in the hundreds).
_EXPORT_DEPTH: Final = 4 * MAX_DEPTH


@attrs.frozen
class JournalFrame:
    """One WebSocket frame. ``data`` is the parsed JSON object (inbound audio replaced by
    ``"<N bytes>"`` to keep the journal small) or the raw text/bytes when it was not JSON;
    of a client frame, about 4096 characters at most (longer text shortened with a note,
    :mod:`mock_server._journal_bounds`)."""

    direction: str  # "in" (client -> mock) or "out" (mock -> client)
    time: float  # time.monotonic() when received or sent
    message_type: str | None
    data: Any
    size: int  # bytes on the wire (text length for text frames)


@attrs.frozen
class SessionRecord:
    """A snapshot of one session's journal."""

    index: int  # 1-based, in connection order, across the server's life (reset restarts it)
    session_id: str | None  # None until session_started was sent
    path: str
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]
    remote: str
    key_label: str | None  # the scenario/limit key: an API key's last 4 chars, or "token:<4>"
    scenario: str | None
    opened_at: float
    closed_at: float | None
    frames: tuple[JournalFrame, ...]
    chunks: int  # input_audio_chunk frames accepted
    commits: int  # commits answered (manual, VAD and auto)
    audio_bytes: int
    audio_sha256: str  # hex digest of all accepted audio, in order
    close_code: int | None
    close_reason: str | None
    errors: tuple[str, ...]  # error message types sent
    frames_dropped: int = 0  # frames not kept (the journal's frame cap), see FramePolicy

    @property
    def closed(self) -> bool:
        """True once the connection is over."""
        return self.closed_at is not None

    def sent(self, message_type: str | None = None) -> list[Any]:
        """Outbound JSON objects, optionally of one message type."""
        return [
            f.data
            for f in self.frames
            if f.direction == "out" and (message_type is None or f.message_type == message_type)
        ]

    def received(self, message_type: str | None = None) -> list[Any]:
        """Inbound frames' data, optionally of one message type."""
        return [
            f.data
            for f in self.frames
            if f.direction == "in" and (message_type is None or f.message_type == message_type)
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (admin API), whatever the frames hold: this must not fail,
        or one session's frame would take the journal away from every test. So no recursion
        over the frames' data (``attrs.asdict(recurse=True)`` would recurse into it), and
        data nested deeper than any JSON encoder takes (such as a scenario's ``send``
        payload) is exported cut (client frames already are, when journaled)."""
        out = attrs.asdict(self, recurse=False)
        out["query"] = {name: list(values) for name, values in self.query.items()}
        out["headers"] = dict(self.headers)
        out["errors"] = list(self.errors)
        out["frames"] = [
            {"direction": f.direction, "time": f.time, "message_type": f.message_type,
             "data": _exported(f.data), "size": f.size}
            for f in self.frames
        ]
        return out


def _exported(data: Any) -> Any:
    if isinstance(data, bytes):
        return data.hex()
    if isinstance(data, (dict, list)) and deeper_than(data, _EXPORT_DEPTH):
        return bounded(data)
    return data


@attrs.frozen
class FramePolicy:
    """How many frames the journal keeps (counts and digests are kept for every session).

    Attributes:
        per_session: frames kept per session, the first ones (``None``: all, 0: none).
        sessions: finished sessions whose frames are kept, the most recent ones (``None``: all).
    """

    per_session: int | None = 1000
    sessions: int | None = 8

    @property
    def keeps_frames(self) -> bool:
        """Whether any frame is kept."""
        return self.per_session != 0


DEFAULT_FRAME_POLICY: Final = FramePolicy()


def _holds(value: str, known: Collection[str]) -> bool:
    return any(secret in value for secret in known)


def redact_headers(headers: Sequence[tuple[str, str]], known: Collection[str] = ()
                   ) -> dict[str, str]:
    """Header name (lower case) -> value; secrets redacted: by name (``is_secret_name``, the
    client's own rule), and any value holding one of ``known`` (the mock's keys, what the
    client sent as its key)."""
    return {
        name.lower(): (REDACTED if is_secret_name(name) or _holds(value, known) else value)
        for name, value in headers
    }


def redact_query(query: Mapping[str, Sequence[str]], known: Collection[str] = ()
                 ) -> dict[str, list[str]]:
    """Query parameters, secrets redacted as :func:`redact_headers` does (a key pasted into
    the wrong parameter is still a key)."""
    return {
        name: [REDACTED if is_secret_name(name) or _holds(v, known) else v for v in values]
        for name, values in query.items()
    }


def secrets_of(headers: Mapping[str, str], query: Mapping[str, Sequence[str]],
               keys: Collection[str] | None) -> set[str]:
    """The credentials a request carries or the mock knows, to redact wherever they appear.
    Values under 8 characters are left: a test's key such as ``audio`` or ``test`` would
    redact the protocol's own words (``input_<redacted>_chunk``); a real key is far longer."""
    found = set(keys or ())
    found.update(v for n, v in headers.items() if is_secret_name(n))
    found.update(v for n, vs in query.items() if is_secret_name(n) for v in vs)
    return {s.strip() for s in found if len(s.strip()) >= MIN_SECRET}


def key_label(secret: str) -> str:
    """A non-secret label for a credential: its last four characters."""
    return "…" + secret[-4:]


@attrs.define
class SessionLog:
    """The mutable journal of one live session. Mutated only on the event loop thread."""

    index: int
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    remote: str
    key_label: str | None = None
    scenario: str | None = None
    session_id: str | None = None
    opened_at: float = attrs.field(factory=time.monotonic)
    closed_at: float | None = None
    frames: list[JournalFrame] = attrs.field(factory=list)
    chunks: int = 0
    commits: int = 0
    audio_bytes: int = 0
    digest: Any = attrs.field(factory=hashlib.sha256)
    close_code: int | None = None
    close_reason: str | None = None
    errors: list[str] = attrs.field(factory=list)
    frames_dropped: int = 0
    # Redacts the session's credentials wherever they appear in stored frames (not exported).
    scrubber: Scrubber = attrs.field(factory=Scrubber, repr=False)

    def add_audio(self, audio: bytes) -> None:
        """Account for accepted audio."""
        self.audio_bytes += len(audio)
        self.digest.update(audio)

    def snapshot(self) -> SessionRecord:
        """A frozen copy."""
        return SessionRecord(
            index=self.index,
            session_id=self.session_id,
            path=self.path,
            query=self.query,
            headers=self.headers,
            remote=self.remote,
            key_label=self.key_label,
            scenario=self.scenario,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            frames=tuple(self.frames),
            chunks=self.chunks,
            commits=self.commits,
            audio_bytes=self.audio_bytes,
            audio_sha256=self.digest.copy().hexdigest(),
            close_code=self.close_code,
            close_reason=self.close_reason,
            errors=tuple(self.errors),
            frames_dropped=self.frames_dropped,
        )


class Journal:
    """All sessions of a server, with a condition to wait on."""

    def __init__(self, frames: FramePolicy = DEFAULT_FRAME_POLICY) -> None:
        self.frames = frames
        # _cond's lock (``lock``) guards _sessions, _next_index, _with_frames and every field
        # of every SessionLog: the event loop mutates logs only while holding it.
        self._cond = threading.Condition(threading.Lock())
        self.lock = self._cond
        self._sessions: list[SessionLog] = []
        self._next_index = 1
        self._with_frames: collections.deque[SessionLog] = collections.deque()  # finished
        self._waiting = 0  # threads in wait_for: changes notify only when someone waits

    def open(self, **fields: Any) -> SessionLog:
        """Start the journal of a new connection."""
        with self._cond:
            log = SessionLog(index=self._next_index, **fields)
            self._next_index += 1
            self._sessions.append(log)
            self._cond.notify_all()
            return log

    def add_sent(self, log: SessionLog, frame: JournalFrame, *, error: bool = False) -> None:
        """Journal one frame sent (and an error message's type), within the frame policy."""
        with self._cond:
            if error:
                log.errors.append(str(frame.message_type))
            cap = self.frames.per_session
            if cap is None or len(log.frames) < cap:
                if error:  # its text may echo what the client sent (a message_type)
                    data = bounded(frame.data)
                    frame = attrs.evolve(frame, data=log.scrubber(data))
                log.frames.append(frame)
            else:
                log.frames_dropped += 1
            if self._waiting:
                self._cond.notify_all()

    def write(self, log: SessionLog, records: Sequence[Record]) -> None:
        """Apply the engine's journal records to ``log`` under the lock, within the frame
        policy (:mod:`mock_server.actions`)."""
        keep_frames = self.frames.keeps_frames
        with self._cond:
            for record in records:
                if isinstance(record, AudioAccepted):
                    log.chunks += 1
                    if record.audio:
                        log.add_audio(record.audio)
                elif isinstance(record, FrameReceived):
                    if not keep_frames:
                        log.frames_dropped += 1
                    else:
                        kind = record.message_type
                        kind = kind if kind is None else shorten(kind)
                        data = bounded(record.data)
                        if log.scrubber:
                            kind, data = log.scrubber((kind, data))
                        log.frames.append(JournalFrame("in", record.time, kind, data,
                                                       record.size))
                elif isinstance(record, Committed):
                    log.commits += 1
                elif isinstance(record, SessionStarted):
                    log.session_id = record.session_id
                else:
                    raise TypeError(f"not a journal record: {record!r}")
            self.trim(log)
            if self._waiting:
                self._cond.notify_all()

    def trim(self, log: SessionLog) -> None:
        """Apply the per-session cap to frames appended directly to ``log.frames``.
        The caller holds :attr:`lock`."""
        cap = self.frames.per_session
        if cap is not None and len(log.frames) > cap:
            log.frames_dropped += len(log.frames) - cap
            del log.frames[cap:]

    def close(self, log: SessionLog, code: int | None, reason: str | None) -> None:
        """Mark a session over and wake waiters."""
        with self._cond:
            if log.closed_at is None:
                log.close_code, log.close_reason = code, reason
                log.closed_at = time.monotonic()
                self._release_frames(log)
            self._cond.notify_all()

    def _release_frames(self, finished: SessionLog) -> None:
        keep = self.frames.sessions
        if keep is None or not finished.frames:
            return
        self._with_frames.append(finished)
        while len(self._with_frames) > keep:
            old = self._with_frames.popleft()
            old.frames_dropped += len(old.frames)
            old.frames = []

    def notify(self) -> None:
        """Wake waiters after a change they may be waiting for."""
        with self._cond:
            self._cond.notify_all()

    def sessions(self) -> list[SessionRecord]:
        """Snapshots of every session, in connection order."""
        with self._cond:
            return [log.snapshot() for log in self._sessions]

    def reset(self) -> None:
        """Forget every session (open ones keep running but are no longer listed)."""
        with self._cond:
            self._sessions.clear()
            self._with_frames.clear()
            self._next_index = 1
            self._cond.notify_all()

    def open_count(self) -> int:
        """Sessions not yet closed."""
        with self._cond:
            return sum(1 for log in self._sessions if log.closed_at is None)

    def wait_for(
        self, predicate: Callable[[list[SessionRecord]], bool], timeout: float = 10.0
    ) -> list[SessionRecord]:
        """Block until ``predicate(sessions())`` is true; return those sessions.

        Raises:
            TimeoutError: not true within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    records = [log.snapshot() for log in self._sessions]
                    if predicate(records):
                        return records
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("the mock's journal did not reach the expected state")
                    self._cond.wait(min(remaining, 0.5))
            finally:
                self._waiting -= 1
