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

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import attrs

try:
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError(
        "mock_server.strategies needs Hypothesis: pip install 'scribe-sync[testing]'"
    ) from None

from scribe_sync import protocol
from scribe_sync.messages import AudioFormat, CommitStrategy

from .actions import ERROR_TYPES
from .faults import FAULTS, TRIGGERS, Fault
from .params import DEFAULT_MODELS
from .scenarios import Delay, Scenario
from .script import Utterance
from .testing import pcm16_to_ulaw, silence
from .testing import speech as _voiced
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

#: Server errors that say "try again" (PROTOCOL.md §5): a reconnecting client retries them.
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
#: close of an open session, PROTOCOL.md §6; not before session_started), going away, server
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


# =============================================================================================
# Audio


@attrs.frozen
class Speech:
    """Speech-like audio: ``phrases`` (start, end) seconds of sound, pauses in between.

    The sound is band-limited noise the mock's VAD hears as speech, generated from ``seed``, so
    the same example always has the same bytes.
    """

    audio: bytes = attrs.field(repr=lambda a: f"<{len(a)} bytes>")
    format: AudioFormat
    phrases: tuple[tuple[float, float], ...]
    seed: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.format.bytes_per_second

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints attrs classes field by field; the audio bytes would flood a report.
        printer.text(repr(self))

    def phrase_audio(self) -> list[bytes]:
        """The audio cut after each phrase's pause: one piece per phrase, together ``audio``."""
        bps = self.format.bytes_per_second
        size = self.format.bytes_per_sample
        cuts = [round(start * bps) // size * size for start, _ in self.phrases[1:]]
        edges = [0, *cuts, len(self.audio)]
        return [self.audio[a:b] for a, b in itertools.pairwise(edges)]


def _format(value: AudioFormat | str) -> AudioFormat:
    return value if isinstance(value, AudioFormat) else AudioFormat(value)


def _render(fmt: AudioFormat, pieces: Sequence[tuple[float, bool]], seed: int) -> bytes:
    rate = fmt.sample_rate
    pcm = b"".join(
        _voiced(seconds, rate=rate, seed=seed + i) if voiced else silence(seconds, rate=rate)
        for i, (seconds, voiced) in enumerate(pieces)
    )
    return pcm16_to_ulaw(pcm) if fmt.is_ulaw else pcm


@st.composite
def _speech(draw: st.DrawFn, fmt: AudioFormat, phrases: st.SearchStrategy[int],
            phrase_ds: tuple[int, int], pause_ds: tuple[int, int], lead_ds: tuple[int, int]
            ) -> Speech:
    count = draw(phrases)
    seed = draw(st.integers(0, 2**16))
    lead = draw(st.integers(*lead_ds)) / 10
    pieces: list[tuple[float, bool]] = [(lead, False)] if lead else []
    spans: list[tuple[float, float]] = []
    at = lead
    for _ in range(count):
        spoken = draw(st.integers(*phrase_ds)) / 10
        pause = draw(st.integers(*pause_ds)) / 10
        spans.append((round(at, 3), round(at + spoken, 3)))
        pieces += [(spoken, True), (pause, False)]
        at += spoken + pause
    return Speech(_render(fmt, pieces, seed), fmt, tuple(spans), seed)


def speech(*, phrases: int | st.SearchStrategy[int] | None = None,
           format: AudioFormat | str = AudioFormat.PCM_16000,
           phrase_secs: tuple[float, float] = (0.4, 1.2),
           pause_secs: tuple[float, float] = (0.8, 1.2),
           lead_secs: tuple[float, float] = (0.0, 0.3)) -> st.SearchStrategy[Speech]:
    """Deterministic speech-like audio in ``format``: ``phrases`` phrases (default: 1 to 3)
    of ``phrase_secs`` seconds, each followed by a pause of ``pause_secs``, after an optional
    leading silence of ``lead_secs``. A VAD silence threshold below ``pause_secs[0]`` commits
    once per phrase. Lengths are whole tenths of a second."""
    fmt = _format(format)
    count = (st.integers(1, 3) if phrases is None
             else st.just(phrases) if isinstance(phrases, int) else phrases)

    def tenths(bounds: tuple[float, float]) -> tuple[int, int]:
        low, high = round(bounds[0] * 10), round(bounds[1] * 10)
        if not 0 <= low <= high:
            raise ValueError(f"bad bounds {bounds!r}")
        return low, high

    if tenths(phrase_secs)[0] < 1:
        raise ValueError("phrases must last at least 0.1 s")
    return _speech(fmt, count, tenths(phrase_secs), tenths(pause_secs), tenths(lead_secs))


@attrs.frozen
class Chunking:
    """Audio cut into chunks: ``sizes_ms`` repeated in a cycle (the last chunk takes the rest).
    Iterating gives the chunks."""

    sizes_ms: tuple[int, ...]
    chunks: tuple[bytes, ...] = attrs.field(repr=False)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def chunkings(audio: bytes, *, format: AudioFormat | str = AudioFormat.PCM_16000,
              min_ms: int = 20, max_ms: int = 1000, max_sizes: int = 4
              ) -> st.SearchStrategy[Chunking]:
    """Ways to cut ``audio`` into chunks of ``min_ms`` to ``max_ms`` (whole samples): a cycle of
    up to ``max_sizes`` chunk lengths, repeated to the end. Shrinks to one length."""
    fmt = _format(format)
    if not 0 < min_ms <= max_ms:
        raise ValueError(f"need 0 < min_ms <= max_ms: {min_ms}, {max_ms}")
    size = fmt.bytes_per_sample

    def cut(lengths: list[int]) -> Chunking:
        chunks: list[bytes] = []
        at, i = 0, 0
        while at < len(audio):
            step = max(size, fmt.bytes_per_second * lengths[i % len(lengths)] // 1000
                       // size * size)
            chunks.append(audio[at : at + step])
            at += step
            i += 1
        return Chunking(tuple(lengths), tuple(chunks))

    return st.lists(st.integers(min_ms, max_ms), min_size=1, max_size=max_sizes).map(cut)


# =============================================================================================
# Session options

_languages = st.sampled_from(["en", "fr", "de", "es", "eng", "fra"])


@st.composite
def _valid_options(draw: st.DrawFn, fixed: Mapping[str, Any]) -> protocol.SessionOptions:
    kwargs: dict[str, Any] = {}

    def maybe(name: str, strategy: st.SearchStrategy[Any]) -> None:
        if name not in fixed and draw(st.booleans()):
            kwargs[name] = draw(strategy)

    maybe("model_id", st.sampled_from(DEFAULT_MODELS))
    maybe("audio_format", st.sampled_from(list(AudioFormat)))
    maybe("commit_strategy", st.sampled_from([CommitStrategy.MANUAL, CommitStrategy.VAD]))
    maybe("vad_silence_threshold_secs", st.integers(3, 30).map(lambda d: d / 10))
    maybe("vad_threshold", st.integers(1, 9).map(lambda d: d / 10))
    maybe("min_speech_duration_ms", st.integers(50, 2000))
    maybe("min_silence_duration_ms", st.integers(50, 2000))
    maybe("language_code", _languages)
    maybe("secondary_languages", st.lists(_languages, max_size=2).map(tuple))
    maybe("include_timestamps", st.booleans())
    maybe("include_language_detection", st.booleans())
    maybe("keyterms", st.lists(_words, min_size=1, max_size=3).map(tuple))
    maybe("no_verbatim", st.booleans())
    if not fixed.get("include_timestamps", kwargs.get("include_timestamps")):
        maybe("filter_background_audio", st.booleans())
    maybe("enable_logging", st.booleans())
    if draw(st.booleans()):
        maybe("transcript_edit", _short_text)
    else:
        maybe("entity_detection", st.lists(st.sampled_from(protocol.ENTITY_CATEGORIES),
                                           min_size=1, max_size=2).map(tuple))
    kwargs.update(fixed)
    return protocol.SessionOptions(**kwargs)


def session_options(**fixed: Any) -> st.SearchStrategy[protocol.SessionOptions]:
    """Valid :class:`~scribe_sync.SessionOptions` the mock accepts; ``fixed`` pins fields
    (``session_options(commit_strategy="vad")``). Shrinks to the defaults."""
    protocol.SessionOptions(**fixed)  # a bad pin fails here, not as a flaky example
    return _valid_options(dict(fixed))


@attrs.frozen
class InvalidOptions:
    """Keyword arguments that ``SessionOptions`` (and ``connect()``) must refuse with a
    ``ConfigError`` whose ``option`` is ``option``, before anything is sent."""

    kwargs: Mapping[str, Any]
    option: str


# option -> values outside what PROTOCOL.md §2 allows for it.
_INVALID: Final[dict[str, st.SearchStrategy[Any]]] = {
    "model_id": st.sampled_from(["", "no spaces allowed", "-leading-dash", 42]),
    "audio_format": st.sampled_from(["pcm_11025", "mp3", "PCM16"]),
    "commit_strategy": st.sampled_from(["auto", "sometimes"]),
    "vad_silence_threshold_secs": st.sampled_from([0.0, 0.29, 3.01, 10.0, -1.0]),
    "vad_threshold": st.sampled_from([0.0, 0.09, 0.91, 1.5]),
    "min_speech_duration_ms": st.sampled_from([0, 49, 2001, 100.5]),
    "min_silence_duration_ms": st.sampled_from([0, 49, 2001, 100.5]),
    "language_code": st.sampled_from(["english", "e", "en_US!", "12"]),
    "keyterms": st.sampled_from([("",), ("x" * (protocol.MAX_KEYTERM_LENGTH + 1),),
                                 ("k",) * (protocol.MAX_KEYTERMS + 1)]),
    "include_timestamps": st.sampled_from(["yes", 1, None]),
    "entity_redaction_mode": st.sampled_from(["scramble"]),
    "transcript_edit": st.sampled_from(["", "x" * (protocol.MAX_TRANSCRIPT_EDIT_LENGTH + 1)]),
}


@st.composite
def _invalid(draw: st.DrawFn) -> InvalidOptions:
    option = draw(st.sampled_from(sorted(_INVALID)))
    value = draw(_INVALID[option])
    return InvalidOptions({option: value}, option)


def invalid_session_options() -> st.SearchStrategy[InvalidOptions]:
    """One invalid option (out of range, unknown value, wrong type) and the option name the
    ``ConfigError`` must carry."""
    return _invalid()
