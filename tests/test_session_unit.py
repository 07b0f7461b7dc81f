"""Session semantics over a scripted transport: ordering, endings, callbacks, commits, queues."""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
import time

import pytest

from scribe_sync import (
    AuthError,
    CommittedTranscript,
    CommittedTranscriptWithTimestamps,
    ConfigError,
    ConnectionClosedError,
    ErrorEvent,
    Event,
    LocalProtocolError,
    PartialTranscript,
    SessionEnded,
    UnknownEvent,
)
from tests.doubles import ScriptedTransport, make_session, session_threads, wait_for

AUTH_TEXT = "You must be authenticated to use this endpoint."


def audio_of(frame: dict) -> bytes:
    return base64.b64decode(frame["audio_base_64"])


def test_iterator_yields_events_in_order_and_ends_quietly_on_normal_close() -> None:
    """Events arrive in order; a close 1000 with no error ends iteration without raising."""
    session, t = make_session()
    t.push(PartialTranscript("he"))
    t.push(PartialTranscript("hello"))
    t.push(CommittedTranscript("hello"))
    t.push_close(1000)
    assert list(session) == [
        PartialTranscript("he"), PartialTranscript("hello"), CommittedTranscript("hello")
    ]
    assert session.recv() is None
    session.close()


def test_a_loop_left_with_break_loses_nothing_and_the_session_is_its_own_iterator() -> None:
    """``for ... break`` (waiting for one answer), then ``next()`` or another loop, goes on
    with the next event; once the session has ended, iteration stops every time."""
    session, t = make_session()
    for text in ("a", "b", "c"):
        t.push(CommittedTranscript(text))
    t.push_close(1000)
    assert iter(session) is session
    for event in session:
        assert event == CommittedTranscript("a")
        break
    assert next(session) == CommittedTranscript("b")
    assert list(session) == [CommittedTranscript("c")]
    with pytest.raises(StopIteration):
        next(session)
    assert list(session) == []
    session.close()


def test_error_then_close_yields_error_event_then_raises_typed_error() -> None:
    """An error followed by the server's close is yielded, then raised as its subclass."""
    session, t = make_session()
    t.push({"message_type": "auth_error", "error": AUTH_TEXT})
    t.push_close(1000)
    events = iter(session)
    assert next(events) == ErrorEvent("auth_error", AUTH_TEXT)
    with pytest.raises(AuthError) as info:
        next(events)
    assert info.value.close_code == 1000
    assert "authenticated" in str(info.value)
    session.close()


def test_non_fatal_error_is_yielded_and_iteration_continues() -> None:
    """A frame-level input_error without a close is just an event."""
    session, t = make_session()
    t.push({"message_type": "input_error", "error": "Message must be a valid protocol message"})
    t.push(CommittedTranscript("after"))
    t.push_close(1000)
    assert [type(e) for e in session] == [ErrorEvent, CommittedTranscript]
    session.close()


def test_transport_failure_raises_connection_closed_chained_to_cause() -> None:
    """A dropped connection ends iteration with ConnectionClosedError carrying its cause."""
    session, t = make_session()
    cause = OSError("connection reset by peer")
    err = ConnectionClosedError("connection lost", code=1006)
    err.__cause__ = cause
    t.push(PartialTranscript("x"))
    t.fail(err)
    it = iter(session)
    assert next(it) == PartialTranscript("x")
    with pytest.raises(ConnectionClosedError) as info:
        next(it)
    assert info.value.code == 1006
    assert info.value.__cause__ is cause
    session.close()


def test_abnormal_close_code_raises_connection_closed() -> None:
    """A close 1011 without an error message is an abnormal ending."""
    session, t = make_session()
    t.push_close(1011, "internal error")
    with pytest.raises(ConnectionClosedError) as info:
        session.recv(timeout=5)
    assert (info.value.code, info.value.reason) == (1011, "internal error")
    session.close()


def test_unknown_and_malformed_frames_do_not_kill_the_reader(caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    """Unknown types become UnknownEvent; malformed frames are logged, counted and skipped."""
    session, t = make_session()
    with caplog.at_level(logging.WARNING, logger="scribe_sync"):
        t.push({"message_type": "brand_new", "x": 1})
        t.push(b"\xff\xfe not utf-8")
        t.push("{not json")
        t.push({"message_type": "committed_transcript", "text": 5})
        t.push(CommittedTranscript("still alive"))
        t.push_close(1000)
        events = list(session)
    assert events == [UnknownEvent("brand_new", {"message_type": "brand_new", "x": 1}),
                      CommittedTranscript("still alive")]
    assert session.stats.malformed_frames == 3
    assert sum("malformed" in r.getMessage() for r in caplog.records) == 3
    session.close()


def test_close_wakes_a_thread_blocked_in_recv() -> None:
    """close() from another thread ends a blocked recv() with None, promptly."""
    session, _t = make_session()
    started = threading.Event()
    result: list[object] = []

    def consumer() -> None:
        started.set()
        result.append(session.recv(timeout=10))

    thread = threading.Thread(target=consumer, name="test-consumer")
    thread.start()
    assert started.wait(5)
    session.close()
    thread.join(5)
    assert not thread.is_alive()
    assert result == [None]


def test_concurrent_recv_is_refused() -> None:
    """Two threads receiving at once is misuse: the second gets LocalProtocolError."""
    session, t = make_session()
    entered = threading.Event()
    box: list[object] = []

    def first() -> None:
        entered.set()
        while True:  # until it holds the receive slot (the main thread may hold it a moment)
            with contextlib.suppress(LocalProtocolError):
                box.append(session.recv(timeout=10))
                return

    thread = threading.Thread(target=first, name="test-first-receiver")
    thread.start()
    assert entered.wait(5)
    # Try until the first receiver holds the slot: then this thread is refused at once.
    deadline = time.monotonic() + 5
    while True:
        try:
            session.recv(timeout=0.01)
        except LocalProtocolError:
            break
        except TimeoutError:
            assert time.monotonic() < deadline, "the first receiver never held the slot"
    t.push(PartialTranscript("x"))
    thread.join(5)
    assert box == [PartialTranscript("x")]
    session.close()


def test_callbacks_run_in_order_and_a_failing_callback_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Callbacks see events in order; an exception is logged with traceback, not fatal."""
    session, t = make_session()
    seen: list[Event] = []
    done = threading.Event()

    def boom(event: PartialTranscript) -> None:
        raise RuntimeError("callback bug")

    def record(event: Event) -> None:
        seen.append(event)
        if isinstance(event, SessionEnded):
            done.set()

    session.on(PartialTranscript, boom)
    session.on(Event, record)
    with caplog.at_level(logging.ERROR, logger="scribe_sync"):
        t.push(PartialTranscript("a"))
        t.push(CommittedTranscript("a."))
        t.push_close(1000)
        assert done.wait(5)
    assert seen[:2] == [PartialTranscript("a"), CommittedTranscript("a.")]
    assert isinstance(seen[2], SessionEnded) and seen[2].error is None
    failures = [r for r in caplog.records if "callback" in r.getMessage()]
    assert failures and failures[0].exc_info is not None
    session.close()


def test_slow_callback_does_not_stall_the_iterator() -> None:
    """While a callback blocks, the reader keeps delivering to the iterator."""
    session, t = make_session()
    release = threading.Event()
    in_callback = threading.Event()

    def slow(event: PartialTranscript) -> None:
        in_callback.set()
        release.wait(10)

    session.on(PartialTranscript, slow)
    t.push(PartialTranscript("1"))
    assert in_callback.wait(5)
    t.push(CommittedTranscript("later"))
    assert session.recv(timeout=5) == PartialTranscript("1")
    assert session.recv(timeout=5) == CommittedTranscript("later")
    release.set()
    session.close()


def test_close_from_a_callback_does_not_deadlock() -> None:
    """A callback may close its own session; the dispatcher then exits."""
    session, t = make_session()
    closed = threading.Event()

    def closer(event: CommittedTranscript) -> None:
        session.close()
        closed.set()

    session.on(CommittedTranscript, closer)
    t.push(CommittedTranscript("bye"))
    assert closed.wait(5)
    for thread in session_threads(session, "dispatch"):  # ends once its callback returned
        thread.join(5)
    assert not session_threads(session, "dispatch")
    assert t.close_sent == (1000, "User ended session")


def test_subscription_cancel_stops_delivery() -> None:
    """After cancel(), the callback receives nothing more."""
    session, t = make_session()
    seen: list[Event] = []
    ended = threading.Event()
    sub = session.on(PartialTranscript, seen.append)
    session.on(SessionEnded, lambda e: ended.set())
    t.push(PartialTranscript("1"))
    assert session.recv(timeout=5) == PartialTranscript("1")
    # Wait until the dispatcher has handled event 1 before cancelling and sending event 2.
    assert wait_for(session, lambda: seen == [PartialTranscript("1")])
    sub.cancel()
    t.push(PartialTranscript("2"))
    t.push_close(1000)
    assert ended.wait(5)
    assert PartialTranscript("2") not in seen
    session.close()


def test_previous_text_only_with_first_chunk() -> None:
    """previous_text after the first chunk raises locally and sends nothing."""
    session, t = make_session()
    session.send_audio(b"\x00\x00" * 160, previous_text="Earlier words.")
    assert t.sent[0]["previous_text"] == "Earlier words."
    with pytest.raises(LocalProtocolError):
        session.send_audio(b"\x00\x00" * 160, previous_text="again")
    assert len(t.sent) == 1
    session.close()


def test_previous_text_must_be_encodable_text() -> None:
    """A lone surrogate or a non-str previous_text is a ConfigError; nothing is sent."""
    session, t = make_session()
    with pytest.raises(ConfigError, match="previous_text"):
        session.send_audio(b"\x00\x00", previous_text="\ud800")
    with pytest.raises(ConfigError, match="previous_text"):
        session.send_audio(b"\x00\x00", previous_text=b"bytes")  # type: ignore[arg-type]
    assert t.sent == []
    session.close()


def test_a_view_of_float_or_wide_samples_is_refused_and_pcm16_views_are_sent() -> None:
    """A memoryview of float32 (numpy's or array's) would be sent byte for byte as noise."""
    import array

    session, t = make_session()
    for samples in (array.array("f", [0.5] * 160), array.array("d", [0.5] * 160),
                    array.array("i", [1] * 160)):
        with pytest.raises(TypeError, match=f"not '{samples.typecode}' samples"):
            session.send_audio(memoryview(samples))
    assert t.sent == []
    session.send_audio(memoryview(array.array("h", [1] * 160)))
    session.send_audio(memoryview(bytearray(b"\x02\x00" * 160)))
    assert [len(audio_of(f)) for f in t.sent] == [320, 320]
    session.close()


def test_hostile_arguments_are_typed_errors_naming_the_argument() -> None:
    """True was taken as a 1 s timeout, 10**400 raised OverflowError, a strided view failed
    with an internal cast message, and on() accepted a non-callable (each event then logged
    a TypeError)."""
    session, t = make_session()
    for timeout in (True, 10**400, -1, float("nan")):
        with pytest.raises(ValueError, match="invalid timeout"):
            session.recv(timeout=timeout)
        with pytest.raises(ValueError, match="invalid timeout"):
            session.finish(timeout=timeout)
    with pytest.raises(TypeError, match="contiguous"):
        session.send_audio(memoryview(b"\x00\x01" * 100)[::2])
    session.send_audio(memoryview(bytearray(8)).cast("B", shape=[2, 4]))  # C order: fine
    import numpy as np

    with pytest.raises(TypeError, match="contiguous"):
        session.send_audio(memoryview(np.zeros((4, 2), dtype="<i2", order="F")))
    with pytest.raises(TypeError, match="little-endian"):
        session.send_audio(memoryview(np.zeros(160, dtype=">i2")))
    session.send_audio(memoryview(np.zeros(160, dtype="<i2")))
    with pytest.raises(TypeError, match="callback must be callable"):
        session.on(CommittedTranscript, "print")
    assert [len(audio_of(f)) for f in t.sent] == [8, 320]
    session.close()


def test_large_sends_are_split_and_partial_samples_carried() -> None:
    """Audio is split into frames of at most 1 s, and an odd byte waits for its pair."""
    session, t = make_session()  # pcm_16000: 32000 bytes per second
    session.send_audio(b"\x01" * 70001)
    assert [len(audio_of(f)) for f in t.sent] == [32000, 32000, 6000]
    session.send_audio(b"\x02")
    assert len(audio_of(t.sent[-1])) == 2 and audio_of(t.sent[-1]) == b"\x01\x02"
    assert session.stats.audio_bytes_sent == 70002
    session.close()


def test_a_half_sample_waits_across_a_commit_so_later_audio_stays_aligned() -> None:
    """An odd slice, a commit, the rest: the server gets every byte, in whole samples."""
    session, t = make_session()
    audio = bytes(range(256)) * 250  # 64000 bytes, 2 s of pcm_16000
    session.send_audio(audio[:32001])
    assert session.commit() is True
    session.send_audio(audio[32001:])
    sent = b"".join(audio_of(f) for f in t.sent)
    assert sent == audio
    assert all(len(audio_of(f)) % 2 == 0 for f in t.sent)
    session.close()


def test_commit_never_provokes_commit_throttled() -> None:
    """No audio: commit sends nothing. Under 0.3 s: silence pads the segment to 0.35 s."""
    session, t = make_session()
    assert session.commit() is False
    assert t.sent == []
    session.send_audio(b"\x05\x00" * 1600)  # 0.1 s
    assert session.commit() is True
    pad, commit = t.sent[-2], t.sent[-1]
    assert audio_of(pad) == b"\x00" * (11200 - 3200)
    assert commit["commit"] is True and commit["audio_base_64"] == ""
    assert session.stats.uncommitted_seconds == 0
    session.close()


def test_mulaw_padding_is_mulaw_silence() -> None:
    """In ulaw_8000 the padding is 0xFF, mu-law's zero."""
    session, t = make_session(audio_format="ulaw_8000")
    session.send_audio(b"\x7f" * 800)
    session.commit()
    assert set(audio_of(t.sent[-2])) == {0xFF}
    assert t.sent[-1]["sample_rate"] == 8000
    session.close()


def test_finish_waits_for_committed_and_timestamped_twin() -> None:
    """finish() returns only after both messages of the final commit, then closes."""
    session, t = make_session(include_timestamps=True)
    session.send_audio(b"\x01\x00" * 16000)
    finished = threading.Event()

    def run_finish() -> None:
        session.finish(timeout=10)
        finished.set()

    thread = threading.Thread(target=run_finish, name="test-finish")
    thread.start()
    t.wait_sent(lambda f: f["commit"])
    t.push(CommittedTranscript("the tail"))
    assert not finished.wait(0.05)  # still waiting for the twin (a bounded negative check)
    t.push(CommittedTranscriptWithTimestamps("the tail", "en", ()))
    thread.join(10)
    assert finished.is_set()
    assert session.transcript == "the tail"
    assert t.close_sent == (1000, "User ended session")
    assert [type(e) for e in session] == [CommittedTranscript, CommittedTranscriptWithTimestamps]


def test_finish_times_out_and_still_closes() -> None:
    """A server that never answers makes finish raise TimeoutError, with the session closed."""
    session, t = make_session()
    session.send_audio(b"\x01\x00" * 8000)
    with pytest.raises(TimeoutError):
        session.finish(timeout=0.2)
    assert session.closed
    assert t.close_sent is not None


def test_finish_reports_a_lost_tail() -> None:
    """If the server closes normally before answering the final commit, finish says so."""
    session, t = make_session()
    session.send_audio(b"\x01\x00" * 8000)
    threading.Thread(
        target=lambda: (t.wait_sent(lambda f: f["commit"]), t.push_close(1000)),
        name="test-closer",
    ).start()
    with pytest.raises(ConnectionClosedError, match="tail is missing"):
        session.finish(timeout=5)


def test_late_commit_throttled_after_finish_is_a_normal_ending() -> None:
    """After the final commit is answered, a trailing commit_throttled + close is not a failure."""
    session, t = make_session()
    session.send_audio(b"\x01\x00" * 8000)

    def server() -> None:
        t.wait_sent(lambda f: f["commit"])
        t.push(CommittedTranscript("done"))
        t.push({"message_type": "commit_throttled", "error": "Commit request ignored"})
        t.push_close(1000, "commit_throttled")

    threading.Thread(target=server, name="test-server").start()
    session.finish(timeout=5)
    assert session.transcript == "done"


def test_send_after_close_is_refused_and_after_failure_raises_the_failure() -> None:
    """Audio is never silently dropped: a closed or failed session raises on send."""
    session, _ = make_session()
    session.close()
    with pytest.raises(LocalProtocolError):
        session.send_audio(b"\x00\x00")
    failed, t = make_session()
    t.push({"message_type": "quota_exceeded", "error": "You have exceeded your quota."})
    t.push_close(1000)
    assert isinstance(failed.recv(timeout=5), ErrorEvent)
    with pytest.raises(Exception, match="quota"):
        failed.recv(timeout=5)
    with pytest.raises(Exception, match="quota"):
        failed.send_audio(b"\x00\x00")
    failed.close()


def test_full_queue_drops_oldest_partials_but_never_committed() -> None:
    """With the queue full, partials make room; committed transcripts are all kept."""
    session, t = make_session(max_queue=3)
    t.push(CommittedTranscript("c1"))
    for i in range(5):
        t.push(PartialTranscript(f"p{i}"))
    t.push(CommittedTranscript("c2"))
    t.push_close(1000)
    assert wait_for(session, lambda: session.closed)
    events = list(session)
    assert [e.text for e in events if isinstance(e, CommittedTranscript)] == ["c1", "c2"]
    assert len(events) <= 4 and session.stats.partials_dropped >= 3
    session.close()


def test_keepalive_sends_short_silence_when_idle() -> None:
    """With no audio for keepalive_interval, the reader sends 20 ms of silence."""
    session, t = make_session(keepalive_interval=0.05)
    frame = t.wait_sent(lambda f: not f["commit"])
    assert audio_of(frame) == b"\x00" * 640  # 20 ms at 16 kHz, 16-bit
    assert session.stats.keepalives_sent >= 1
    session.close()


def test_close_is_idempotent_and_bounded_without_a_close_echo() -> None:
    """A server that never answers the close handshake cannot hang close()."""
    session, t = make_session(transport=ScriptedTransport(echo_close=False), close_timeout=0.2)
    session.close()
    session.close()
    assert t.aborted.is_set()
    assert not session_threads(session, "reader")


def test_session_ended_is_delivered_with_the_error() -> None:
    """Callbacks learn how the session ended through SessionEnded."""
    session, t = make_session()
    box: list[SessionEnded] = []
    got = threading.Event()
    session.on(SessionEnded, lambda e: (box.append(e), got.set()))
    t.push({"message_type": "auth_error", "error": AUTH_TEXT})
    t.push_close(1000)
    assert got.wait(5)
    assert isinstance(box[0].error, AuthError) and box[0].code == 1000
    session.close()
