"""A Hypothesis state machine over sessions driven from several threads at once.

Each example opens a real session against the mock server (with options drawn by the public
``mock_server.strategies.session_options``; audio from its ``speech``), then the rules hand calls
(send_audio, commit, recv, finish, close) to two caller threads without waiting, so the calls
interleave for real. Invariants checked at the end of every example:

- every call returned within its bound (its own timeout plus the close timeout);
- only documented exceptions were raised (LocalProtocolError after a close, TimeoutError
  from recv with a timeout);
- the committed transcripts reached the iterator and the callbacks exactly once, in the same
  order, and are the server's committed messages (all of them after finish());
- every thread the session started has ended.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mock_server import MockServer
from mock_server import strategies as ms
from mock_server.testing import silence
from scribe_sync import CommittedTranscript, LocalProtocolError, ScribeClient, SessionOptions
from tests.doubles import session_threads

CLOSE_TIMEOUT = 2.0
FINISH_TIMEOUT = 5.0
# A call may legitimately take its own timeout plus one close handshake; anything beyond that
# (with a wide margin for a loaded CI machine) is a hang.
SLACK = 5.0


class Caller:
    """A named thread that runs submitted calls in order and records what happened."""

    def __init__(self, name: str) -> None:
        self.calls: queue.Queue[tuple[str, Callable[[], Any], float] | None] = queue.Queue()
        self.results: list[tuple[str, float, float, BaseException | None]] = []
        self.thread = threading.Thread(target=self._run, name=name)
        self.thread.start()

    def submit(self, label: str, call: Callable[[], Any], bound: float) -> None:
        self.calls.put((label, call, bound))

    def _run(self) -> None:
        while (item := self.calls.get()) is not None:
            label, call, bound = item
            start = time.monotonic()
            error: BaseException | None = None
            try:
                call()
            except BaseException as exc:  # recorded and judged by the machine
                error = exc
            self.results.append((label, time.monotonic() - start, bound, error))

    def stop(self) -> None:
        self.calls.put(None)
        self.thread.join(60)
        assert not self.thread.is_alive(), "a call never returned"


class SessionMachine(RuleBasedStateMachine):
    server: MockServer  # set by the test below

    # Any option set the mock accepts, with the manual strategy the invariants below assume.
    @initialize(options=ms.session_options(audio_format="pcm_16000", commit_strategy="manual"))
    def open_session(self, options: SessionOptions) -> None:
        client = ScribeClient("k", base_url=self.server.base_url, close_timeout=CLOSE_TIMEOUT,
                              finish_timeout=FINISH_TIMEOUT)
        self.session = client.connect(**{f.name: getattr(options, f.name)
                                         for f in attrs.fields(SessionOptions)})
        self.callback_commits: list[str] = []
        self.iterated_commits: list[str] = []
        self.session.on(CommittedTranscript, lambda e: self.callback_commits.append(e.text))
        self.callers = [Caller("test-caller-a"), Caller("test-caller-b")]
        self.finished = False
        self.steps = 0
        self.recv_lock = threading.Lock()  # only one receiver at a time (documented misuse)

    def _submit(self, which: int, label: str, call: Callable[[], Any], bound: float) -> None:
        self.steps += 1
        self.callers[which].submit(label, call, bound)

    @rule(which=st.integers(0, 1), seconds=st.sampled_from([0.02, 0.1, 0.35, 0.8]),
          voiced=st.none() | ms.speech(phrases=1, phrase_secs=(0.1, 0.8), pause_secs=(0, 0.2)))
    def send(self, which: int, seconds: float, voiced: ms.Speech | None) -> None:
        audio = voiced.audio if voiced is not None else silence(seconds)
        self._submit(which, "send", lambda: self.session.send_audio(audio), SLACK)

    @rule(which=st.integers(0, 1))
    def commit(self, which: int) -> None:
        self._submit(which, "commit", self.session.commit, SLACK)

    @rule(which=st.integers(0, 1), phrase=ms.speech(phrases=1, phrase_secs=(0.2, 0.6),
                                                     pause_secs=(0, 0.2)))
    def speak_and_commit(self, which: int, phrase: ms.Speech) -> None:
        audio = phrase.audio

        def call() -> None:
            self.session.send_audio(audio)
            self.session.commit()

        self._submit(which, "speak_and_commit", call, SLACK)

    @rule(which=st.integers(0, 1), timeout=st.sampled_from([0.0, 0.05]))
    def recv(self, which: int, timeout: float) -> None:
        def receive() -> None:
            with self.recv_lock:
                event = self.session.recv(timeout=timeout)
            if isinstance(event, CommittedTranscript):
                self.iterated_commits.append(event.text)

        self._submit(which, "recv", receive, timeout + SLACK)

    # Ending calls come late (and may repeat), so most examples first do real work.
    @precondition(lambda self: self.steps >= 8)
    @rule(which=st.integers(0, 1))
    def finish(self, which: int) -> None:
        self.finished = True
        self._submit(which, "finish", self.session.finish, FINISH_TIMEOUT + CLOSE_TIMEOUT + SLACK)

    @precondition(lambda self: self.steps >= 8)
    @rule(which=st.integers(0, 1))
    def close(self, which: int) -> None:
        self._submit(which, "close", self.session.close, 2 * CLOSE_TIMEOUT + SLACK)

    @invariant()
    def session_id_is_stable(self) -> None:
        assert len(self.session.session_id) == 32

    def teardown(self) -> None:
        for caller in self.callers:
            caller.stop()
        self.session.finish() if not self.session.closed else self.session.close()
        with self.recv_lock:
            for event in self.session:  # drain what the recv rules did not take
                if isinstance(event, CommittedTranscript):
                    self.iterated_commits.append(event.text)
        for thread in session_threads(self.session, "dispatch"):
            thread.join(CLOSE_TIMEOUT + SLACK)
        assert not session_threads(self.session, "dispatch")
        assert not session_threads(self.session, "reader")

        for caller in self.callers:
            for label, took, bound, error in caller.results:
                assert took <= bound, f"{label} took {took:.2f} s (bound {bound} s)"
                if error is None:
                    continue
                if isinstance(error, LocalProtocolError) and label in ("send", "commit", "recv",
                                                                     "speak_and_commit"):
                    continue  # after close, or a second receiver: documented
                if isinstance(error, TimeoutError) and label in ("recv", "finish"):
                    continue
                raise AssertionError(f"{label} raised {error!r}") from error

        assert self.iterated_commits == self.callback_commits
        record = next(r for r in self.server.wait_idle(count=len(self.server.sessions()))
                      if r.session_id == self.session.session_id)
        server_commits = [m["text"] for m in record.sent("committed_transcript")]
        assert self.iterated_commits == server_commits[: len(self.iterated_commits)]
        # A text counted once per commit: the transcript is exactly the non-empty commits.
        assert self.session.transcript == " ".join(t.strip() for t in server_commits[
            : len(self.iterated_commits)] if t.strip())


@pytest.fixture(scope="module")
def shared_server() -> Any:
    with MockServer(idle_timeout_secs=None, warmup_secs=0.2) as server:
        yield server


def test_sessions_under_random_concurrent_calls(shared_server: MockServer) -> None:
    """Random interleavings of send/commit/recv/finish/close from two threads keep every
    invariant: bounded calls, documented errors, commits delivered once, threads ended."""
    SessionMachine.server = shared_server
    run_state_machine_as_test(
        SessionMachine, settings=settings(max_examples=25, stateful_step_count=20, deadline=None)
    )
