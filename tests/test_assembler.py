"""The bounded event queue between the reader and a consumer, tested directly (no threads)."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scribe_sync import CommittedTranscript, PartialTranscript
from scribe_sync._assembler import Assembler, Waiters
from scribe_sync.messages import Event

# An operation: put a partial, put a committed transcript, or take one event.
OPS = st.lists(st.sampled_from(["partial", "committed", "take"]), max_size=200)


@given(limit=st.integers(1, 8), ops=OPS)
def test_the_overflow_rule_drops_only_the_oldest_partials(limit: int, ops: list[str]) -> None:
    """Whatever the order of puts and takes: every committed transcript comes out, in order;
    events keep their relative order; only partials are dropped, each counted; the queue
    exceeds its bound only by its committed transcripts and the newest partial."""
    queue = Assembler(limit)
    put: list[Event] = []
    taken: list[Event] = []
    for i, op in enumerate(ops):
        if op == "take":
            if len(queue):
                event = queue.take(0)
                assert event is not None
                taken.append(event)
            continue
        event = PartialTranscript(str(i)) if op == "partial" else CommittedTranscript(str(i))
        queue.put(event)
        put.append(event)
        committed_queued = sum(isinstance(e, CommittedTranscript) for e in put) - sum(
            isinstance(e, CommittedTranscript) for e in taken)
        assert len(queue) <= max(limit, committed_queued + 1)
    queue.close()
    while (event := queue.take(0)) is not None:
        taken.append(event)
    committed = [e for e in put if isinstance(e, CommittedTranscript)]
    assert [e for e in taken if isinstance(e, CommittedTranscript)] == committed
    order = {id(e): n for n, e in enumerate(put)}
    assert [order[id(e)] for e in taken] == sorted(order[id(e)] for e in taken)
    assert queue.dropped == len(put) - len(taken)


def test_a_full_queue_of_committed_transcripts_pauses_the_reader_until_low_water() -> None:
    """Over the bound with nothing droppable the queue says full; taking it down to half the
    bound sets ``room`` for the paused reader."""
    queue = Assembler(4)
    for i in range(4):
        queue.put(CommittedTranscript(str(i)))
    assert queue.full() and not queue.room.is_set()
    queue.take(0)
    assert not queue.room.is_set()
    queue.take(0)
    assert queue.room.is_set()


def test_keep_latest_keeps_the_newest_events_and_never_pauses() -> None:
    """An iterator nobody uses yet (callbacks consume): the oldest events of any kind go."""
    queue = Assembler(2)
    queue.keep_latest = True
    for i in range(5):
        queue.put(CommittedTranscript(str(i)))
    assert not queue.full()
    assert [queue.take(0), queue.take(0)] == [CommittedTranscript("3"), CommittedTranscript("4")]


def test_take_times_out_with_the_builtin_timeout_error() -> None:
    """Nothing queued within the timeout: TimeoutError; after close, None."""
    queue = Assembler(None)
    with pytest.raises(TimeoutError):
        queue.take(0)
    queue.close()
    assert queue.take(None) is None


def test_wait_until_asks_again_after_each_notify_until_done() -> None:
    waiters, flag, asked = Waiters(), threading.Event(), threading.Event()
    result: list[bool] = []

    def done() -> bool:
        asked.set()
        return flag.is_set()

    thread = threading.Thread(target=lambda: result.append(waiters.wait_until(done, None)),
                              name="test-waiter")
    thread.start()
    assert asked.wait(10)
    asked.clear()
    waiters.notify()  # not done yet: it asks again and sleeps on
    assert asked.wait(10)
    flag.set()
    waiters.notify()
    thread.join(10)
    assert result == [True]


def test_wait_until_returns_false_at_its_deadline() -> None:
    waiters = Waiters()
    assert waiters.wait_until(lambda: False, time.monotonic() + 0.01) is False
    assert waiters.wait_until(lambda: False, time.monotonic() - 1) is False
    assert waiters.wait_until(lambda: True, time.monotonic() - 1) is True
