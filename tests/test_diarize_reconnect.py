"""Diarization across a reconnect: ``segment_index`` counts the commits of one *connection*
(docs/protocol.md §4.7), so after a reconnect the new connection's first diarized transcript says
``segment_index: 0`` about what is the session's third segment. The session rebases it by the
answers of earlier connections (``scribe_sync._state``), so ``Transcript`` gives every segment
its speakers (before, the later segments got none).
"""

from __future__ import annotations

from mock_server import MockServer, Scenario
from mock_server.faults import CloseFault
from mock_server.testing import speech
from scribe_sync import DiarizedTranscript, ReconnectPolicy, ScribeClient, Transcript

POLICY = ReconnectPolicy(initial_delay=0.01, max_delay=0.05, answer_timeout=5, max_attempts=8,
                         seed=3)
SCRIPT = ["S1: alpha bravo", "S2: charlie delta", "S1: echo foxtrot"]


def _run(scenario: Scenario) -> tuple[list[int], list[list[str | None]]]:
    """Three committed phrases with diarization and reconnects: the segment indices of the
    diarized transcripts received, and each segment's word speakers in the ``Transcript``."""
    with MockServer(scenario=scenario, echo_partial=False, transcript=SCRIPT) as server:
        client = ScribeClient("test-key", base_url=server.base_url)
        with client.connect(include_timestamps=True, diarize=True, reconnect=POLICY) as session:
            for _ in range(3):
                session.send_audio(speech(1.0))
                session.commit()
            session.finish()
            events = list(session)
    indices = [e.segment_index for e in events if isinstance(e, DiarizedTranscript)]
    transcript = Transcript.from_events(events)
    speakers = [[w.speaker_id for w in seg.words if w.type == "word"]
                for seg in transcript.segments]
    return indices, speakers


def test_without_a_reconnect_every_segment_gets_its_speakers() -> None:
    indices, speakers = _run(Scenario())
    assert indices == [0, 1, 2]
    assert speakers == [["speaker_1"] * 2, ["speaker_2"] * 2, ["speaker_1"] * 2]


def test_after_a_reconnect_every_segment_gets_its_speakers() -> None:
    """The connection closes (1011) after its 2nd commit; the 3rd segment, answered on the
    new connection, still gets speakers, and segment indices count the session's commits."""
    indices, speakers = _run(Scenario(faults=[CloseFault(when="commit", count=2, code=1011,
                                                         session=1)]))
    assert indices == [0, 1, 2]
    assert len(speakers) == 3
    assert all(words and None not in words for words in speakers), speakers
