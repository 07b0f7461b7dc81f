"""The rules of a session, sans I/O: no sockets, no threads, no clocks (times are passed in).

:class:`SessionState` decides what a ``send_audio`` becomes on the wire, keeps the commit
accounting that ``finish`` waits on, applies every incoming event, says what each ending
means, and keeps the audio a reconnect must replay. :mod:`scribe_sync.session` only drives it
from threads, under one lock, and moves the frames it returns.

What an ending means (the first row that applies decides; :meth:`SessionState.ending_error`):

=====================================================  ==========================================
how the connection ended                                the session ends with
=====================================================  ==========================================
a local failure closed it (a source that failed)       that failure
``close()`` began before the ending                    nothing: a normal ending
we closed it for a WebSocket protocol violation or     that ``ConnectionClosedError`` (code 1002
an oversized message                                   or 1009): our decision, not the server's
the last message was an ``ErrorEvent`` of a type in    nothing: ``finish()`` has every answer and
``LATE_FINALIZATION_ERRORS``, after ``finish()`` had   the server answered a trailing commit or
every answer                                           an idle socket (PROTOCOL.md §6)
the last message was an ``ErrorEvent``                 its ``ServerError`` subclass, whatever
                                                       followed: a close frame (its code and
                                                       reason are kept) or a transport failure
                                                       (kept as ``__cause__``)
the transport failed (no close frame, a send that      that ``ConnectionClosedError`` (code 1006)
timed out, a stalled commit)
a close frame with code 1000 or 1005                   nothing: a normal ending
any other close frame                                  ``ConnectionClosedError(code, reason)``
=====================================================  ==========================================

Whether an ending is retried is :meth:`ReconnectPolicy.retryable`'s table: a server error
decides by its type, so ``quota_exceeded`` followed by a reset is never retried.
"""

from __future__ import annotations

import collections
import functools
import random
from typing import Final

import attrs

from .errors import (
    AudioBufferFullError,
    ConnectionClosedError,
    IncompleteTranscriptError,
    LocalProtocolError,
    ReconnectFailedError,
    ScribeError,
    ServerError,
)
from .messages import (
    AudioFormat,
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    DiarizedTranscript,
    ErrorEvent,
    ServerEvent,
    Word,
)
from .reconnect import ReconnectPolicy

__all__ = [
    "COMMIT_PAD_SECONDS",
    "CONTEXT_CHARS",
    "KEEPALIVE_SECONDS",
    "LATE_FINALIZATION_ERRORS",
    "MAX_CHUNK_SECONDS",
    "MIN_COMMIT_SECONDS",
    "UNSOLICITED_COMMIT_MARGIN_SECONDS",
    "Chunk",
    "SessionState",
]

#: The service refuses a commit with less than 0.3 s of uncommitted audio (PROTOCOL.md §6);
#: integrators pad to 0.35 s to stay clear of rounding on the server.
MIN_COMMIT_SECONDS: Final = 0.3
COMMIT_PAD_SECONDS: Final = 0.35
#: Docs recommend 0.1-1 s per chunk; larger sends are split so no frame risks
#: chunk_size_exceeded, whose limit is unpublished (PROTOCOL.md Q16).
MAX_CHUNK_SECONDS: Final = 1.0
#: Keepalive audio: 20 ms of silence, as integrators who captured the live service do
#: (PROTOCOL.md §6 "Idle"). Pings do not count as activity there.
KEEPALIVE_SECONDS: Final = 0.02
#: After the final commit is answered, these errors mean "nothing more to do", not failure
#: (the server may answer a trailing commit or idle socket with them; PROTOCOL.md §6).
LATE_FINALIZATION_ERRORS: Final = frozenset(
    {"commit_throttled", "input_error", "insufficient_audio_activity"}
)
_NORMAL_CLOSE_CODES: Final = frozenset({1000, 1005})
#: After an unsolicited commit (VAD or auto-commit), audio this recent is kept for replay: the
#: service commits once silence follows speech, so the last second before the commit arrives is
#: after the committed speech (PROTOCOL.md §6 measures 0.7-0.9 s from speech end to commit).
UNSOLICITED_COMMIT_MARGIN_SECONDS: Final = 1.0
#: previous_text sent with replayed audio: the end of the committed text (docs: best under 50).
CONTEXT_CHARS: Final = 50
ABNORMAL_CLOSURE: Final = 1006


@functools.cache
def _silence(ulaw: bool, size: int) -> bytes:
    """One second of silence, shared by every session of that format (32 KB at 16 kHz)."""
    return (b"\xff" if ulaw else b"\x00") * size  # mu-law 0xFF encodes 0


@attrs.frozen
class Chunk:
    """One ``input_audio_chunk`` to send, in order. ``audio`` is a view: it is not copied."""

    audio: bytes | memoryview
    commit: bool = False
    previous_text: str | None = None


class SessionState:
    """Everything a session knows and decides, for one session across its connections.

    Args:
        audio_format: the session's format.
        twin_expected: whether every commit is also answered by a timestamped twin
            (``committed_transcript_with_timestamps``).
        policy: the reconnect policy, or ``None``: then no audio is retained.
    """

    def __init__(self, audio_format: AudioFormat, *, twin_expected: bool,
                 policy: ReconnectPolicy | None = None, now: float = 0.0) -> None:
        self.format = audio_format
        self.twin_expected = twin_expected
        self.policy = policy
        rate = audio_format.bytes_per_second
        self._bps = audio_format.bytes_per_sample
        self._rate = rate
        self._silence = _silence(audio_format.is_ulaw, rate)
        self._max_chunk = int(MAX_CHUNK_SECONDS * rate) // self._bps * self._bps

        # What was sent (counters for stats).
        self.carry = b""  # a trailing partial sample, sent with the next call
        self.chunks_sent = 0
        self.audio_bytes = 0  # the caller's audio only
        self.padding_bytes = 0
        self.keepalive_bytes = 0
        self.uncommitted_bytes = 0
        self.commits_sent = 0
        self.keepalives_sent = 0
        self.last_send = now
        self.first_previous_text: str | None = None

        # Commit accounting.
        self.pending_plain = 0  # commits whose committed_transcript has not arrived
        self.pending_twin = 0  # ... whose timestamped twin has not arrived
        self._pending_bytes: collections.deque[int] = collections.deque()  # per unanswered commit
        self.waiting_since: float | None = None  # when the oldest unanswered commit was sent
        self.finishing = False
        self.segments: list[str] = []
        # A committed transcript sent twice (a server bug the mock models as duplicate_commit):
        # with timestamps on, a plain answer whose text repeats the previous one is held until
        # its twin shows whether it is a repeat, whose first word starts before the previous
        # answer's last word ends (a new segment starts at or after it on the session clock).
        self._held: CommittedTranscript | None = None
        self._last_text: str | None = None  # the previous plain answer's text
        self._last_end: float | None = None  # its twin's last word end, on the session clock
        self._twin_due = False  # a plain answer came and its twin has not yet
        self.repeats_dropped = 0
        # segment_index of diarized transcripts counts one connection's commits: the answers
        # of earlier connections come first on the session's count.
        self.answers = 0
        self._segment_base = 0
        self.last_error: ErrorEvent | None = None
        self.events_received = 0
        self.malformed_frames = 0

        # Reconnect: the audio no committed transcript has covered yet, in order, with None
        # marking where each unanswered commit was sent. covered_bytes is the session-clock
        # position of its first byte; offset_bytes where the current connection's clock starts.
        self.connected = True
        self.retained: collections.deque[bytes | memoryview | None] = collections.deque()
        self.retained_bytes = 0
        self._retain = policy is not None
        self._retain_limit = 0 if policy is None else int(policy.buffer_seconds * rate)
        self.covered_bytes = 0
        self.offset_bytes = 0
        self.reconnects = 0
        # Failed attempts since the last healthy connection, and when that streak began. A new
        # connection counts as healthy once it delivers a message after session_started: a
        # server that accepts and then drops at once must not reset the count (PEERS.md (d)).
        self.streak = 0
        self.streak_since = 0.0
        self._rng = random.Random(None if policy is None else policy.seed)

    # ------------------------------------------------------------------------------------------
    # Sending

    def audio(self, data: bytes | bytearray | memoryview, previous_text: str | None,
              now: float) -> list[Chunk]:
        """The chunks ``send_audio(data)`` becomes; empty while disconnected (retained only).

        Raises:
            LocalProtocolError: ``previous_text`` after the first chunk.
            AudioBufferFullError: the reconnect buffer cannot take it; nothing was accepted.
        """
        if previous_text is not None and self.chunks_sent:
            raise LocalProtocolError(
                "previous_text is only allowed with the first audio chunk of a session "
                "(the service discards a later chunk that carries it)"
            )
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        if self.carry:
            view = self.carry + bytes(view)
        usable = len(view) - len(view) % self._bps
        if self._retain and self.retained_bytes + usable > self._retain_limit:
            held = self.retained_bytes / self._rate
            raise AudioBufferFullError(
                f"reconnect buffer full: {held:.1f} s of audio not yet covered by a committed "
                "transcript (commit more often, or raise ReconnectPolicy.buffer_seconds); "
                "nothing was sent"
            )
        if isinstance(view, memoryview) or usable < len(view):
            # bytes() copies once: the caller may reuse its buffer after we return.
            whole = bytes(view)
            self.carry, view = whole[usable:], whole[:usable]
        else:
            self.carry = b""
        if previous_text is not None:
            self.first_previous_text = previous_text
        if usable == 0 and previous_text is None:
            return []
        chunks = []
        source = memoryview(view)
        for start in range(0, max(usable, 1), self._max_chunk):
            piece = source[start : min(start + self._max_chunk, usable)]
            chunks.append(Chunk(piece, previous_text=previous_text))
            previous_text = None
        self.audio_bytes += usable
        return self._sent(chunks, now)

    def commit(self, now: float) -> list[Chunk]:
        """The chunks of a commit: padding to 0.35 s if under 0.3 s, then the commit itself.

        Empty when nothing is uncommitted (a commit then would only provoke commit_throttled).
        """
        self.carry = b""  # half a sample cannot be sent; it is below any audible duration
        if self.uncommitted_bytes == 0:
            return []
        chunks = []
        if self.uncommitted_bytes < MIN_COMMIT_SECONDS * self._rate:
            pad = int(COMMIT_PAD_SECONDS * self._rate) - self.uncommitted_bytes
            pad -= pad % self._bps
            chunks.append(Chunk(self._silence[:pad]))
            self.padding_bytes += pad
        chunks.append(Chunk(b"", commit=True))
        if self.pending_plain == 0:
            self.waiting_since = now
        padded = max(self.uncommitted_bytes, int(COMMIT_PAD_SECONDS * self._rate))
        self._pending_bytes.append(padded)
        self.pending_plain += 1
        self.pending_twin += self.twin_expected
        self.commits_sent += 1
        sent = self._sent(chunks, now)
        self.uncommitted_bytes = 0
        return sent

    def keepalive_due(self, now: float, interval: float | None) -> bool:
        return interval is not None and self.connected and now - self.last_send >= interval

    def keepalive(self, now: float) -> list[Chunk]:
        """A little silence, because the service closes sockets idle for 10-15 s."""
        n = int(KEEPALIVE_SECONDS * self._rate)
        n -= n % self._bps
        self.keepalives_sent += 1
        self.keepalive_bytes += n
        return self._sent([Chunk(self._silence[:n])], now)

    def _sent(self, chunks: list[Chunk], now: float) -> list[Chunk]:
        """Account for chunks about to be sent; retain them for replay. Returns what goes on
        the current connection (nothing while disconnected: the replay carries it)."""
        for chunk in chunks:
            size = len(chunk.audio)
            self.chunks_sent += 1
            self.uncommitted_bytes += size
            if self._retain:
                if size:
                    self.retained.append(chunk.audio)
                    self.retained_bytes += size
                if chunk.commit:
                    self.retained.append(None)
        self.last_send = now
        return chunks if self.connected else []

    # ------------------------------------------------------------------------------------------
    # Receiving

    def receive(self, event: ServerEvent, now: float) -> tuple[ServerEvent, ...]:
        """Apply one incoming event; returns what to deliver, in order, with word times on the
        session's clock and segment indices on its count: usually the event alone; nothing for
        a held plain answer or a repeated answer; a held answer with its twin."""
        self.events_received += 1
        self.streak = 0  # this connection works
        if self.offset_bytes:
            event = self._shift_words(event)
        if isinstance(event, DiarizedTranscript) and self._segment_base:
            event = attrs.evolve(event, segment_index=event.segment_index + self._segment_base)
        held = self._held
        if held is not None:
            self._held = None
            if isinstance(event, CommittedTranscriptWithTimestamps):
                first = next((w.start for w in event.words or () if w.start is not None), None)
                if (first is not None and self._last_end is not None
                        and first < self._last_end):
                    self.repeats_dropped += 1  # the same answer again: neither is delivered
                    return ()
            return self._apply(held, now) + self._apply(event, now)
        if (isinstance(event, CommittedTranscript) and self.twin_expected and event.text
                and event.text == self._last_text and not self._twin_due):
            self._held = event
            return ()
        return self._apply(event, now)

    def _apply(self, event: ServerEvent, now: float) -> tuple[ServerEvent, ...]:
        """The accounting of :meth:`receive` for one event."""
        if isinstance(event, ErrorEvent):
            self.last_error = event
            if event.error_type == "commit_throttled":
                # A throttled commit is answered: no transcript will follow for it. Its audio
                # stays uncommitted on the server, so only the mark is forgotten.
                self.pending_plain = max(0, self.pending_plain - 1)
                self.pending_twin = max(0, self.pending_twin - self.twin_expected)
                if self._pending_bytes:
                    self._pending_bytes.popleft()
                self.waiting_since = now if self.pending_plain else None
                if None in self.retained:
                    self.retained.remove(None)
            return (event,)
        self.last_error = None
        if isinstance(event, CommittedTranscript):
            self.answers += 1
            self._last_text = event.text
            self._twin_due = self.twin_expected
            if event.text:
                self.segments.append(event.text.strip())
            if self.pending_plain:
                self.pending_plain -= 1
                if self._pending_bytes:
                    self._pending_bytes.popleft()
                self.waiting_since = now if self.pending_plain else None
                self._release(through_commit=True)
            else:
                self._release(through_commit=False)
                # An unsolicited commit (VAD or auto-commit): the server's buffer restarted at
                # some point before now, but the commit arrives late (0.7-0.9 s after the
                # speech ended, PROTOCOL.md §6), so audio sent within the margin may still be
                # uncommitted. Counting it keeps finish() from skipping a tail that exists; an
                # overestimate costs at most a commit_throttled answer, which finish accepts.
                margin = int(UNSOLICITED_COMMIT_MARGIN_SECONDS * self._rate)
                self.uncommitted_bytes = min(self.uncommitted_bytes, margin)
        elif isinstance(event, CommittedTranscriptWithTimestamps):
            ends = [w.end for w in event.words or () if w.end is not None]
            if ends:
                self._last_end = max(ends)
            self._twin_due = False
            if self.pending_twin:
                self.pending_twin -= 1
        return (event,)

    @property
    def answered(self) -> bool:
        """Every commit sent has all its answers."""
        return self.pending_plain <= 0 and self.pending_twin <= 0

    @property
    def unanswered_seconds(self) -> float:
        """Seconds of committed audio whose committed transcript has not arrived."""
        return sum(self._pending_bytes) / self._rate

    @property
    def transcript(self) -> str:
        return " ".join(s for s in self.segments if s)

    def stalled(self, now: float) -> bool:
        """With reconnect on, a commit left unanswered too long means a stalled connection."""
        since = self.waiting_since
        return (self.policy is not None and since is not None and self.connected
                and now - since > self.policy.answer_timeout)

    def restart_answer_clock(self, now: float) -> None:
        """Reading was paused by a slow consumer: the answer may be waiting unread."""
        if self.waiting_since is not None:
            self.waiting_since = now

    def _release(self, *, through_commit: bool) -> None:
        """Forget audio a committed transcript now covers.

        The answer to one of our commits covers everything up to its mark. An unsolicited
        commit covers an unknown prefix: everything older than the last
        ``UNSOLICITED_COMMIT_MARGIN_SECONDS`` before the first unanswered mark is released.
        """
        retained = self.retained
        if through_commit:
            while retained:
                item = retained.popleft()
                if item is None:
                    return
                self.retained_bytes -= len(item)
                self.covered_bytes += len(item)
            return
        prefix = 0
        for item in retained:
            if item is None:
                break
            prefix += len(item)
        release = prefix - int(UNSOLICITED_COMMIT_MARGIN_SECONDS * self._rate)
        while release > 0 and retained and retained[0] is not None:
            head = retained[0]
            assert head is not None
            if len(head) <= release:
                retained.popleft()
                cut = len(head)
            else:
                cut = release - release % self._bps
                retained[0] = head[cut:]
            self.retained_bytes -= cut
            self.covered_bytes += cut
            release -= cut
            if cut == 0:
                break

    def _shift_words(self, event: ServerEvent) -> ServerEvent:
        """Put a reconnected connection's word times on the session's one clock."""
        offset = self.offset_bytes / self._rate
        if isinstance(event, (CommittedTranscriptWithTimestamps, DiarizedTranscript)) and (
            event.words
        ):
            return attrs.evolve(event, words=tuple(_shift(w, offset) for w in event.words))
        return event

    # ------------------------------------------------------------------------------------------
    # Endings

    def ending_error(self, code: int | None, reason: str, failure: ScribeError | None, *,
                     closing: bool, local: ScribeError | None = None) -> ScribeError | None:
        """What an ending means for the caller (the table in the module docstring)."""
        if local is not None:
            return local
        if closing:
            return None
        if isinstance(failure, ConnectionClosedError) and failure.code not in (ABNORMAL_CLOSURE,
                                                                            None):
            return failure
        if self.finishing and self.answered:
            # finish() has every answer: the audio is all accounted for, so whatever ends
            # the connection now (a late error, a close, a reset) ends the session normally.
            return None
        last = self.last_error
        if last is not None:
            error = ServerError.from_event(last, close_code=None if failure else code,
                                           close_reason=None if failure else reason)
            error.__cause__ = failure
            return error
        if failure is not None:
            return failure
        if code in _NORMAL_CLOSE_CODES:
            return None
        return ConnectionClosedError(
            f"the server closed the connection with code {code}"
            + (f" ({reason})" if reason else ""),
            code=code,
            reason=reason,
        )

    def final_error(self, error: ScribeError | None, code: int | None, reason: str, *,
                    closing: bool) -> ScribeError | None:
        """The error a session ends with, once no reconnect follows: an ending that looks
        normal while commits are unanswered loses the transcript's tail, which is an error
        (``close()`` discards what is unanswered by request, so not then)."""
        if error is not None or closing or self.pending_plain <= 0:
            return error
        seconds = self.unanswered_seconds
        return IncompleteTranscriptError(
            f"the server ended the session (code {code}) before answering "
            f"{self.pending_plain} commit(s), {seconds:.1f} s of audio; the transcript tail is "
            "missing",
            unanswered_seconds=seconds, code=code, reason=reason or None)

    def wants_reconnect(self, error: ScribeError | None, code: int | None, *,
                        closing: bool) -> bool:
        """Whether this ending is replaced by a new connection rather than ending the session."""
        if self.policy is None or closing or (self.finishing and self.answered):
            return False
        return ReconnectPolicy.retryable(error, code)

    def disconnected(self, now: float) -> None:
        """The connection is gone; audio sent from now on is retained for the replay only."""
        self.connected = False
        if self.streak == 0:
            self.streak_since = now

    def next_attempt(self, last: BaseException | None, now: float) -> float | None:
        """Start the next reconnect attempt: the delay before it, or ``None`` to give up."""
        policy = self.policy
        assert policy is not None
        self.streak += 1
        if self.streak > policy.max_attempts or now - self.streak_since > policy.budget:
            return None
        return policy.delay(self.streak, last, self._rng)

    def gave_up(self, last: BaseException | None, code: int | None) -> ReconnectFailedError:
        """The error that ends a session whose reconnects all failed; chained to ``last``."""
        attempts = max(0, self.streak - 1)
        error = ReconnectFailedError(
            f"reconnect failed after {attempts} attempt(s): {last}",
            attempts=attempts,
            undelivered_audio_seconds=self.retained_bytes / self._rate,
            code=getattr(last, "code", code),
        )
        error.__cause__ = last
        return error

    def resume(self, now: float) -> tuple[list[Chunk], int]:
        """A new connection is in place: the chunks to replay on it, and the bytes replayed."""
        items = list(self.retained)
        marks = items.count(None)
        self.pending_plain = marks
        self._pending_bytes.clear()
        size = 0
        for item in items:
            if item is None:
                self._pending_bytes.append(size)
                size = 0
            else:
                size += len(item)
        self.pending_twin = marks * self.twin_expected
        self.waiting_since = now if marks else None
        self.offset_bytes = self.covered_bytes
        self.last_error = None
        self._segment_base = self.answers
        self._held = None  # its twin will not come on this connection; the replay answers it
        context = self.context()
        chunks: list[Chunk] = []
        replayed = uncommitted = 0
        for item in items:
            if item is None:
                chunks.append(Chunk(b"", commit=True))
                uncommitted = 0
                continue
            view = memoryview(item)
            for start in range(0, len(item), self._max_chunk):
                chunks.append(Chunk(view[start : start + self._max_chunk], previous_text=context))
                context = None
            replayed += len(item)
            uncommitted += len(item)
        if context is not None:  # nothing to replay: give the context with no audio
            chunks.append(Chunk(b"", previous_text=context))
        self.uncommitted_bytes = uncommitted
        self.last_send = now
        self.connected = True
        self.reconnects += 1
        return chunks, replayed

    def context(self) -> str | None:
        """previous_text for the first replayed chunk: the end of the committed text."""
        if not self.segments:
            # Still in the first segment: the caller's own context, if it gave one.
            return self.first_previous_text if self.covered_bytes == 0 else None
        text = " ".join(self.segments)[-CONTEXT_CHARS:]
        if " " in text and len(text) == CONTEXT_CHARS:
            text = text.split(" ", 1)[1]  # start at a word boundary
        return text or None

    def seconds(self, size: int) -> float:
        return size / self._rate


def _shift(word: Word, offset: float) -> Word:
    def moved(t: float | None) -> float | None:
        return None if t is None else round(t + offset, 6)

    characters = word.characters
    if characters is not None:
        characters = tuple(attrs.evolve(c, start=moved(c.start), end=moved(c.end))
                           for c in characters)
    return attrs.evolve(word, start=moved(word.start), end=moved(word.end), characters=characters)


def transport_failure(message: str) -> ConnectionClosedError:
    """A connection that failed without a close frame (code 1006)."""
    return ConnectionClosedError(message, code=ABNORMAL_CLOSURE)
