"""A server bug the client detects: a commit's answer sent twice (the mock's
``duplicate_commit``, only with word timestamps on, the repeat carrying the same word times).

The client holds a plain answer whose text repeats the previous one until its twin arrives; a
twin whose first word starts before the previous answer's last word ends is the same answer
again, and both are dropped (``scribe_sync._state``). Before, the repeat was a new segment and
counted as the answer of the next commit, so ``finish()`` could stop one answer early.
"""

from __future__ import annotations

from mock_server import MockServer, Scenario
from mock_server.faults import DuplicateCommit
from mock_server.testing import speech
from scribe_sync import CommittedTranscript, ScribeClient


def _segments(scenario: Scenario) -> tuple[list[str], str]:
    """Three 1 s phrases, each committed, with word timestamps: the committed texts seen and
    the session's transcript."""
    with MockServer(scenario=scenario, echo_partial=False) as server:
        client = ScribeClient("test-key", base_url=server.base_url)
        with client.connect(include_timestamps=True) as session:
            for _ in range(3):
                session.send_audio(speech(1.0))
                session.commit()
            session.finish()
            texts = [e.text for e in session if isinstance(e, CommittedTranscript) and e.text]
            return texts, session.transcript


def test_the_fault_free_run_has_one_segment_per_commit() -> None:
    """The baseline the repeated-answer test compares with."""
    texts, transcript = _segments(Scenario())
    assert len(texts) == 3
    assert transcript == " ".join(texts)


def test_a_repeated_answer_is_not_a_new_segment() -> None:
    """With the first answer sent twice, the client's segments equal the fault-free run's."""
    clean = _segments(Scenario())
    faulty = _segments(Scenario(faults=[DuplicateCommit(when="commit", count=1)]))
    assert faulty == clean
