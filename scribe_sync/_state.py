"""The rules of a session, sans I/O: no sockets, no threads, no clocks (times are passed in).

:class:`SessionState` decides what a ``send_audio`` becomes on the wire, keeps the commit
accounting that ``finish`` waits on, applies every incoming event, says what each ending
means, and keeps the audio a reconnect must replay. :mod:`scribe_sync.session` only drives it
from threads, under one lock, and moves the frames it returns.

What each ending means is :mod:`scribe_sync._endings`'s table.
"""

from __future__ import annotations

import collections
import functools
import random
from typing import Final

from ._answers import AnswerFilter
from ._endings import ABNORMAL_CLOSURE, LATE_FINALIZATION_ERRORS, ending_error, final_error
from ._outage import Outage
from ._replay import CONTEXT_CHARS, Chunk, context, release, replay
from .errors import (
    AudioBufferFullError,
    ConnectionClosedError,
    LocalProtocolError,
    ReconnectFailedError,
    ScribeError,
)
from .messages import (
    AudioFormat,
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    ErrorEvent,
    ServerEvent,
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

#: The service refuses a commit with less than 0.3 s of uncommitted audio (docs/protocol.md §6);
#: integrators pad to 0.35 s to stay clear of rounding on the server.
MIN_COMMIT_SECONDS: Final = 0.3
COMMIT_PAD_SECONDS: Final = 0.35
#: Docs recommend 0.1-1 s per chunk; larger sends are split so no frame risks
#: chunk_size_exceeded, whose limit is unpublished (docs/protocol.md Q16).
MAX_CHUNK_SECONDS: Final = 1.0
#: Keepalive audio: 20 ms of silence, as integrators who captured the live service do
#: (docs/protocol.md §6 "Idle"). Pings do not count as activity there.
KEEPALIVE_SECONDS: Final = 0.02
#: After an unsolicited commit (VAD or auto-commit), audio this recent is kept for replay: the
#: service commits once silence follows speech, so the last second before the commit arrives is
#: after the committed speech (docs/protocol.md §6 measures 0.7-0.9 s from speech end to commit).
UNSOLICITED_COMMIT_MARGIN_SECONDS: Final = 1.0


@functools.cache
def _silence(ulaw: bool, size: int) -> bytes:
    """One second of silence, shared by every session of that format (32 KB at 16 kHz)."""
    return (b"\xff" if ulaw else b"\x00") * size  # mu-law 0xFF encodes 0


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
        # Shifts, rebases and repeats (scribe_sync._answers).
        self._answers = AnswerFilter(twin_expected=twin_expected)
        self.answers = 0  # committed transcripts counted, across connections
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
        self.outage = Outage(now)  # failed reconnect attempts since a connection last worked
        self._rng = random.Random(None if policy is None else policy.seed)


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
        # A carried half sample stays for the next call: the commit covers whole samples, and
        # the audio after it must stay aligned on them.
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


    def receive(self, event: ServerEvent, now: float) -> tuple[ServerEvent, ...]:
        """Apply one incoming event; returns what to deliver, in order, with word times on the
        session's clock and segment indices on its count: usually the event alone; nothing for
        a held plain answer or a repeated answer; a held answer with its twin."""
        self.events_received += 1
        if self.outage.attempts:  # during an outage only: one attribute read per event
            self.outage.received(event, now, waiting=self.pending_plain > 0)
        delivered: tuple[ServerEvent, ...] = ()
        for item in self._answers.filter(event):
            delivered += self._apply(item, now)
        return delivered

    @property
    def repeats_dropped(self) -> int:
        return self._answers.repeats_dropped

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
                # speech ended, docs/protocol.md §6), so audio sent within the margin may still be
                # uncommitted. Counting it keeps finish() from skipping a tail that exists; an
                # overestimate costs at most a commit_throttled answer, which finish accepts.
                margin = int(UNSOLICITED_COMMIT_MARGIN_SECONDS * self._rate)
                self.uncommitted_bytes = min(self.uncommitted_bytes, margin)
        elif isinstance(event, CommittedTranscriptWithTimestamps) and self.pending_twin:
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
        """Forget audio a committed transcript now covers (:func:`scribe_sync._replay.release`)."""
        margin = int(UNSOLICITED_COMMIT_MARGIN_SECONDS * self._rate)
        cut = release(self.retained, through_commit=through_commit, margin=margin,
                      sample=self._bps)
        self.retained_bytes -= cut
        self.covered_bytes += cut


    def ending_error(self, code: int | None, reason: str, failure: ScribeError | None, *,
                     closing: bool, local: ScribeError | None = None) -> ScribeError | None:
        """What an ending means for the caller (:func:`scribe_sync._endings.ending_error`)."""
        return ending_error(code, reason, failure, closing=closing, local=local,
                            last_error=self.last_error,
                            finished=self.finishing and self.answered)

    def final_error(self, error: ScribeError | None, code: int | None, reason: str, *,
                    closing: bool) -> ScribeError | None:
        """The error a session ends with once no reconnect follows
        (:func:`scribe_sync._endings.final_error`)."""
        return final_error(error, code, reason, closing=closing, unanswered=self.pending_plain,
                           unanswered_seconds=self.unanswered_seconds)

    def wants_reconnect(self, error: ScribeError | None, code: int | None, *,
                        closing: bool) -> bool:
        """Whether this ending is replaced by a new connection rather than ending the session."""
        if self.policy is None or closing or (self.finishing and self.answered):
            return False
        return ReconnectPolicy.retryable(error, code)

    def disconnected(self, now: float) -> None:
        """The connection is gone; audio sent from now on is retained for the replay only."""
        self.connected = False
        self.outage.disconnected(now, waiting=self.pending_plain > 0)

    def next_attempt(self, last: BaseException | None, now: float) -> float | None:
        """Start the next reconnect attempt: the delay before it, or ``None`` to give up."""
        assert self.policy is not None
        return self.outage.next_attempt(self.policy, last, now, self._rng)

    def gave_up(self, last: BaseException | None, code: int | None) -> ReconnectFailedError:
        """The error that ends a session whose reconnects all failed; chained to ``last``."""
        attempts = max(0, self.outage.attempts - 1)
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
        self.offset_bytes = self.covered_bytes
        self.last_error = None
        self._answers.resume(self.covered_bytes / self._rate, self.answers)
        chunks, replayed, uncommitted, sizes = replay(self.retained, self.context(),
                                                      self._max_chunk)
        self.pending_plain = len(sizes)
        self._pending_bytes = collections.deque(sizes)
        self.pending_twin = len(sizes) * self.twin_expected
        self.waiting_since = now if sizes else None
        self.uncommitted_bytes = uncommitted
        self.last_send = now
        self.connected = True
        self.outage.connected(now)
        self.reconnects += 1
        return chunks, replayed

    def context(self) -> str | None:
        """previous_text for the first replayed chunk (:func:`scribe_sync._replay.context`)."""
        first = not self.covered_bytes
        return context(self.segments, self.first_previous_text, first_segment=first)

    def seconds(self, size: int) -> float:
        return size / self._rate


def transport_failure(message: str) -> ConnectionClosedError:
    """A connection that failed without a close frame (code 1006)."""
    return ConnectionClosedError(message, code=ABNORMAL_CLOSURE)
