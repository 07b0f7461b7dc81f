"""The sans-I/O session rules, tested directly: no sockets, no threads, times passed in."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from scribe_sync import (
    AudioBufferFullError,
    AudioFormat,
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    ConnectionClosedError,
    ErrorEvent,
    LocalProtocolError,
    PartialTranscript,
    QuotaExceededError,
    ReconnectFailedError,
    ReconnectPolicy,
    Word,
)
from scribe_sync._outage import HEALTHY_AFTER_SECONDS
from scribe_sync._state import Chunk, SessionState

RATE = 32000  # pcm_16000 bytes per second


def audio_of(chunks: list[Chunk]) -> bytes:
    return b"".join(bytes(c.audio) for c in chunks)


def test_send_splits_to_one_second_and_carries_the_half_sample() -> None:
    """70001 bytes become 1 s + 1 s + the rest, and the odd byte leads the next call."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False)
    chunks = state.audio(b"\x01" * 70001, None, 0.0)
    assert [len(c.audio) for c in chunks] == [32000, 32000, 6000]
    assert bytes(state.audio(b"\x02", None, 0.0)[0].audio) == b"\x01\x02"


def test_commit_pads_short_segments_and_counts_padding_apart() -> None:
    """Under 0.3 s, silence pads the segment to 0.35 s; stats keep the caller's audio apart."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False)
    assert state.commit(0.0) == []
    state.audio(b"\x05\x00" * 1600, None, 0.0)
    pad, commit = state.commit(0.0)
    assert bytes(pad.audio) == b"\x00" * (11200 - 3200) and commit.commit
    assert (state.audio_bytes, state.padding_bytes) == (3200, 8000)


def test_audio_after_a_late_unsolicited_commit_is_still_committed() -> None:
    """A VAD commit arrives after more audio was sent: the tail is still committed (it used to
    count as nothing uncommitted, so finish() sent no commit and lost the tail)."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False)
    state.audio(b"\x01\x00" * 16000 * 3, None, 0.0)  # 3 s, then the VAD commit arrives late
    state.receive(CommittedTranscript("first"), 3.1)
    assert state.commit(3.2)[-1].commit


def test_previous_text_only_with_the_first_chunk() -> None:
    """previous_text rides on the first chunk only; later it is refused before anything."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False)
    assert state.audio(b"\x00\x00", "context", 0.0)[0].previous_text == "context"
    with pytest.raises(LocalProtocolError):
        state.audio(b"\x00\x00", "again", 0.0)


def test_an_error_then_a_reset_ends_with_the_server_error_caused_by_the_reset() -> None:
    """The ending table: an ErrorEvent decides, the transport failure is its cause, and it is
    not retried."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False, policy=ReconnectPolicy())
    state.receive(ErrorEvent("quota_exceeded", "over quota"), 0.0)
    reset = ConnectionClosedError("connection lost: reset", code=1006)
    error = state.ending_error(1006, "", reset, closing=False)
    assert isinstance(error, QuotaExceededError) and error.__cause__ is reset
    assert not state.wants_reconnect(error, 1006, closing=False)


@pytest.mark.parametrize(("code", "failure", "closing", "expected"), [
    (1000, None, False, None),
    (1005, None, False, None),
    (1011, None, False, ConnectionClosedError),
    (1006, ConnectionClosedError("lost", code=1006), False, ConnectionClosedError),
    (1006, ConnectionClosedError("lost", code=1006), True, None),
    (1009, ConnectionClosedError("too big", code=1009), False, ConnectionClosedError),
])
def test_the_ending_table_without_a_server_error(code: int, failure: ConnectionClosedError | None,
                                                 closing: bool, expected: type | None) -> None:
    """Each row of the table in _state's docstring."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False)
    error = state.ending_error(code, "", failure, closing=closing)
    assert (type(error) if error is not None else None) is expected


def test_late_finalization_error_after_every_answer_is_a_normal_ending() -> None:
    """After finish() has its answers, a trailing commit_throttled + close is not a failure."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False)
    state.audio(b"\x00" * 16000, None, 0.0)
    state.commit(0.0)
    state.finishing = True
    state.receive(CommittedTranscript("done"), 0.1)
    state.receive(ErrorEvent("commit_throttled", "ignored"), 0.2)
    assert state.ending_error(1000, "", None, closing=False) is None


def test_giving_up_reports_attempts_and_undelivered_audio() -> None:
    """After max_attempts failed attempts the state gives up with ReconnectFailedError."""
    policy = ReconnectPolicy(max_attempts=2, seed=1)
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False, policy=policy)
    state.audio(b"\x00" * 16000, None, 0.0)
    state.disconnected(1.0)
    assert state.next_attempt(None, 1.0) is not None
    assert state.next_attempt(None, 2.0) is not None
    assert state.next_attempt(None, 3.0) is None
    error = state.gave_up(ConnectionClosedError("refused", code=1006), 1006)
    assert isinstance(error, ReconnectFailedError)
    assert (error.attempts, error.undelivered_audio_seconds) == (2, 0.5)


def test_word_times_after_a_resume_continue_the_session_clock() -> None:
    """Timestamps of a new connection are shifted by the audio the old one covered."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=True, policy=ReconnectPolicy())
    state.audio(b"\x00" * RATE * 2, None, 0.0)
    state.commit(0.0)
    state.receive(CommittedTranscript("a"), 0.0)
    state.disconnected(1.0)
    state.resume(2.0)
    word = Word("b", 0.5, 0.75, "word")
    (event,) = state.receive(CommittedTranscriptWithTimestamps("b", "en", (word,)), 3.0)
    assert isinstance(event, CommittedTranscriptWithTimestamps) and event.words
    assert (event.words[0].start, event.words[0].end) == (2.5, 2.75)


def test_a_full_replay_buffer_refuses_audio_whole() -> None:
    """With the buffer full, audio is refused and nothing of it is accepted."""
    policy = ReconnectPolicy(buffer_seconds=1.0)
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False, policy=policy)
    state.audio(b"\x00" * 28800, None, 0.0)
    with pytest.raises(AudioBufferFullError):
        state.audio(b"\x00" * 6400, None, 0.0)
    assert state.audio_bytes == 28800


class StateMachine(RuleBasedStateMachine):
    """Random sends, commits, answers, throttles, drops and resumes keep the bookkeeping."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = ReconnectPolicy(buffer_seconds=30.0, seed=3)
        self.state = SessionState(AudioFormat.PCM_16000, twin_expected=True, policy=self.policy)
        self.now = 0.0
        self.wire = bytearray()  # every audio byte the session clock counts, in order
        self.commits = 0
        self.answered = 0

    def _sent(self, chunks: list[Chunk], retained_before: int) -> None:
        if not self.state.connected:
            # Accepted while disconnected: retained only, and sent by the replay.
            assert chunks == []
            chunks = [Chunk(i) for i in list(self.state.retained)[retained_before:] if i]
        for chunk in chunks:
            assert len(chunk.audio) <= RATE
            self.wire += chunk.audio

    @rule(size=st.integers(0, 80000), byte=st.integers(1, 255))
    def send(self, size: int, byte: int) -> None:
        self.now += 0.1
        before = len(self.state.carry)
        retained = len(self.state.retained)
        try:
            chunks = self.state.audio(bytes([byte]) * size, None, self.now)
        except AudioBufferFullError:
            return
        usable = (before + size) // 2 * 2
        assert sum(len(c.audio) for c in chunks) == (usable if self.state.connected else 0)
        self._sent(chunks, retained)

    @rule()
    def commit(self) -> None:
        self.now += 0.1
        uncommitted = self.state.uncommitted_bytes
        retained = len(self.state.retained)
        chunks = self.state.commit(self.now)
        if uncommitted == 0:
            assert chunks == []
            return
        self.commits += 1
        if self.state.connected:
            assert chunks[-1].commit
            total = uncommitted + sum(len(c.audio) for c in chunks)
            assert total >= int(0.3 * RATE)
        self._sent(chunks, retained)

    @precondition(lambda self: self.state.pending_plain > 0 and self.state.connected)
    @rule(text=st.sampled_from(["", "hello", "a b c"]))
    def answer(self, text: str) -> None:
        self.now += 0.1
        self.state.receive(CommittedTranscript(text), self.now)
        self.state.receive(CommittedTranscriptWithTimestamps(text, "en", ()), self.now)

    @precondition(lambda self: self.state.pending_plain > 0 and self.state.connected)
    @rule()
    def throttle(self) -> None:
        self.state.receive(ErrorEvent("commit_throttled", "too soon"), self.now)

    @rule()
    def unsolicited_commit(self) -> None:
        if self.state.pending_plain == 0 and self.state.connected:
            self.state.receive(CommittedTranscript("vad"), self.now)

    @precondition(lambda self: self.state.connected)
    @rule()
    def drop(self) -> None:
        self.now += 1.0
        self.state.disconnected(self.now)

    @precondition(lambda self: not self.state.connected)
    @rule()
    def resume(self) -> None:
        self.now += 1.0
        chunks, replayed = self.state.resume(self.now)
        replay = audio_of(chunks)
        # The replay is exactly the audio no committed transcript covered, in order.
        assert replay == bytes(self.wire[self.state.covered_bytes :]) or not self.wire
        assert replayed == len(replay)
        assert [c.commit for c in chunks].count(True) == self.state.pending_plain
        assert all(c.previous_text is None for c in chunks[1:])

    @invariant()
    def bookkeeping(self) -> None:
        s = self.state
        assert s.retained_bytes == sum(len(i) for i in s.retained if i is not None)
        assert len(s.carry) < 2
        assert s.pending_plain >= 0 and s.pending_twin >= 0
        assert s.pending_plain == [i is None for i in s.retained].count(True)
        if s.connected:
            assert s.covered_bytes + s.retained_bytes == len(self.wire)


TestState = StateMachine.TestCase
TestState.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)


def _stamped(text: str, start: float, end: float) -> CommittedTranscriptWithTimestamps:
    return CommittedTranscriptWithTimestamps(text, "en", (Word(text, start, end, "word"),))


def test_a_repeated_answer_is_dropped_whole() -> None:
    """The same answer twice (same text, same word times): the repeat is neither delivered
    nor counted as the next commit's answer."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=True)
    state.audio(b"\x00" * RATE, None, 0.0)
    state.commit(0.0)
    state.audio(b"\x00" * RATE, None, 0.0)
    state.commit(0.0)
    assert len(state.receive(CommittedTranscript("yes"), 1.0)) == 1
    assert len(state.receive(_stamped("yes", 0.1, 0.5), 1.0)) == 1
    assert state.receive(CommittedTranscript("yes"), 1.1) == ()  # held: a repeat or not?
    assert state.receive(_stamped("yes", 0.1, 0.5), 1.1) == ()  # a repeat: both dropped
    assert state.repeats_dropped == 1
    assert not state.answered  # the second commit still waits for its own answer
    assert state.transcript == "yes"


def test_the_same_text_in_a_new_segment_is_delivered_in_order() -> None:
    """Two segments that say the same thing: the held answer comes with its twin, in order."""
    state = SessionState(AudioFormat.PCM_16000, twin_expected=True)
    for _ in range(2):
        state.audio(b"\x00" * RATE, None, 0.0)
        state.commit(0.0)
    state.receive(CommittedTranscript("yes"), 1.0)
    state.receive(_stamped("yes", 0.1, 0.5), 1.0)
    assert state.receive(CommittedTranscript("yes"), 2.0) == ()
    plain, stamped = state.receive(_stamped("yes", 1.1, 1.5), 2.0)
    assert isinstance(plain, CommittedTranscript) and plain.text == "yes"
    assert isinstance(stamped, CommittedTranscriptWithTimestamps)
    assert state.answered and state.repeats_dropped == 0
    assert state.transcript == "yes yes"


@pytest.mark.parametrize("event", [ErrorEvent("resource_exhausted", "busy"),
                                   PartialTranscript("hel")])
def test_connections_that_drop_after_one_message_exhaust_the_policy(event: object) -> None:
    """Each new connection delivers one error (or partial) and drops: no connection worked,
    so the attempts add up and the policy gives up (every event used to reset the count, and
    the session reconnected for ever)."""
    policy = ReconnectPolicy(max_attempts=3, budget=1000, seed=1)
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False, policy=policy)
    state.audio(b"\x00" * 16000, None, 0.0)
    now, delays = 1.0, []
    state.disconnected(now)
    for _ in range(10):  # bounded: the old rule never gave up
        if (delay := state.next_attempt(None, now)) is None:
            break
        delays.append(delay)
        now += delay
        state.resume(now)
        state.receive(event, now + 0.01)  # type: ignore[arg-type]
        state.disconnected(now + 0.02)
    assert len(delays) == 3
    assert state.gave_up(None, 1006).attempts == 3


def test_an_answer_or_a_lasting_connection_ends_the_outage() -> None:
    """An answered commit shows the new connection works at once; with no commit waiting, so
    does any message after HEALTHY_AFTER_SECONDS, but never an error, nor while a commit
    waits unanswered (a stall)."""
    policy = ReconnectPolicy(max_attempts=2, seed=1)

    def reconnected() -> SessionState:
        state = SessionState(AudioFormat.PCM_16000, twin_expected=False, policy=policy)
        state.disconnected(1.0)
        assert state.next_attempt(None, 1.0) is not None
        state.resume(2.0)
        return state

    later = 2.0 + HEALTHY_AFTER_SECONDS
    state = reconnected()
    state.receive(CommittedTranscript("back"), 2.1)
    assert state.outage.attempts == 0
    state = reconnected()
    state.receive(PartialTranscript("back"), 2.1)
    assert state.outage.attempts == 1
    state.receive(ErrorEvent("transcriber_error", "x"), later)
    assert state.outage.attempts == 1
    state.receive(PartialTranscript("back"), later + 1)  # an error restarts the 5 s
    assert state.outage.attempts == 1
    state.receive(PartialTranscript("back"), later + HEALTHY_AFTER_SECONDS)
    assert state.outage.attempts == 0
    stalled = SessionState(AudioFormat.PCM_16000, twin_expected=False, policy=policy)
    stalled.audio(b"\x00" * 16000, None, 0.0)
    stalled.commit(0.0)
    stalled.disconnected(1.0)
    assert stalled.next_attempt(None, 1.0) is not None
    stalled.resume(2.0)  # the replay re-sends the commit: its answer is awaited
    stalled.receive(PartialTranscript("still going"), later + 60)
    assert stalled.outage.attempts == 1


def test_a_quiet_connection_that_lasted_ends_the_outage_when_it_drops() -> None:
    """A reconnected connection that stays up for minutes with no event (a quiet user) worked:
    its loss starts a new outage with a full budget, instead of giving up at once because the
    first outage's clock kept running."""
    policy = ReconnectPolicy(max_attempts=3, budget=60, seed=1)
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False, policy=policy)
    state.disconnected(100.0)
    assert state.next_attempt(None, 100.0) is not None
    state.resume(100.6)
    state.receive(PartialTranscript("replayed"), 102.0)  # too early to count
    state.disconnected(400.0)  # quiet since: a blip
    assert state.outage.attempts == 0
    assert state.next_attempt(None, 400.0) is not None


def test_a_connection_dropped_soon_after_an_error_never_worked() -> None:
    policy = ReconnectPolicy(max_attempts=3, budget=1000, seed=1)
    state = SessionState(AudioFormat.PCM_16000, twin_expected=False, policy=policy)
    state.disconnected(1.0)
    assert state.next_attempt(None, 1.0) is not None
    state.resume(2.0)
    state.receive(ErrorEvent("resource_exhausted", "busy"), 2.0 + HEALTHY_AFTER_SECONDS)
    state.disconnected(2.0 + HEALTHY_AFTER_SECONDS + 1)  # lasted, but an error came late
    assert state.outage.attempts == 1
