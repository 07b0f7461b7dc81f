"""Hypothesis strategies for testing code built on Scribe against the mock (``[testing]`` extra).

Everything here is drawn from the mock's own types, so a strategy can never describe a fault,
a script or an option the mock does not have:

- :func:`faults` / :func:`scenarios`: fault schedules over the whole catalogue
  (:data:`mock_server.faults.FAULTS`), at connect, right after ``session_started``, after N
  chunks, after T seconds of audio or at the N-th commit, closing or not, in a chosen session,
  with seeded delays. ``recoverable=True`` keeps to schedules a correct reconnecting client
  survives with nothing lost or repeated; ``actions=`` and ``error_types=`` narrow them further.
- :func:`utterances` / :func:`scripts`: what the mock will say (words, speakers, languages).
- :func:`speech`: deterministic speech-like audio of a given length and format, phrases
  separated by pauses long enough for VAD commits; :func:`chunkings` splits it.
- :func:`session_options`: valid :class:`scribe_sync.SessionOptions`;
  :func:`invalid_session_options`: invalid keyword arguments with the option the
  ``ConfigError`` must name.

Every strategy shrinks towards the plainest example (fewer faults, the first trigger, session 1,
shorter scripts of lexicon words, fewer and shorter phrases), so a failure reads as a short fault
list and a short script. Examples are reproducible like any Hypothesis example: from the printed
``@reproduce_failure`` blob or the seed (``--hypothesis-seed``).

This module imports Hypothesis, which ``import mock_server`` alone never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

try:
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError(
        "mock_server.strategies needs Hypothesis: pip install 'scribe-sync[testing]'"
    ) from None


from ._strategies_audio import Chunking, Speech, chunkings, speech
from ._strategies_options import InvalidOptions, invalid_session_options, session_options
from .actions import ERROR_TYPES
from .faults import FAULTS, TRIGGERS, Fault
from .scenarios import Delay, Scenario
from .script import Utterance
from .transcriber import LEXICON

__all__ = [
    "NOT_RECOVERABLE",
    "RECOVERABLE",
    "RECOVERABLE_CLOSE_CODES",
    "TRANSIENT_ERROR_TYPES",
    "Chunking",
    "InvalidOptions",
    "Speech",
    "Utterance",
    "chunkings",
    "delays",
    "faults",
    "invalid_session_options",
    "scenarios",
    "scripts",
    "session_options",
    "speech",
    "utterances",
]

#: Server errors that say "try again" (docs/protocol.md §5): a reconnecting client retries them.
TRANSIENT_ERROR_TYPES: Final = (
    "transcriber_error",
    "resource_exhausted",
    "queue_overflow",
    "error",
    "session_time_limit_exceeded",
    "insufficient_audio_activity",
    "rate_limited",
)
#: Close codes that end a connection without ending the session's purpose: 1000 (the idle
#: close of an open session, docs/protocol.md §6; not before session_started), going away, server
#: error, restart, try later.
RECOVERABLE_CLOSE_CODES: Final = (1000, 1001, 1011, 1012, 1013)
#: Close codes a client must not retry (a protocol disagreement), for non-recoverable schedules.
OTHER_CLOSE_CODES: Final = (1002, 1003, 1007, 1008, 1009, 1010, 4000)

#: Catalogue faults a correct reconnecting client survives with no transcript lost or repeated
#: (``error`` and ``close`` only with the types and codes above, and every fault limited to one
#: session, so that a replacement connection is not hit again).
RECOVERABLE: Final = frozenset(
    {"error", "drop", "close", "stall", "garbage", "binary", "send", "reorder_commit"}
)
#: ... and those it cannot be expected to survive: a server bug that repeats an answer (a
#: client may detect it by its word times, but nothing obliges it to).
NOT_RECOVERABLE: Final = frozenset({"duplicate_commit"})

# Shrinking goes to the first choice: the plainest trigger first.
_TRIGGER_ORDER: Final = ("chunks", "commit", "audio", "start", "connect")


# =============================================================================================
# Faults and scenarios


def _check_actions(actions: Iterable[str] | None, recoverable: bool) -> tuple[str, ...]:
    chosen = tuple(FAULTS) if actions is None else tuple(actions)
    unknown = [a for a in chosen if a not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault action {unknown[0]!r}; the catalogue has "
                         f"{', '.join(FAULTS)}")
    if recoverable:
        chosen = tuple(a for a in chosen if a in RECOVERABLE)
    if not chosen:
        raise ValueError("no fault left to draw: recoverable=True excludes every action given")
    return chosen


def _check_error_types(error_types: Iterable[str] | None, recoverable: bool) -> tuple[str, ...]:
    chosen = tuple(ERROR_TYPES) if error_types is None else tuple(error_types)
    unknown = [e for e in chosen if e not in ERROR_TYPES]
    if unknown:
        raise ValueError(f"unknown error type {unknown[0]!r}; the mock has "
                         f"{', '.join(ERROR_TYPES)}")
    if recoverable:  # in TRANSIENT_ERROR_TYPES' order: shrinks to transcriber_error
        chosen = tuple(e for e in TRANSIENT_ERROR_TYPES if e in chosen)
    return chosen


_words = st.sampled_from(LEXICON)
_short_text = st.lists(_words, min_size=1, max_size=4).map(" ".join)


def _unknown_payloads() -> st.SearchStrategy[dict[str, Any]]:
    # A message type the protocol does not have: clients must pass it on or ignore it.
    return st.builds(
        lambda word, extra: {"message_type": f"mock_{word}", **extra},
        _words,
        st.dictionaries(_words, st.integers(0, 9) | _words, max_size=2),
    )


def _field_strategy(cls: type[Fault], name: str, recoverable: bool,
                    error_types: tuple[str, ...], when: str) -> st.SearchStrategy[Any] | None:
    """How to draw one class-specific field; ``None`` leaves it at its default."""
    if name == "error_type":
        return st.sampled_from(error_types)
    if name == "close":
        # A transient error is retried because the service closes after it.
        return st.just(True) if recoverable else st.booleans()
    if name == "code":
        if cls.action == "error":  # a code replaces the close that follows the error
            return st.just(1000)
        codes: tuple[int, ...] = RECOVERABLE_CLOSE_CODES if recoverable else (
            RECOVERABLE_CLOSE_CODES + OTHER_CLOSE_CODES)
        if recoverable and when == "connect":
            # A normal close before session_started is a refusal, not an idle close: there is
            # no open session for 1000 to end (the client does not retry it).
            codes = tuple(c for c in codes if c != 1000)
        return st.sampled_from(codes)
    if name == "reason":
        return st.just("") | _words if cls.action != "error" else st.just("")
    if name == "message":
        return st.none() | _short_text
    if name == "data":
        return st.none() | _short_text
    if name == "payload":
        return st.none() | _unknown_payloads()
    return None


@st.composite
def _fault(draw: st.DrawFn, actions: tuple[str, ...], error_types: tuple[str, ...],
           recoverable: bool, triggers: tuple[str, ...], max_sessions: int, max_chunks: int,
           max_commits: int, max_audio_secs: float) -> Fault:
    action = draw(st.sampled_from(actions))
    cls = FAULTS[action]
    kwargs: dict[str, Any] = {}
    allowed = triggers
    if action == "error" and not error_types:
        raise ValueError("error faults need at least one error type")
    when = draw(st.sampled_from(allowed))
    kwargs["when"] = when
    if when == "chunks":
        kwargs["count"] = draw(st.integers(1, max_chunks))
    elif when == "commit":
        kwargs["count"] = draw(st.integers(1, max_commits))
    elif when == "audio":
        # Tenths of a second: short to read, and exact in JSON.
        kwargs["seconds"] = draw(st.integers(1, max(1, round(max_audio_secs * 10)))) / 10
    # A fault of every session would hit each replacement connection as well: a recoverable
    # schedule gives each fault one session; a failing first connect is not recoverable (there
    # is no session yet to resume), so connect faults start at the second.
    # The first session is the one every example has: half the draws aim at it.
    first = 2 if when == "connect" and recoverable else 1
    last = max(first, max_sessions)
    session = st.just(first) | st.integers(first, last)
    kwargs["session"] = draw(session if recoverable else st.none() | session)
    base = {field.name for field in attrs.fields(Fault)}
    for field in attrs.fields(cls):
        if field.name in base:
            continue
        strategy = _field_strategy(cls, field.name, recoverable, error_types, when)
        if strategy is not None:
            kwargs[field.name] = draw(strategy)
    return cls(**kwargs)


def faults(*, actions: Iterable[str] | None = None, recoverable: bool = False,
           error_types: Iterable[str] | None = None, triggers: Iterable[str] | None = None,
           max_sessions: int = 3, max_chunks: int = 30, max_commits: int = 4,
           max_audio_secs: float = 3.0) -> st.SearchStrategy[Fault]:
    """One fault of the catalogue with its trigger.

    Args:
        actions: catalogue names to draw from (default: every entry of ``FAULTS``).
        recoverable: only faults a correct reconnecting client survives with nothing lost: the
            :data:`RECOVERABLE` actions, :data:`TRANSIENT_ERROR_TYPES` errors that close,
            :data:`RECOVERABLE_CLOSE_CODES`, each fault in one session (connect faults from the
            second session on, since a refused first connect has nothing to resume).
        error_types: the error types ``error`` faults may send (default: all the mock has).
        triggers: among ``connect``, ``start``, ``chunks``, ``audio``, ``commit`` (default all).
        max_sessions, max_chunks, max_commits, max_audio_secs: bounds of the trigger fields.
    """
    chosen = _check_actions(actions, recoverable)
    types = _check_error_types(error_types, recoverable)
    if "error" in chosen and not types:
        chosen = tuple(a for a in chosen if a != "error")
        if not chosen:
            raise ValueError("error faults need at least one error type")
    when = tuple(TRIGGERS) if triggers is None else tuple(triggers)
    bad = [t for t in when if t not in TRIGGERS]
    if bad or not when:
        raise ValueError(f"triggers must be among {', '.join(TRIGGERS)}: {bad or when!r}")
    ordered = tuple(t for t in _TRIGGER_ORDER if t in when) + tuple(
        t for t in when if t not in _TRIGGER_ORDER)
    return _fault(chosen, types, recoverable, ordered, max_sessions, max_chunks, max_commits,
                  max_audio_secs)


def delays(*, max_secs: float = 0.02) -> st.SearchStrategy[Delay]:
    """Seeded delays of outgoing messages (all, or only committed transcripts)."""
    steps = max(1, round(max_secs * 1000))
    return st.builds(
        Delay,
        fixed_secs=st.integers(0, steps).map(lambda ms: ms / 1000),
        jitter_secs=st.integers(0, steps).map(lambda ms: ms / 1000),
        seed=st.integers(0, 2**16),
        message_types=st.none() | st.just(("committed_transcript",)),
    )


def scenarios(*, actions: Iterable[str] | None = None, recoverable: bool = False,
              error_types: Iterable[str] | None = None, triggers: Iterable[str] | None = None,
              min_faults: int = 0, max_faults: int = 3, max_sessions: int = 3,
              max_chunks: int = 30, max_commits: int = 4, max_audio_secs: float = 3.0,
              delay: bool = True, max_delay_secs: float = 0.02,
              script: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Scenario]:
    """A :class:`~mock_server.Scenario`: up to ``max_faults`` faults (see :func:`faults` for the
    arguments), optionally delays (``delay``), and optionally a transcript from ``script`` (a
    strategy such as :func:`scripts`; without it the scenario leaves the transcript alone, so
    the script can be given to :meth:`mock_server.harness.Harness.run`)."""
    fault = faults(actions=actions, recoverable=recoverable, error_types=error_types,
                   triggers=triggers, max_sessions=max_sessions, max_chunks=max_chunks,
                   max_commits=max_commits, max_audio_secs=max_audio_secs)
    return st.builds(
        Scenario,
        faults=st.lists(fault, min_size=min_faults, max_size=max_faults).map(tuple),
        delay=(st.none() | delays(max_secs=max_delay_secs)) if delay else st.none(),
        transcript=st.none() if script is None else script,
    )


# =============================================================================================
# Scripts


def utterances(*, words: Sequence[str] = LEXICON, max_words: int = 6,
               speakers: bool = False, languages: Sequence[str] = ()
               ) -> st.SearchStrategy[Utterance]:
    """One scripted utterance: 1 to ``max_words`` words from ``words`` (the mock's lexicon),
    with a speaker label when ``speakers`` and one of ``languages`` when given."""
    text = st.lists(st.sampled_from(list(words)), min_size=1, max_size=max_words).map(" ".join)
    speaker = st.sampled_from(["S1", "S2"]) if speakers else st.none()
    language = st.sampled_from(list(languages)) if languages else st.none()
    return st.builds(Utterance, text=text, speaker=speaker, language=language)


def scripts(*, min_size: int = 1, max_size: int = 4, unique: bool = True, **utterance: Any
            ) -> st.SearchStrategy[tuple[Utterance, ...]]:
    """A script: ``min_size`` to ``max_size`` utterances (see :func:`utterances`).

    Utterances are distinct unless ``unique`` is false: a reconnecting client resumes a script
    from the end of what it committed (``previous_text``, at most ~50 characters), and after a
    repeated utterance that end can match more than one place in the script.
    """
    return st.lists(utterances(**utterance), min_size=min_size, max_size=max_size,
                    unique_by=(lambda u: u.text) if unique else None).map(tuple)
