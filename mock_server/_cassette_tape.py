"""Recording one session for a cassette: :class:`SessionTape` builds the session's lines as
the recording proxy sees its frames (docs/cassettes.md "The format"), with no credential.

:mod:`mock_server.cassette` exports it, with the loader that reads the lines back.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from scribe_sync._redact import is_secret_name

from ._scrub import Scrubber

__all__ = ["MAX_OTHER", "SessionTape", "bytes_per_sample", "encode_frame", "read_client_frame"]

_OPAQUE: Final = frozenset({"kind", "sha256", "audio", "binary"})  # fields never scrubbed
_RATES: Final = {"ulaw_8000": (8000, 1)}
_RATE_DIGITS: Final = 9  # the most a sample rate is read with (under a billion per second)
#: The largest client frame that is not audio kept whole (garbage is not the service's).
MAX_OTHER: Final = 64 * 1024


def bytes_per_sample(audio_format: str) -> tuple[int, int]:
    """``(sample rate, bytes per sample)`` of an ``audio_format`` (``pcm_16000`` by default)."""
    if audio_format in _RATES:
        return _RATES[audio_format]
    _, _, rate = audio_format.partition("_")
    # Only plain ASCII digits, and few of them: ``str.isdigit`` is true of ``²`` (which
    # ``int`` refuses), and 5000 digits pass it but not ``int``'s digit limit. A rate of 0
    # (``pcm_0``) would divide by zero. Any such format (the mock refuses it with an error
    # message) falls back like every other unknown one.
    if rate.isascii() and rate.isdigit() and len(rate) <= _RATE_DIGITS and int(rate) > 0:
        return int(rate), 2
    return 16000, 2


def read_client_frame(data: str | bytes) -> tuple[Any, bytes | None]:
    """A client frame's JSON (``None`` when it is none) and its audio, or ``None`` when it is
    not an audio chunk: a JSON object whose ``audio_base_64`` is a string of valid base64.

    The recorder and the replayer both classify frames by this one rule, so that a strict
    replay of the very frames recorded never differs. Invalid base64 is no chunk, as the mock
    answers it (an ``input_error``, no audio taken)."""
    obj: Any = None
    if isinstance(data, str):
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser
            obj = None
    if not (isinstance(obj, dict) and isinstance(obj.get("audio_base_64"), str)):
        return obj, None
    try:
        return obj, base64.b64decode(obj["audio_base_64"], validate=True)
    except ValueError:  # binascii.Error, and non-ASCII text
        return obj, None


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
        self._scrub = Scrubber(secrets)
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
        obj, audio = read_client_frame(data)
        if audio is not None:
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


def encode_frame(frame: Any) -> str:
    """A JSON frame as the mock sends it (compact, UTF-8)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
