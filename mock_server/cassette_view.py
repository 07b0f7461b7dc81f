"""Reading cassettes as people do: a timeline of one (``scribe-mock cassette show``) and the
frame-by-frame differences between two (``scribe-mock cassette diff``).

The diff compares what matters about the service's behaviour and leaves out what changes from
one recording to the next without meaning anything: session ids, arrival times, where in the
client's stream a frame arrived beyond the commit it followed, and on which side of a commit a
partial that raced it landed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from .cassette import Cassette, RecordedSession, bytes_per_sample

__all__ = ["diff", "normalised", "printable", "timeline"]

#: Keys left out of server frames when comparing: they differ between any two recordings.
NOISE_KEYS: Final = frozenset({"session_id", "_mock_sent_ns"})
_TEXT_WIDTH: Final = 60
#: Above this many lines in two sessions, :func:`diff` compares them position by position:
#: a unified diff of two hostile 100k-line sessions takes minutes of CPU.
MAX_DIFF_LINES: Final = 40_000


def _short(text: str) -> str:
    return text if len(text) <= _TEXT_WIDTH else text[: _TEXT_WIDTH - 1] + "…"


def _describe(frame: Any) -> str:
    """A server frame in a few words: its type and its text or error."""
    if not isinstance(frame, dict):
        return f"(not a JSON object) {_short(json.dumps(frame, ensure_ascii=False))}"
    kind = frame.get("message_type", "?")
    for field in ("text", "error", "warning"):
        if isinstance(frame.get(field), str):
            return f"{kind} {json.dumps(_short(frame[field]), ensure_ascii=False)}"
    if isinstance(frame.get("words"), list):
        return f"{kind} ({len(frame['words'])} items)"
    return str(kind)


def _options(session: RecordedSession) -> str:
    return " ".join(f"{name}={','.join(values)}" for name, values in sorted(
        session.query.items()))


def printable(text: str) -> str:
    """``text`` for a terminal: what is not printable (ESC, the C1 CSI, BEL, line separators,
    bidirectional overrides...) escaped, so that a hostile cassette's strings cannot drive
    or disguise the terminal that shows them."""
    if all(c.isprintable() or c == " " for c in text):
        return text
    return "".join(c if c.isprintable() or c == " "
                   else f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
                   for c in text)


def timeline(cassette: Cassette) -> Iterator[str]:
    """The lines of ``scribe-mock cassette show``: per session, time since its start, the
    client's audio position, and what crossed the wire (``->`` client, ``<-`` server).
    Consecutive audio chunks without a commit are one line. Control characters escaped."""
    return (printable(line) for line in _timeline(cassette))


def _timeline(cassette: Cassette) -> Iterator[str]:
    for session in cassette.sessions:
        yield f"session {session.n} ({session.auth}): {_options(session)}"
        run: list[Mapping[str, Any]] = []
        rate = _rate(session)
        for line in session.lines:
            kind = line["kind"]
            if kind == "client" and line["sha256"] and not line["commit"]:
                run.append(line)
                continue
            yield from _flush(run, rate)
            where = f"  {float(line['t']):8.3f}s"
            if kind == "refused":
                yield f"{where}  upstream refused the handshake: HTTP {line['status']}"
                continue
            where += f"  audio {float(line['audio_s']):6.2f}s"
            if kind == "client":
                if line["sha256"]:
                    yield f"{where}  -> commit ({line['samples']} samples with it)"
                else:
                    yield f"{where}  -> {_short(json.dumps(line.get('other'), ensure_ascii=False))}"
            elif kind == "server":
                shown = "binary frame" if "binary" in line else _describe(line["frame"])
                yield f"{where}  <- {shown}"
            else:
                how = "dropped (no close frame)" if line.get("dropped") else (
                    f"{line['code']} {json.dumps(line['reason'])}")
                yield f"{where}  close by {line['by']}: {how}"
        yield from _flush(run, rate)


def _flush(run: list[Mapping[str, Any]], rate: int) -> Iterator[str]:
    """One line for a run of audio chunks, which it empties."""
    if run:
        first, last = run[0], run[-1]
        samples = sum(int(line["samples"]) for line in run)
        start = float(first["audio_s"]) - int(first["samples"]) / rate
        yield (f"  {float(first['t']):8.3f}s  audio {start:6.2f}-{float(last['audio_s']):.2f}s"
               f"  -> {len(run)} chunk(s), {samples} samples")
        run.clear()


def _rate(session: RecordedSession) -> int:
    formats = session.query.get("audio_format") or ["pcm_16000"]
    return bytes_per_sample(formats[-1])[0]


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in NOISE_KEYS}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def normalised(session: RecordedSession) -> list[str]:
    """A session as comparable lines: its options and every server frame (ids removed), each
    but partials with the number of client commits it followed.

    Partials carry no commit count, and the client's commits are no lines of their own: a
    partial that raced a commit lands on either side of it from one recording to the next,
    while the order of the frames themselves, and the commit each answer followed, are kept.
    Partials after the last answer raced the client's close and are left out.
    """
    out = [f"session: {_options(session)}"]
    for line in session.lines:
        kind = line["kind"]
        if kind == "client":
            if not line["sha256"]:
                out.append(f"-> {json.dumps(line.get('other'), sort_keys=True)}")
        elif kind == "server":
            frame = line.get("binary", None) if "binary" in line else _clean(line["frame"])
            text = json.dumps(frame, sort_keys=True, ensure_ascii=False)
            partial = isinstance(frame, dict) and frame.get("message_type") == \
                "partial_transcript"
            out.append(f"<- {text}" if partial else f"<- after commit {line['commits']}: {text}")
        elif kind == "close":
            how = "dropped" if line.get("dropped") else f"{line['code']} {line['reason']!r}"
            out.append(f"close by {line['by']}: {how}")
        else:
            out.append(f"refused: HTTP {line['status']}")
    return _without_trailing_partials(out)


def _without_trailing_partials(out: list[str]) -> list[str]:
    """Drop the partials that came after the session's last answer: they raced the client's
    close (the service's echo of the last committed text, 5-49 ms after it, arrives before or
    after the client closes, from one recording to the next). An answer is a frame after a
    commit; a session with none keeps its partials: nothing raced them."""
    answers = [i for i, text in enumerate(out)
               if text.startswith("<- after commit ") and not text.startswith("<- after commit 0:")]
    if not answers:
        return out
    last = answers[-1]
    return out[: last + 1] + [text for text in out[last + 1:] if not text.startswith("<- {")]


def diff(a: Cassette, b: Cassette) -> list[str]:
    """The differences between two cassettes, session by session (a unified diff of their
    :func:`normalised` lines, control characters escaped); empty when they recorded the same
    behaviour. Sessions longer than :data:`MAX_DIFF_LINES` are compared line by line at the
    same positions instead (a unified diff's matching grows faster than linearly)."""
    lines: list[str] = []
    if len(a.sessions) != len(b.sessions):
        lines.append(f"sessions: {len(a.sessions)} in {a.source}, {len(b.sessions)} in "
                     f"{b.source}")
    for index in range(max(len(a.sessions), len(b.sessions))):
        left = normalised(a.sessions[index]) if index < len(a.sessions) else []
        right = normalised(b.sessions[index]) if index < len(b.sessions) else []
        names = f"{a.source} session {index + 1}", f"{b.source} session {index + 1}"
        if len(left) + len(right) > MAX_DIFF_LINES:
            lines.extend(_positional(left, right, *names))
        else:
            lines.extend(difflib.unified_diff(left, right, *names, lineterm="", n=2))
    return [printable(line) for line in lines]


def _positional(left: list[str], right: list[str], name_a: str, name_b: str) -> Iterator[str]:
    """A linear comparison: each line against the line at the same position."""
    header = [f"--- {name_a}", f"+++ {name_b}"]
    for number in range(max(len(left), len(right))):
        old = left[number] if number < len(left) else None
        new = right[number] if number < len(right) else None
        if old != new:
            yield from header
            header = []
            yield f"@@ line {number + 1} @@"
            if old is not None:
                yield f"-{old}"
            if new is not None:
                yield f"+{new}"
