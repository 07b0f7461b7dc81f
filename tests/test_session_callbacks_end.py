"""How a session with callbacks ends: ``finish()`` returns once the callbacks have run for every
answer (the reader counting an answer is not a callback seeing it), and ``close()`` at its
deadline drops what a stuck dispatcher was not handed, says so, and still ends with
``SessionEnded``. Over a scripted transport: the callbacks are held by events, never sleeps."""

from __future__ import annotations

import logging
import threading

import pytest

from scribe_sync import CommittedTranscript, Event, PartialTranscript, SessionEnded
from tests.doubles import make_session, session_threads

HALF_SECOND = b"\0" * 16000  # pcm_16000


class Held:
    """A callback that holds the dispatcher on its first event until :attr:`gate` is set."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.seen: list[Event] = []

    def __call__(self, event: Event) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(10)
        self.seen.append(event)


def _finish_in_thread(session: object, timeout: float) -> tuple[threading.Thread,
                                                                 threading.Event,
                                                                 list[BaseException]]:
    done, errors = threading.Event(), []

    def run() -> None:
        try:
            session.finish(timeout=timeout)  # type: ignore[attr-defined]
        except BaseException as exc:
            errors.append(exc)
        done.set()

    thread = threading.Thread(target=run, name="test-finisher")
    thread.start()
    return thread, done, errors


def _dispatcher_ends(session: object) -> None:
    for thread in session_threads(session, "dispatch"):
        thread.join(5)
    assert not session_threads(session, "dispatch")


def test_finish_waits_until_the_callbacks_have_run_for_every_answer() -> None:
    """Every commit answered, the callback still holding the answer: finish() used to return
    at once, and a program that then exited lost the answers its callbacks never saw (a
    hostile test: 230 of 500; close() gave the dispatcher only its close_timeout). Now it
    returns once the callback has run, however long past the close timeout."""
    session, t = make_session(close_timeout=0.1)
    held = Held()
    session.on(CommittedTranscript, held)
    for text in ("one", "two"):
        session.send_audio(HALF_SECOND)
        session.commit()
        t.push(CommittedTranscript(text))
    assert held.entered.wait(5)
    thread, done, errors = _finish_in_thread(session, 10)
    assert not done.wait(1.0), "finish() returned while a callback still held an answer"
    held.gate.set()
    assert done.wait(5)
    thread.join(5)
    assert errors == []
    assert held.seen == [CommittedTranscript("one"), CommittedTranscript("two")]
    _dispatcher_ends(session)


def test_finish_says_when_the_callbacks_did_not_catch_up_in_time() -> None:
    """The callbacks still behind at finish()'s deadline: TimeoutError naming them (not the
    server's transcripts, which all arrived)."""
    session, t = make_session(close_timeout=0.2)
    held = Held()
    session.on(CommittedTranscript, held)
    session.send_audio(HALF_SECOND)
    session.commit()
    t.push(CommittedTranscript("one"))
    assert held.entered.wait(5)
    with pytest.raises(TimeoutError, match="callbacks had not run"):
        session.finish(timeout=0.2)
    assert session.transcript == "one"
    held.gate.set()
    _dispatcher_ends(session)
    assert held.seen == [CommittedTranscript("one")]


def test_finish_from_a_callback_does_not_wait_for_itself() -> None:
    """The dispatcher cannot wait for its own queue: finish() from a callback waits for the
    answers only, and the callbacks then run for the rest."""
    session, t = make_session()
    seen: list[Event] = []
    outcome: list[object] = []

    def first(event: CommittedTranscript) -> None:
        seen.append(event)
        if len(seen) == 1:
            session.send_audio(HALF_SECOND)
            session.commit()
            t.push(CommittedTranscript("two"))
            session.finish(timeout=5)
            outcome.append("returned")

    ended = threading.Event()
    session.on(CommittedTranscript, first)
    session.on(SessionEnded, lambda event: ended.set())
    session.send_audio(HALF_SECOND)
    session.commit()
    t.push(CommittedTranscript("one"))
    assert ended.wait(5)
    assert outcome == ["returned"]
    assert seen == [CommittedTranscript("one"), CommittedTranscript("two")]
    _dispatcher_ends(session)


def test_close_past_its_deadline_drops_what_a_stuck_dispatcher_was_not_handed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """close() is bounded: a callback still running at its deadline keeps the dispatcher, and
    the events queued behind it are dropped with a warning that counts them, so that the
    dispatcher ends as soon as the callback returns, with SessionEnded last (it used to go on
    running callbacks for every queued event after close() had returned)."""
    session, t = make_session(close_timeout=0.2)
    held = Held()
    session.on(Event, held)
    t.push(PartialTranscript("a"))
    assert held.entered.wait(5)
    for event in (PartialTranscript("ab"), CommittedTranscript("abc"), PartialTranscript("z")):
        t.push(event)
    # The reader hands each event to the iterator, then to the dispatcher, in order: once the
    # iterator has "z", "ab" and "abc" wait in the dispatcher's queue.
    while session.recv(timeout=5) != PartialTranscript("z"):
        pass
    with caplog.at_level(logging.WARNING, logger="scribe_sync"):
        session.close()
    assert session_threads(session, "dispatch")  # still in the held callback
    held.gate.set()
    _dispatcher_ends(session)
    assert held.seen[0] == PartialTranscript("a") and len(held.seen) == 2
    assert isinstance(held.seen[1], SessionEnded)
    warnings = [r.getMessage() for r in caplog.records
                if "not handed to the callbacks" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith(("close: 2 event(s)", "close: 3 event(s)")), warnings


def test_with_callbacks_only_leaving_the_block_loses_no_answer_over_a_real_socket() -> None:
    """The hostile test's shape against the mock: callbacks only, each taking a while, many
    commits, and the program going on the moment the ``with`` block ends. Every committed
    transcript has reached the callback by then, however short the close timeout."""
    from mock_server import MockServer
    from mock_server.testing import speech
    from scribe_sync import ScribeClient

    seen: list[str] = []
    slow = threading.Event()  # never set: each wait is the callback's work, not a sync

    def on_commit(event: CommittedTranscript) -> None:
        slow.wait(0.02)
        seen.append(event.text)

    with MockServer(word_ms=20) as server:
        client = ScribeClient("key", base_url=server.base_url, close_timeout=0.1)
        with client.connect() as session:
            session.on(CommittedTranscript, on_commit)
            for _ in range(20):
                session.send_audio(speech(0.5))
                session.commit()
        assert len(seen) == 20 == len(session.segments)
        assert seen == [segment.text for segment in session.segments.segments]
        assert not session_threads(session, "dispatch")


def test_finish_does_not_wait_for_a_reconnect_to_know_the_callbacks_caught_up() -> None:
    """Every answer in and seen, then the connection lost: the reader backs off before
    reconnecting. finish() has nothing left to wait for and returns at once, instead of waiting
    for the new connection (or timing out, blaming the callbacks, if none comes)."""
    from scribe_sync import ConnectionClosedError, Reconnecting, ReconnectPolicy
    from scribe_sync.messages import SessionConfig, SessionStarted
    from scribe_sync.protocol import SessionOptions
    from scribe_sync.session import Session
    from tests.doubles import ScriptedTransport

    attempts: list[object] = []

    def connector(cancel: object) -> tuple[object, object, tuple[()]]:
        attempts.append(cancel)  # never reached: the backoff outlasts the test
        raise ConnectionClosedError("refused")

    transport = ScriptedTransport()
    session = Session(transport, SessionStarted("0" * 32, SessionConfig()), SessionOptions(),
                      keepalive_interval=None, close_timeout=1.0, finish_timeout=30.0,
                      reconnect=ReconnectPolicy(initial_delay=60, max_delay=60),
                      connector=connector)  # type: ignore[arg-type]
    gap, seen = threading.Event(), []
    session.on(CommittedTranscript, seen.append)
    session.on(Reconnecting, lambda event: gap.set())
    session.send_audio(HALF_SECOND)
    session.commit()
    transport.push(CommittedTranscript("one"))
    transport.fail()
    assert gap.wait(5)
    session.finish(timeout=5)  # it raised TimeoutError after 5 s, "callbacks had not run"
    assert seen == [CommittedTranscript("one")] and attempts == []
    _dispatcher_ends(session)


def test_a_finish_that_timed_out_ends_the_session_with_the_missing_tail() -> None:
    """finish() gave up on an unanswered commit: it raises TimeoutError, and the session's
    ending says the tail is missing, to the iterator and to the callbacks alike (they saw a
    clean close: a transcribe() or a stream() over a stalled server returned an empty
    transcript with only a warning in the log)."""
    from scribe_sync import IncompleteTranscriptError

    session, _ = make_session()
    ended: list[SessionEnded] = []
    done = threading.Event()
    session.on(SessionEnded, lambda event: (ended.append(event), done.set()))
    session.send_audio(HALF_SECOND)
    with pytest.raises(TimeoutError, match=r"did not arrive within 0\.2 s"):
        session.finish(timeout=0.2)
    with pytest.raises(IncompleteTranscriptError, match="1 commit") as raised:
        list(session)
    assert raised.value.unanswered_seconds == pytest.approx(0.5)
    assert done.wait(5)
    assert isinstance(ended[0].error, IncompleteTranscriptError)
    _dispatcher_ends(session)


def test_a_stream_whose_finish_timed_out_makes_the_iterator_raise() -> None:
    """session.stream(): the sender's finish() timing out ended the iteration quietly; now the
    loop raises IncompleteTranscriptError, and the handle keeps the TimeoutError."""
    from scribe_sync import IncompleteTranscriptError

    session, _ = make_session(finish_timeout=0.2)
    handle = session.stream([HALF_SECOND, HALF_SECOND], speed=None)
    with pytest.raises(IncompleteTranscriptError):
        list(session)
    handle.join(5)
    assert isinstance(handle.error, TimeoutError)


@pytest.mark.parametrize("raised", [SystemExit, KeyboardInterrupt, GeneratorExit])
def test_a_callback_raising_systemexit_is_logged_and_the_callbacks_go_on(
        raised: type[BaseException], caplog: pytest.LogCaptureFixture) -> None:
    """sys.exit() in a callback used to end the dispatcher thread silently: later callbacks
    and SessionEnded never ran, and finish() still returned at once."""
    session, t = make_session()
    seen: list[str] = []
    ended = threading.Event()

    def first(event: CommittedTranscript) -> None:
        seen.append(event.text)
        if len(seen) == 1:
            raise raised("from a callback")

    session.on(CommittedTranscript, first)
    session.on(SessionEnded, lambda event: ended.set())
    for text in ("one", "two", "three"):
        session.send_audio(HALF_SECOND)
        session.commit()
        t.push(CommittedTranscript(text))
    session.finish(timeout=5)
    assert seen == ["one", "two", "three"]
    session.close()
    assert ended.wait(5)
    assert f"raised {raised.__name__} on CommittedTranscript" in caplog.text
    _dispatcher_ends(session)
