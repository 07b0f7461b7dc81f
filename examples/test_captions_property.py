"""A property-based test of your own captioning code: whatever the network does, every
scripted utterance is shown exactly once, in order.

    pip install 'scribe-sync[mock,testing]' pytest
    python -m pytest examples/test_captions_property.py

``captions()`` below stands for your application's code. The test draws a script (what the
speaker says), speech-like audio with one phrase per utterance, and a fault schedule from
``mock_server.strategies`` (drops, closes, stalls, transient server errors, garbage and unknown
frames, reordered answers: everything a reconnecting client is expected to survive), then runs
``captions()`` against a mock that speaks that script under that schedule. If a schedule
breaks it, Hypothesis shrinks the example and prints the smallest one it found: a short fault
list and a short script, replayable with the ``@reproduce_failure`` line it prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scribe_sync
from mock_server import Scenario
from mock_server import strategies as ms
from mock_server.harness import Harness, MockTarget

# Retry fast, and treat a commit unanswered for 0.25 s as a stalled connection: the mock answers
# at once (its "instant" timing), so examples take milliseconds instead of the defaults' seconds.
# (On a loaded machine a slow answer may be taken for a stall: the client then reconnects and
# replays, which the property must survive too.)
POLICY = scribe_sync.ReconnectPolicy(initial_delay=0.01, max_delay=0.05, answer_timeout=0.25,
                                     max_attempts=8)

# Set by this example's own test to prove the property catches a real bug (see below).
PLANTED_BUG = os.environ.get("CAPTIONS_PLANTED_BUG") == "1"


def captions(client: scribe_sync.ScribeClient, phrases: list[bytes]) -> list[str]:
    """The code under test: caption each phrase (16 kHz 16-bit mono PCM) as it is spoken."""
    lines: list[str] = []

    def show(event: scribe_sync.CommittedTranscript) -> None:
        if event.text:
            lines.append(event.text)

    with client.connect(reconnect=POLICY) as session:
        session.on(scribe_sync.CommittedTranscript, show)
        if PLANTED_BUG:  # "a new connection starts a new caption track": wrong, it resumes
            session.on(scribe_sync.Reconnected, lambda event: lines.clear())
        for phrase in phrases:
            session.send_audio(phrase)
            session.commit()
    # Leaving the block waited for the last transcript; callbacks have all run.
    return lines


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    """One mock for every example; each example gets its own key and scenario on it."""
    with Harness() as running:
        yield running


# print_blob: a failure prints the @reproduce_failure line that replays it exactly.
@settings(max_examples=200, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=ms.scripts(max_size=3),
       scenario=ms.scenarios(recoverable=True, min_faults=1, max_faults=3, max_chunks=8,
                             max_commits=3, max_audio_secs=2.0),
       data=st.data())
def test_every_utterance_is_captioned_once_in_order(
    harness: Harness, script: tuple[ms.Utterance, ...], scenario: Scenario, data: st.DataObject
) -> None:
    speech = data.draw(ms.speech(phrases=len(script)), label="speech")

    def run(target: MockTarget) -> list[str]:
        return captions(target.client(close_timeout=2, open_timeout=1), speech.phrase_audio())

    outcome = harness.run(run, scenario, script=script)
    assert outcome.result == [utterance.text for utterance in script]
