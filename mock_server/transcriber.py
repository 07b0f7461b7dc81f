"""Deterministic fake transcription: words from detected speech.

The default rule (documented in the README): every ``word_ms`` milliseconds of detected speech
(default 400 ms) make one word; the word is ``LEXICON[int(sha256(audio)) % len(LEXICON)]`` where
``audio`` is the raw received bytes of that word's speech frames. A speech run that ends with a
remainder of at least half a word makes one more (shorter) word; a smaller remainder is dropped.
So the same audio always gives the same text, whatever the chunking.

A given transcript replaces this rule with a script of utterances (:mod:`mock_server.script`).

Word times are on the session clock (seconds since the first audio byte of the connection):
a word starts at its first speech frame and ends at its last.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from .vad import Frame

__all__ = ["LEXICON", "TranscribedWord", "Transcriber", "find_entities", "words_payload"]

#: The fixed lexicon of the default transcript. Never reorder: tests pin texts derived from it.
LEXICON: Final = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
    "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray",
    "yankee", "zulu", "hello", "world", "morning", "evening", "river", "mountain",
)


@attrs.frozen
class TranscribedWord:
    """A recognised word on the session clock; ``digest`` seeds its logprob."""

    text: str
    start: float
    end: float
    logprob: float


@attrs.define
class Transcriber:
    """Turns classified frames into lexicon words; one instance per connection."""

    word_secs: float = 0.4

    _words: list[TranscribedWord] = attrs.field(init=False, factory=list)  # current segment
    _hash: Any = attrs.field(init=False, default=None)
    _start: float = attrs.field(init=False, default=0.0)
    _end: float = attrs.field(init=False, default=0.0)
    _speech: float = attrs.field(init=False, default=0.0)

    def partial(self) -> list[str]:
        """The words of the current segment so far."""
        return [w.text for w in self._words]

    def commit(self, *, cut: bool = False) -> tuple[list[TranscribedWord], None]:
        """End the segment (keeping a word in progress of at least half a word): its words.

        ``cut`` changes nothing here: lexicon words already follow the word clock."""
        self.flush(self._words)
        words, self._words = self._words, []
        return words, None

    def feed(self, frames: Iterable[Frame], out: list[TranscribedWord] | None = None) -> None:
        """Consume frames; append every word completed by them to ``out`` (the segment)."""
        if out is None:
            out = self._words
        for frame in frames:
            if frame.speech:
                if self._hash is None:
                    self._hash = hashlib.sha256()
                    self._start = frame.start
                    self._speech = 0.0
                self._hash.update(frame.data)
                self._end = frame.end
                self._speech += frame.end - frame.start
                if self._speech >= self.word_secs - 1e-9:
                    self._finish(out)
            elif self._hash is not None:
                self.flush(out)

    def flush(self, out: list[TranscribedWord]) -> None:
        """End the word in progress (speech ended or commit): keep it if at least half a word."""
        if self._hash is not None and self._speech >= self.word_secs / 2 - 1e-9:
            self._finish(out)
        self._hash = None

    def _finish(self, out: list[TranscribedWord]) -> None:
        digest = self._hash.digest()
        self._hash = None
        value = int.from_bytes(digest[:8], "big")
        text = LEXICON[value % len(LEXICON)]
        logprob = -round((value >> 20) % 1000 / 4000.0, 4)
        out.append(TranscribedWord(text, round(self._start, 3), round(self._end, 3), logprob))


def words_payload(words: Sequence[TranscribedWord]) -> list[dict[str, Any]]:
    """``words[]`` in the DOC-REF form: words with logprob and one-char ``characters``, spacing
    items between them without (docs/protocol.md §4.4, Q6)."""
    items: list[dict[str, Any]] = []
    previous: TranscribedWord | None = None
    for word in words:
        if previous is not None:
            items.append(
                {"text": " ", "start": previous.end, "end": word.start, "type": "spacing"}
            )
        items.append(
            {
                "text": word.text,
                "start": word.start,
                "end": word.end,
                "type": "word",
                "logprob": word.logprob,
                "characters": list(word.text),
            }
        )
        previous = word
    return items


_EMAIL_RE: Final = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER_RE: Final = re.compile(r"\+?\d[\d-]{5,}\d")
_NAMES: Final = frozenset({"alice", "bob", "charlie", "juliett", "romeo", "victor", "oscar"})
_PLACES: Final = frozenset({"paris", "london", "quebec", "lima", "india", "hotel"})


def find_entities(text: str) -> list[dict[str, Any]]:
    """A tiny deterministic entity detector for ``committed_transcript_entities``.

    Emails, long digit runs (phone numbers), a few first names and place names; offsets are
    character offsets into ``text``.
    """
    found: list[tuple[int, int, str]] = []
    for match in _EMAIL_RE.finditer(text):
        found.append((match.start(), match.end(), "email_address"))
    for match in _NUMBER_RE.finditer(text):
        found.append((match.start(), match.end(), "phone_number"))
    for match in re.finditer(r"[A-Za-z]+", text):
        word = match.group().lower()
        if any(s <= match.start() < e for s, e, _ in found):
            continue
        if word in _NAMES:
            found.append((match.start(), match.end(), "person_name"))
        elif word in _PLACES:
            found.append((match.start(), match.end(), "location"))
    found.sort()
    return [
        {"text": text[s:e], "entity_type": kind, "start_char": s, "end_char": e}
        for s, e, kind in found
    ]


def redact(text: str, entities: Sequence[dict[str, Any]], mode: str) -> str:
    """Apply ``entity_redaction_mode`` to ``text`` (``{REDACTED}``, ``{TYPE}``, ``{TYPE_N}``)."""
    counters: dict[str, int] = {}
    pieces: list[str] = []
    cursor = 0
    for entity in entities:
        kind = str(entity["entity_type"]).upper()
        counters[kind] = counters.get(kind, 0) + 1
        if mode == "redacted":
            token = "{REDACTED}"
        elif mode == "entity_type":
            token = "{" + kind + "}"
        else:
            token = "{" + f"{kind}_{counters[kind]}" + "}"
        pieces.append(text[cursor : entity["start_char"]])
        pieces.append(token)
        cursor = entity["end_char"]
    pieces.append(text[cursor:])
    return "".join(pieces)
