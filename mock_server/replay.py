"""Replaying a cassette, sans-I/O: the client's progress decides when recorded frames go out.

A recorded server frame (or the server's close) is due once the replaying client has reached
the point where the recording's client stood when that frame arrived: as many commits, as
much audio (seconds), as many frames that were not audio chunks. Wall-clock time plays no
part in *whether* a frame is sent; ``timing`` only decides *when* after that point:

- ``instant``: at once;
- ``recorded``: after the same delay the recording shows between the client frame that reached
  the point and the server frame (frames still go out in order).

:class:`Replayer` has the shape of :class:`mock_server.engine.Engine` (``start``, ``receive``,
``tick``, ``deadline``, ``closed``, ``stalled``) and returns the same actions, so the server's
WebSocket driver runs a replay as it runs the engine (:mod:`mock_server.replay_book` hands
the recorded sessions out to connections).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from scribe_sync._redact import is_secret_name

from ._replay_faults import FaultLayer
from .actions import (
    Action,
    AudioAccepted,
    Close,
    Committed,
    Drop,
    FrameReceived,
    Send,
    SessionStarted,
)
from .cassette import RecordedSession, bytes_per_sample, read_client_frame
from .faults import Fault

__all__ = ["REPLAY_TIMINGS", "Mismatch", "Replayer", "options_of"]

#: The replay timings (``timing`` of :class:`Replayer`, ``--replay-timing``).
REPLAY_TIMINGS: Final = ("instant", "recorded")
_EPSILON: Final = 1e-3  # seconds of audio: positions are written rounded to 0.1 ms
#: The error a strict replay sends when the client differs from the recording (invented).
MISMATCH_ERROR: Final = "error"


class Mismatch(Exception):
    """A strict replay met a client frame that differs from the recording; ``str(exc)``
    names the first difference."""


def options_of(query: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The query options a session is matched by: every parameter but the credentials."""
    return {name: tuple(values) for name, values in sorted(query.items())
            if not is_secret_name(name)}


@attrs.frozen
class _Point:
    """How far the client has come: commits, audio seconds, frames that were not audio."""

    commits: int
    audio_s: float
    others: int

    def reached_by(self, other: _Point) -> bool:
        return (other.commits >= self.commits and other.others >= self.others
                and other.audio_s + _EPSILON >= self.audio_s)


@attrs.frozen
class _Cue:
    """A recorded output and when it is due: its point and its delay after that point."""

    line: Mapping[str, Any]
    point: _Point
    delay: float


def _cues(session: RecordedSession) -> tuple[list[_Cue], list[Mapping[str, Any]]]:
    """The session's server outputs with their points, and its client frames."""
    cues: list[_Cue] = []
    clients: list[Mapping[str, Any]] = []
    others = 0
    last_client_t = 0.0
    for line in session.lines:
        kind = line["kind"]
        if kind == "client":
            clients.append(line)
            last_client_t = float(line["t"])
            if not line["sha256"]:
                others += 1
        elif kind == "server" or (kind == "close" and line["by"] != "client"):
            point = _Point(line["commits"], float(line["audio_s"]), others)
            cues.append(_Cue(line, point, max(0.0, float(line["t"]) - last_client_t)))
    return cues, clients


class Replayer:
    """Replays one recorded session to one connection. Not thread-safe; one per connection.

    Args:
        session: the recorded session.
        timing: ``"instant"`` or ``"recorded"``.
        strict: a client frame that differs from the recording (audio digest, length, commit,
            or a frame the recording does not have) ends the session with an ``error`` naming
            the first difference, and :attr:`mismatch` keeps its text.
        faults: a scenario's faults, layered on the recorded frames
            (:mod:`mock_server._replay_faults`).
    """

    def __init__(self, session: RecordedSession, *, timing: str = "instant",
                 strict: bool = False, faults: Sequence[Fault] = ()) -> None:
        if timing not in REPLAY_TIMINGS:
            raise ValueError(f"replay timing must be one of {', '.join(REPLAY_TIMINGS)}: "
                             f"{timing!r}")
        self.session = session
        self.timing = timing
        self.strict = strict
        self.mismatch: str | None = None
        self.closed = False
        self.stalled = False  # a stall fault fired: read on, send nothing more
        self._layer = FaultLayer(faults)
        self.chunks = 0
        self._cues, self._clients = _cues(session)
        self._next = 0  # index of the next cue to send
        formats = session.query.get("audio_format") or ["pcm_16000"]
        self._rate, self._width = bytes_per_sample(formats[-1])
        self._samples = 0
        self._commits = 0
        self._others = 0
        self._received = 0
        self._last_commit = False  # whether the client's latest chunk committed

    @property
    def audio_secs(self) -> float:
        """Seconds of audio the client has sent."""
        return self._samples / self._rate

    @property
    def remaining(self) -> int:
        """Recorded outputs not sent yet."""
        return len(self._cues) - self._next

    def start(self, now: float) -> list[Action]:
        """The socket is open: what the recording sent before the client's first frame."""
        if not self._layer:
            return self._due()
        out = self._faulted("connect", [])
        if self.closed or self.stalled:
            return out
        return self._faulted("start", out + self._due())

    def receive(self, data: str | bytes, now: float) -> list[Action]:
        """One frame from the client: advance its point; the recorded outputs now due."""
        if self.closed:
            return []
        out: list[Action] = []
        before = self.audio_secs
        audio = self._advance(data, now, out)
        if self.strict:
            difference = self._compare(audio, before)
            if difference is not None:
                self.mismatch = difference
                self.closed = True
                out.append(Send({"message_type": MISMATCH_ERROR, "error": difference}))
                out.append(Close(1008, "cassette mismatch"))
                return out
        self._received += 1
        batch = self._due()
        if self._layer and not (self.closed or self.stalled):
            batch = self._faulted("commit", batch)
            if audio is not None:
                for when in ("chunks", "audio"):
                    if not (self.closed or self.stalled):
                        batch = self._faulted(when, batch)
        out.extend(batch)
        return out

    def _faulted(self, when: str, batch: list[Action]) -> list[Action]:
        """``batch`` with the faults due at ``when``; a close, drop or stall ends the replay."""
        batch = self._layer.apply(when, batch, chunks=self.chunks, audio_secs=self.audio_secs)
        self.closed = self.closed or self._layer.ended
        self.stalled = self._layer.stalled
        return batch

    def deadline(self) -> float | None:
        """Replays are driven by the client, never by the clock."""
        return None

    def tick(self, now: float) -> list[Action]:
        """Nothing happens on a timer in a replay."""
        return []

    # ------------------------------------------------------------------------------ internals

    def _advance(self, data: str | bytes, now: float, out: list[Action]) -> bytes | None:
        """Move the client's point forward by one frame; journal it. The chunk's audio, or
        ``None`` for a frame that is not an audio chunk."""
        obj, audio = read_client_frame(data)  # the recorder's own rule
        if audio is None:
            self._others += 1
            out.append(FrameReceived(now, None, obj if isinstance(obj, dict) else data,
                                     len(data)))
            return None
        summary = dict(obj)
        summary["audio_base_64"] = f"<{len(audio)} bytes>"
        out.append(FrameReceived(now, obj.get("message_type"), summary, len(data)))
        out.append(AudioAccepted(audio))
        self.chunks += 1
        self._samples += len(audio) // self._width
        self._last_commit = obj.get("commit") is True
        if self._last_commit:
            self._commits += 1
        return audio

    def _compare(self, audio: bytes | None, before: float) -> str | None:
        """The first difference between the client's latest frame and the recording's."""
        index = self._received
        where = f"client frame {index + 1} (audio {before:.2f} s)"
        if index >= len(self._clients):
            return (f"cassette mismatch at {where}: the recording has only "
                    f"{len(self._clients)} client frames")
        line = self._clients[index]
        if audio is None or not line["sha256"]:
            if (audio is None) != (not line["sha256"]):
                recorded = "an audio chunk" if line["sha256"] else "a frame that is no chunk"
                return f"cassette mismatch at {where}: the recording has {recorded} here"
            return None
        recorded_commit = bool(line["commit"])
        if self._last_commit != recorded_commit:
            return (f"cassette mismatch at {where}: commit {str(self._last_commit).lower()}, "
                    f"recorded {str(recorded_commit).lower()}")
        samples = len(audio) // self._width
        if samples != line["samples"]:
            return (f"cassette mismatch at {where}: length {samples} samples, recorded "
                    f"{line['samples']}")
        digest = hashlib.sha256(audio).hexdigest()
        if digest != line["sha256"]:
            return (f"cassette mismatch at {where}: audio sha256 {digest[:12]}… differs from "
                    f"the recording's {line['sha256'][:12]}…")
        return None

    def _due(self) -> list[Action]:
        """The cues the client's point has reached, in order; each with its delay."""
        point = _Point(self._commits, self.audio_secs, self._others)
        out: list[Action] = []
        while self._next < len(self._cues) and not (self.closed or self.stalled):
            cue = self._cues[self._next]
            if not cue.point.reached_by(point):
                break
            self._next += 1
            out.extend(self._perform(cue))
        return out

    def _perform(self, cue: _Cue) -> list[Action]:
        line = cue.line
        delay = cue.delay if self.timing == "recorded" else 0.0
        if line["kind"] == "close":
            self.closed = True
            # 1006 (no close frame) and 1005 (a close frame without a code) never go on the
            # wire: the connection is cut, or closed with 1000 as the proxy forwarded it.
            if line.get("dropped") or line["code"] == 1006:
                return [Drop()]
            if line["code"] == 1005:
                return [Close(1000, "")]
            return [Close(line["code"], line["reason"])]
        if "binary" in line:
            return [Send(base64.b64decode(line["binary"]), delay)]
        out: list[Action] = []
        frame = line["frame"]
        kind = frame.get("message_type") if isinstance(frame, dict) else None
        if kind == "session_started":
            out.append(SessionStarted(str(frame.get("session_id", ""))))
        elif kind == "committed_transcript":
            out.append(Committed())  # the journal counts answered commits
        if "raw" in line:
            out.append(Send(str(line["raw"]), delay))
        elif isinstance(frame, dict):
            out.append(Send(dict(frame), delay))
        else:
            out.append(Send(json.dumps(frame, ensure_ascii=False, separators=(",", ":")),
                            delay))
        return out
