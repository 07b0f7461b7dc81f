"""Scripted transcripts: what the speaker said, utterance by utterance.

A script is a sequence of :class:`Utterance`. It comes from ``--transcript`` (a plain text is
one utterance; ``@FILE`` gives one utterance per non-blank line, or a JSON list when the file
holds one), ``MockServer(transcript=...)`` (a string or a list of strings, dicts or
utterances) or a scenario's ``"transcript"``. A line or string may start with a speaker and/or
a language: ``S1|fr: bonjour tout le monde``, ``S2: hello``, ``|de: hallo``; the JSON form uses
fields: ``{"text": "...", "speaker": "S1", "language": "fr"}``.

How a script is spoken (the rules of :class:`ScriptedRecognizer`):

- the first speech after a commit starts the next utterance;
- partials reveal it word by word, one word per ``word_ms`` of detected speech;
- a commit after its speech ended (the VAD's commit, or a manual one after trailing silence)
  delivers the *whole* utterance (the rest of it, after a cut), words not yet revealed
  included, with word times spread over the committed speech (each word's share
  proportional to its length);
- a commit *in the middle of* its speech (a manual commit while the VAD still hears speech, a
  commit on a timer, the server's auto-commit) delivers only the words the word clock has
  reached, and the rest of the utterance carries over: the next speech continues it, as the
  live service splits a sentence at a commit, instead of starting the next utterance;
- a commit over silence returns ``""`` and consumes nothing;
- every connection starts the script from the beginning, unless its first chunk carries
  ``previous_text`` (a reconnecting client's context): then it resumes after the utterances
  that text ends with (:meth:`ScriptedRecognizer.resume`). This is deliberate: the live
  service keeps nothing between connections, so the mock does not either (a script position
  shared per key would make concurrent sessions, or two tests using one key, depend on each
  other's order); ``previous_text`` is the client's only way to say where it was;
- once every utterance was delivered, speech produces no words: commits return ``""``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from .transcriber import TranscribedWord
from .vad import Frame

__all__ = ["ScriptedRecognizer", "Utterance", "load_script", "parse_script", "speaker_id"]

_PREFIX_RE: Final = re.compile(
    r"(?P<speaker>S\d+|speaker_\d+)?(?:\|(?P<language>[A-Za-z]{2,3}))?:\s+(?P<text>.*)\Z", re.S
)


def speaker_id(label: str) -> str:
    """The wire ``speaker_id`` of a script's speaker label: ``S1`` -> ``speaker_1``.

    The ``speaker_<n>`` form is the one of ElevenLabs' batch API; realtime ids are unverified.
    """
    return f"speaker_{label[1:]}" if re.fullmatch(r"S\d+", label) else label


@attrs.frozen
class Utterance:
    """One scripted utterance: its text, and optionally who said it and in which language."""

    text: str
    speaker: str | None = None
    language: str | None = None

    @property
    def words(self) -> list[str]:
        """The words, split on whitespace."""
        return self.text.split()

    @classmethod
    def parse(cls, line: str) -> Utterance:
        """An utterance from ``[SPEAKER][|LANG]: text`` or a plain text."""
        stripped = line.strip()
        match = _PREFIX_RE.match(stripped)
        if match and (match["speaker"] or match["language"]):
            return cls(match["text"].strip(), match["speaker"], match["language"])
        return cls(stripped)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"text": self.text, "speaker": self.speaker, "language": self.language}


def _utterance(item: Any) -> Utterance:
    if isinstance(item, Utterance):
        return item
    if isinstance(item, str):
        return Utterance.parse(item)
    if isinstance(item, Mapping):
        unknown = set(item) - {"text", "speaker", "language"}
        if unknown or not isinstance(item.get("text"), str):
            raise ValueError(
                "a scripted utterance needs a string 'text' and may have 'speaker' and "
                f"'language': {dict(item)!r}"
            )
        return Utterance(item["text"], item.get("speaker"), item.get("language"))
    raise TypeError(f"a scripted utterance is a string, a dict or an Utterance: {item!r}")


def parse_script(value: Any) -> tuple[Utterance, ...] | None:
    """A script from a string (one utterance), a sequence of items, or ``None``."""
    if value is None:
        return None
    if isinstance(value, (str, Utterance, Mapping)):
        return (_utterance(value),)
    return tuple(_utterance(item) for item in value)


def load_script(text: str) -> tuple[Utterance, ...]:
    """A script file's contents: a JSON list, or one utterance per non-blank line."""
    if text.lstrip().startswith("["):
        loaded = parse_script(json.loads(text))
        return loaded or ()
    return tuple(Utterance.parse(line) for line in text.splitlines() if line.strip())


def _spread(words: Sequence[str], start: float, end: float) -> list[tuple[float, float]]:
    """Word times over ``[start, end]``, each word's share proportional to its length."""
    total = sum(len(w) for w in words) or 1
    times = []
    cursor = start
    for word in words:
        stop = cursor + (end - start) * len(word) / total
        times.append((round(cursor, 3), round(stop, 3)))
        cursor = stop
    return times


@attrs.define
class ScriptedRecognizer:
    """Speaks a script; one instance per connection (see the module docstring)."""

    script: Sequence[Utterance]
    word_secs: float = 0.4

    _next: int = attrs.field(init=False, default=0)  # index of the next utterance to start
    _current: Utterance | None = attrs.field(init=False, default=None)
    _offset: int = attrs.field(init=False, default=0)  # words of _current already committed
    _carried: bool = attrs.field(init=False, default=False)  # _current continues after a cut
    _speech_start: float | None = attrs.field(init=False, default=None)
    _speech_end: float = attrs.field(init=False, default=0.0)
    _speech_secs: float = attrs.field(init=False, default=0.0)

    @property
    def utterance(self) -> Utterance | None:
        """The utterance being spoken in the current segment, if any."""
        return self._current

    def feed(self, frames: Iterable[Frame]) -> None:
        """Consume classified frames."""
        for frame in frames:
            if not frame.speech:
                continue
            if self._speech_start is None:
                self._speech_start = frame.start
                if self._carried:
                    self._carried = False  # the cut utterance goes on
                elif self._next < len(self.script):
                    self._current = self.script[self._next]
                    self._next += 1
            self._speech_end = frame.end
            self._speech_secs += frame.end - frame.start

    def resume(self, previous_text: str) -> None:
        """Continue the script after the utterances that ``previous_text`` ends with.

        A reconnecting client sends the end of the text committed so far as ``previous_text``
        on the first chunk of its new connection: a replacement connection resumes where the
        lost one left off instead of starting the script again. The first (smallest) number of
        utterances whose joined text ends with it, at a word boundary, wins; no match changes
        nothing. Only before this connection's first utterance.
        """
        context = " ".join(previous_text.split())
        if not context or self._next or self._current is not None or self._carried:
            return
        joined = ""
        for count, utterance in enumerate(self.script, 1):
            joined = f"{joined} {' '.join(utterance.words)}".strip()
            if joined == context or joined.endswith(" " + context):
                self._next = count
                return

    def partial(self) -> list[str]:
        """The words revealed so far in the current segment."""
        if self._current is None or self._speech_start is None:
            return []
        revealed = int(self._speech_secs / self.word_secs + 1e-9)
        return self._current.words[self._offset : self._offset + revealed]

    def commit(self, *, cut: bool = False) -> tuple[list[TranscribedWord], Utterance | None]:
        """End the segment: the rest of the current utterance with its word times (or nothing).

        With ``cut`` (the speech goes on through the commit), only the words revealed so far;
        the others wait for the next speech.
        """
        utterance, start, offset = self._current, self._speech_start, self._offset
        revealed = self.partial()
        self._speech_start, self._speech_secs = None, 0.0
        if utterance is None or start is None:
            return [], None
        remaining = utterance.words[offset:]
        texts = revealed if cut else remaining
        if cut and len(revealed) < len(remaining):
            self._offset, self._carried = offset + len(revealed), True
        else:
            self._current, self._offset, self._carried = None, 0, False
        words = []
        for i, (text, (begin, end)) in enumerate(
            zip(texts, _spread(texts, start, self._speech_end), strict=True), offset
        ):
            digest = hashlib.sha256(f"{self._next}:{i}:{text}".encode()).digest()
            value = int.from_bytes(digest[:8], "big")
            logprob = -round((value >> 20) % 1000 / 4000.0, 4)
            words.append(TranscribedWord(text, begin, end, logprob))
        return words, utterance
