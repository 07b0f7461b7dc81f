"""What one ``scribe-sync`` run shows and writes as it goes, and at its end.

- the chosen format on the sink: committed lines (text), events (jsonl), or the whole transcript
  at the end (json, srt, vtt);
- on a terminal, the live partial redrawn in place with committed lines scrolling above it;
- the progress status (:mod:`scribe_sync._cli_progress`): on the live line, before the
  partial, when the live view is on the terminal; otherwise on stderr's :class:`Board`.
"""

from __future__ import annotations

import json
import time
from typing import Final

from ._cli_io import Output, clean
from ._cli_progress import MIN_WIDTH, Board, Rate, columns, status
from .messages import (
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    Event,
    PartialTranscript,
)
from .protocol import encode
from .transcript import Transcript

__all__ = ["DOCUMENT_FORMATS", "Display", "render_document"]

#: Formats written once from the whole Transcript (the rest are written as events arrive).
DOCUMENT_FORMATS: Final = frozenset({"json", "srt", "vtt"})
_CLEAR_LINE: Final = "\r\x1b[K"


def render_document(fmt: str, transcript: Transcript, audio: dict[str, float]) -> str:
    """The text, json, srt or vtt document of ``transcript`` (``audio`` is json's
    ``"audio"``); text lines are cleaned of control characters, as the live lines are."""
    if fmt == "text":
        return "".join(clean(s.text).strip() + "\n" for s in transcript.segments)
    if fmt == "json":
        content = transcript.to_dict()
        content["audio"] = audio
        return json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    return transcript.render(fmt)


class Display:
    """Everything a run writes while it runs, and at the end.

    ``live`` is a terminal on which the partial is redrawn in place (carriage return and
    clear-line) and committed lines scroll above it; when it is also the text sink, committed
    lines are written once, by the live view. ``board`` is stderr's progress, used only when
    there is no live view; with one, ``progress`` puts the status at the start of the live line
    so that the two never fight over one row.
    """

    def __init__(self, fmt: str, sink: Output, *, live: Output | None, board: Board | None,
                 progress: bool, label: str, total: float | None, rate: Rate) -> None:
        self.fmt = fmt
        self.sink = sink
        # An -o file is renamed into place at the end anyway: its text is written then, from
        # every segment the session received (including any the loop did not get to show).
        self._at_end = fmt in DOCUMENT_FORMATS or (fmt == "text" and sink.atomic)
        self.live = live
        self.board = board if live is None else None
        self._status_on_live = progress and live is not None
        self.label = label
        self.total = total
        self.rate = rate
        self._status = ""
        self._partial = ""
        self._live_shown = False
        self._last_committed = ""
        self._plain = 0  # committed_transcript messages seen
        self._twins = 0  # ... committed_transcript_with_timestamps
        self._segments = 0
        self._next_live_status = 0.0

    # -- events ------------------------------------------------------------------------------

    def event(self, event: Event) -> None:
        if self.fmt == "jsonl":
            self.sink.write(encode(event) + "\n")
        if isinstance(event, PartialTranscript):
            self._show_partial(event.text)
        elif isinstance(event, (CommittedTranscript, CommittedTranscriptWithTimestamps)):
            # A commit is answered by a plain message and, with timestamps or language
            # detection, a timestamped twin that may come first (docs/protocol.md §4.4): show
            # the segment when the first of the pair arrives.
            if isinstance(event, CommittedTranscriptWithTimestamps):
                self._twins += 1
                first = self._twins > self._plain
            else:
                self._plain += 1
                first = self._plain > self._twins
            if first:
                self._committed(event.text)

    def _show_partial(self, text: str) -> None:
        if self.live is None:
            return
        text = clean(text).strip()
        # The service echoes each committed text as a partial right after the commit
        # (docs/protocol.md §4.2): redrawing it would show the same line twice.
        if not text or text == self._last_committed:
            return
        self._partial = text
        self._redraw_live()

    def _redraw_live(self) -> None:
        assert self.live is not None
        width = columns(self.live.stream) - 1  # never wrap: \r redraws one row
        if width < MIN_WIDTH:  # too narrow to say anything without wrapping
            if self._live_shown:
                self.live.write(_CLEAR_LINE)
                self._live_shown = False
            return
        prefix = f"[{self._status}] " if self._status else ""
        room = width - len(prefix)
        text = self._partial
        if room < 10:
            prefix, room = "", width
        if len(text) > room:
            text = "…" + text[-(room - 1):]
        line = prefix + text
        if line or self._live_shown:
            self.live.write(_CLEAR_LINE + line)
            self._live_shown = bool(line)

    def _committed(self, text: str) -> None:
        text = clean(text).strip()
        self._last_committed = text
        if not text:
            return
        self._segments += 1
        if self.live is not None:
            self._partial = ""
            self.live.write(_CLEAR_LINE + text + "\n")
            self._live_shown = False
            if self._status:
                self._redraw_live()
        if self.fmt == "text" and self.sink is not self.live and not self._at_end:
            self.sink.write(text + "\n")

    # -- progress ----------------------------------------------------------------------------

    def tick(self, position: float, *, force: bool = False) -> None:
        """Redraw the status with ``position`` seconds of audio sent (rate-limited)."""
        if self._status_on_live:
            if not (force or self._due_live()):
                return
            self._status = status(self.label, position, self.total, self.rate)
            self._redraw_live()
        elif self.board is not None and self.board.due(force):
            line = status(self.label, position, self.total, self.rate)
            line += f", {self._segments} segment{'s' * (self._segments != 1)}"
            self.board.show([line])

    def _due_live(self) -> bool:
        now = time.monotonic()
        if now < self._next_live_status:
            return False
        self._next_live_status = now + 0.2
        return True

    # -- the end -----------------------------------------------------------------------------

    def close(self, transcript: Transcript, audio: dict[str, float], *, document: bool) -> None:
        """Clear the redrawn lines and, if ``document``, write the document formats. Once."""
        if self.live is not None and self._live_shown:
            self.live.write(_CLEAR_LINE)
            self._live_shown = False
        if self.board is not None:
            self.board.clear()
        if document and self._at_end:
            self.sink.write(render_document(self.fmt, transcript, audio))
