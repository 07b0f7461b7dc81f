"""The public strategies (mock_server.strategies) draw only what the mock has, honour their
restrictions, shrink to readable examples, and drive the mock as promised through the harness."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import find as hypothesis_find
from hypothesis import strategies as st

from mock_server import FAULTS, Scenario
from mock_server import strategies as ms
from mock_server.faults import DropFault, ErrorFault
from mock_server.harness import Harness, MockTarget
from mock_server.script import Utterance
from mock_server.testing import RATE
from scribe_sync import CommittedTranscript, ConfigError, ScribeClient, SessionOptions
from scribe_sync.messages import AudioFormat
from scribe_sync.reconnect import RETRYABLE_CLOSE_CODES, RETRYABLE_ERROR_TYPES, ReconnectPolicy

T = TypeVar("T")


def find(strategy: st.SearchStrategy[T], condition: Callable[[T], bool]) -> T:
    """The minimal example satisfying ``condition`` (what a shrunk counterexample looks like).

    Derandomized: shrinking from a random start sometimes stops at another local minimum, and
    a test of what a report reads like must not depend on the draw."""
    return hypothesis_find(strategy, condition,
                           settings=settings(database=None, max_examples=3000, derandomize=True))


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with Harness() as running:
        yield running


# --- faults and scenarios --------------------------------------------------------------------


def test_every_catalogue_fault_is_classified() -> None:
    """A new catalogue entry must be declared recoverable or not (so restricted schedules stay
    honest), and the recoverable errors and closes are exactly the ones the client retries."""
    assert set(FAULTS) == ms.RECOVERABLE | ms.NOT_RECOVERABLE
    assert not ms.RECOVERABLE & ms.NOT_RECOVERABLE
    assert set(ms.TRANSIENT_ERROR_TYPES) == RETRYABLE_ERROR_TYPES
    # 1000 is retried while a session is open (the service's idle close).
    assert set(ms.RECOVERABLE_CLOSE_CODES) <= RETRYABLE_CLOSE_CODES | {1000}


@pytest.mark.parametrize("action", list(FAULTS))
def test_every_catalogue_fault_is_drawn(action: str) -> None:
    """faults() reaches every fault of the catalogue, and shrinks it to its plainest form: the
    first trigger, count 1, every session, fields at their defaults where they have one.
    Shrinking between triggers is not guaranteed (a fault may stop short at a later one), so
    only the count and the session are pinned exactly."""
    fault = find(ms.faults(), lambda f: f.action == action)
    assert (fault.count, fault.session) == (1, None)
    assert fault.when in ("chunks", "commit", "audio", "start")
    assert len(repr(fault)) < 200


def test_minimal_counterexample_reads_as_one_short_fault() -> None:
    """What a failure report shows: the plainest schedule with the property's fault (Hypothesis
    shrinks lists well but not always perfectly: at most one stray fault remains)."""
    found = find(ms.scenarios(), lambda s: any(f.action == "drop" for f in s.faults))
    assert DropFault(when="chunks", count=1, session=None) in found.faults
    assert len(found.faults) <= 2 and found.delay is None and found.transcript is None
    found = find(ms.scenarios(recoverable=True), lambda s: any(
        isinstance(f, ErrorFault) for f in s.faults))
    assert ErrorFault(when="chunks", count=1, session=1,
                      error_type="transcriber_error") in found.faults
    assert len(found.faults) <= 2


@given(ms.scenarios())
def test_scenarios_round_trip_through_json(scenario: Scenario) -> None:
    """Every drawn scenario is one the mock loads from its JSON form (so it can be saved)."""
    assert Scenario.from_dict(json.loads(json.dumps(scenario.to_dict()))) == scenario


@given(ms.scenarios(recoverable=True, max_faults=5))
def test_recoverable_schedules_only_hold_recoverable_faults(scenario: Scenario) -> None:
    """recoverable=True: transient errors that close, retryable close codes, one session per
    fault, and never a refused first connect."""
    for fault in scenario.faults:
        assert fault.action in ms.RECOVERABLE
        assert fault.session is not None and fault.session >= 1
        if fault.when == "connect":
            assert fault.session >= 2
        if isinstance(fault, ErrorFault):
            assert fault.error_type in ms.TRANSIENT_ERROR_TYPES and fault.close
        code = getattr(fault, "code", None)
        if code is not None:
            assert code in ms.RECOVERABLE_CLOSE_CODES
            assert not (fault.when == "connect" and fault.action == "close" and code == 1000)


@given(ms.scenarios(actions=["error"], error_types=["quota_exceeded", "auth_error"],
                    triggers=["commit"], min_faults=1))
def test_restrictions_are_honoured(scenario: Scenario) -> None:
    """actions, error_types and triggers narrow what is drawn."""
    for fault in scenario.faults:
        assert isinstance(fault, ErrorFault)
        assert fault.error_type in ("quota_exceeded", "auth_error")
        assert fault.when == "commit" and fault.count >= 1


def test_bad_restrictions_fail_at_once() -> None:
    """A misspelt action, error type or trigger is a ValueError naming it, not an empty draw."""
    with pytest.raises(ValueError, match="dorp"):
        ms.scenarios(actions=["dorp"])
    with pytest.raises(ValueError, match="quota_exceded"):
        ms.faults(error_types=["quota_exceded"])
    with pytest.raises(ValueError, match="later"):
        ms.faults(triggers=["later"])
    with pytest.raises(ValueError, match="recoverable"):
        ms.faults(actions=["duplicate_commit"], recoverable=True)


# --- scripts, speech, chunkings --------------------------------------------------------------


@given(ms.scripts(speakers=True, languages=["en", "fr"]))
def test_scripts_are_the_mocks_utterances(script: tuple[Utterance, ...]) -> None:
    """A drawn script is what Scenario(transcript=...) keeps, speakers and languages included."""
    assert 1 <= len(script) <= 4
    assert Scenario(transcript=script).transcript == script
    assert all(u.speaker in ("S1", "S2") and u.language in ("en", "fr") for u in script)


@given(ms.speech())
def test_speech_has_its_phrases_where_it_says(sp: ms.Speech) -> None:
    """Phrases are ordered, separated by pauses, inside the audio, and the audio is exact."""
    ends = [0.0]
    for start, end in sp.phrases:
        assert start >= ends[-1] and end > start
        ends.append(end)
    assert sp.seconds >= ends[-1] + 0.8 - 1e-6  # the last pause is there too
    assert b"".join(sp.phrase_audio()) == sp.audio
    assert len(sp.audio) % sp.format.bytes_per_sample == 0


@pytest.mark.parametrize("fmt", [AudioFormat.PCM_8000, AudioFormat.PCM_48000,
                                 AudioFormat.ULAW_8000])
def test_speech_comes_in_any_format(fmt: AudioFormat) -> None:
    """The same schedule of phrases in another format has that format's size."""
    sp = find(ms.speech(format=fmt, phrases=2), lambda s: True)
    assert len(sp.audio) == round(sp.seconds * fmt.bytes_per_second)
    assert sp.format is fmt


def test_speech_is_deterministic() -> None:
    """The same draw gives the same bytes (examples replay exactly)."""
    a = find(ms.speech(phrases=2), lambda s: s.seed == 0)
    b = find(ms.speech(phrases=2), lambda s: s.seed == 0)
    assert a == b


@given(st.data())
def test_chunkings_cover_the_audio_in_whole_samples(data: st.DataObject) -> None:
    """A chunking is the audio, in order, in whole samples, within the size bounds."""
    sp = data.draw(ms.speech(phrases=1))
    chunking = data.draw(ms.chunkings(sp.audio, min_ms=20, max_ms=400))
    assert b"".join(chunking) == sp.audio
    for chunk in list(chunking)[:-1]:
        assert len(chunk) % 2 == 0 and 20 * RATE * 2 // 1000 <= len(chunk) <= 400 * RATE * 2 // 1000


# --- session options -------------------------------------------------------------------------


@given(ms.invalid_session_options())
def test_invalid_options_fail_with_the_option_named(invalid: ms.InvalidOptions) -> None:
    """Each invalid draw is refused by SessionOptions and by connect(), naming the option,
    before anything is sent (there is no server at that address)."""
    with pytest.raises(ConfigError) as caught:
        SessionOptions(**invalid.kwargs)
    assert caught.value.option == invalid.option
    with pytest.raises(ConfigError) as caught:
        ScribeClient("k", base_url="http://127.0.0.1:9").connect(**invalid.kwargs)
    assert caught.value.option == invalid.option


def test_pinned_options_are_checked_when_the_strategy_is_made() -> None:
    """A pin outside the allowed values fails at once."""
    with pytest.raises(ConfigError):
        ms.session_options(vad_threshold=5.0)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=ms.session_options())
def test_the_mock_accepts_every_valid_option_set(harness: Harness,
                                                 options: SessionOptions) -> None:
    """Every drawn option set opens a session on the mock, which reports the same config."""
    def connect(target: MockTarget) -> str:
        with target.client(close_timeout=2).connect(**_kwargs(options)) as session:
            return session.session_id

    outcome = harness.run(connect)
    assert outcome.sessions == 1
    assert outcome.records[0].session_id == outcome.result


def _kwargs(options: SessionOptions) -> dict[str, Any]:
    return {field.name: getattr(options, field.name) for field in attrs.fields(SessionOptions)}


# --- the harness -----------------------------------------------------------------------------


def _phrase_by_phrase(audio_pieces: list[bytes], **connect: Any) -> Callable[[MockTarget],
                                                                             list[str]]:
    def run(target: MockTarget) -> list[str]:
        client = target.client(close_timeout=2, finish_timeout=10)
        with client.connect(**connect) as session:
            for piece in audio_pieces:
                session.send_audio(piece)
                session.commit()
            session.finish()
            return [e.text for e in session if isinstance(e, CommittedTranscript) and e.text]

    return run


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_script_comes_back_phrase_by_phrase(harness: Harness, data: st.DataObject) -> None:
    """A script of n utterances over speech of n phrases, committed after each phrase, comes
    back whole and in order; the journal holds exactly what was sent."""
    script = data.draw(ms.scripts())
    sp = data.draw(ms.speech(phrases=len(script)))
    outcome = harness.run(_phrase_by_phrase(sp.phrase_audio()), script=script)
    assert outcome.result == [u.text for u in script]
    assert outcome.committed_texts() == [u.text for u in script]
    assert outcome.audio_bytes == len(sp.audio)


def test_harness_gives_each_example_its_own_key_and_scenario(harness: Harness) -> None:
    """Two examples in a row: different keys, the first one's fault never reaches the second,
    and each outcome holds only its own sessions."""
    sp = find(ms.speech(phrases=1), lambda s: True)
    keys: list[str] = []

    def spy(run: Callable[[MockTarget], list[str]]) -> Callable[[MockTarget], list[str]]:
        def wrapped(target: MockTarget) -> list[str]:
            keys.append(target.api_key)
            return run(target)
        return wrapped

    failing = Scenario(faults=(ErrorFault(when="commit", count=1, error_type="quota_exceeded"),))
    first = harness.run(spy(_ignore_errors(_phrase_by_phrase([sp.audio]))), failing,
                        script=["one"])
    second = harness.run(spy(_phrase_by_phrase([sp.audio])), script=["two"])
    assert keys[0] != keys[1]
    assert first.records[0].errors == ("quota_exceeded",)
    assert second.result == ["two"] and second.records[0].errors == ()
    assert [r.session_id for r in second.records] != [r.session_id for r in first.records]


def _ignore_errors(run: Callable[[MockTarget], list[str]]) -> Callable[[MockTarget], list[str]]:
    def wrapped(target: MockTarget) -> list[str]:
        try:
            return run(target)
        except Exception:
            return []
    return wrapped


def test_recoverable_faults_are_survived_by_a_reconnecting_client(harness: Harness) -> None:
    """A drop after the second chunk: the reconnecting client replays, the script's text comes
    back once (the harness hands the whole fault schedule to the mock per key)."""
    sp = find(ms.speech(phrases=1), lambda s: True)
    policy = ReconnectPolicy(initial_delay=0.01, max_delay=0.05, answer_timeout=1.0, seed=1)

    def run(target: MockTarget) -> list[str]:
        client = target.client(close_timeout=2, finish_timeout=10)
        with client.connect(reconnect=policy) as session:
            for chunk in [sp.audio[i:i + 3200] for i in range(0, len(sp.audio), 3200)]:
                session.send_audio(chunk)
            session.finish()
            return [e.text for e in session if isinstance(e, CommittedTranscript) and e.text]

    outcome = harness.run(run, Scenario(faults=(DropFault(when="chunks", count=2, session=1),)),
                          script=["hello again"])
    assert outcome.sessions == 2
    assert outcome.result == ["hello again"]


def test_strategies_import_without_loading_hypothesis_from_mock_server() -> None:
    """`import mock_server` (and the harness) never imports Hypothesis; only the strategies do."""
    code = ("import sys, mock_server, mock_server.harness; "
            "assert 'hypothesis' not in sys.modules; "
            "import mock_server.strategies; assert 'hypothesis' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
