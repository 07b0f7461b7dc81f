"""Every knob of the mock in one frozen object (``MockServer(**fields)`` builds it)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .cassette import Cassette, load
from .journal import FramePolicy
from .languages import LANGUAGE_FORMATS
from .params import DEFAULT_MODELS
from .scenarios import Scenario, load_scenario
from .script import Utterance, parse_script
from .timing import TIMINGS, TimingProfile
from .validation import MockConfigError, at_least, between, optional

__all__ = ["AUDIO_CHECKS", "Settings"]

#: Values of ``audio_check``.
AUDIO_CHECKS = ("off", "strict")


def _opt_keys(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value)


def _opt_scenario(value: Any) -> Scenario | None:
    return None if value is None else load_scenario(value)


def _journal_frames(value: Any) -> bool | int:
    if value is True or value == "all":
        return True
    if value is False or value == "none":
        return False
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and value >= 0:
        return value or False
    raise MockConfigError("journal_frames", "'all', 'none' or a count >= 0", value)


def _opt_cassette(value: Any) -> Cassette | None:
    if value is None or isinstance(value, Cassette):
        return value
    return load(value)


def _timing(value: Any) -> str | TimingProfile:
    """A profile's name, a :class:`TimingProfile`, or the path of a profile file
    (``scribe-sync bench --record-timing``), loaded here."""
    if isinstance(value, str) and value not in TIMINGS and value.endswith(".json"):
        from .timing_file import load_timing

        return load_timing(value)
    return value  # type: ignore[no-any-return]


def _scenario_map(value: Any) -> Mapping[str, Scenario]:
    return {key: load_scenario(item) for key, item in dict(value or {}).items()}


@attrs.frozen(kw_only=True)
class Settings:
    """Configuration of a mock server. Defaults follow the live service where it was observed.

    Attributes:
        host, port: where to listen (port 0 picks a free port).
        api_keys: accepted ``xi-api-key`` values; ``None`` accepts any non-empty key.
        scenario: the global scenario (object, dict, JSON text or file path).
        key_scenarios: API key -> scenario; wins over ``scenario`` for sessions of that key.
        transcript: a script of utterances (:mod:`mock_server.script`): a string (one
            utterance) or a sequence of strings, dicts or :class:`Utterance`; ``None``: the
            default lexicon rule.
        models: accepted ``model_id`` values (the live list of August 2026).
        word_ms: milliseconds of detected speech per transcribed word.
        warmup_secs: audio needed before the first partial (≈2 s live, docs/protocol.md §6).
        warmup_reset_secs: a pause in the audio this long restarts the warm-up.
        partial_interval_secs: audio between two partials (at most one per interval).
        bench_stream_count: benchmarks only: after ``session_started``, send this many
            ``partial_transcript`` frames (text ``"tick <n> ..."``), one every
            ``bench_stream_interval_secs``, whatever the audio (0, the default, disables).
            With ``stamp_send_times`` they give a steady stream to time event delivery.
        bench_stream_interval_secs: the wall-clock interval between two such frames.
        echo_partial: re-send the committed text as a partial right after a commit (§4.2).
        min_commit_secs: below this much uncommitted audio a commit is throttled (0.3 s live).
        close_on_commit_throttled: close 1000 "commit_throttled" after it (observed, Q5).
        auto_commit_secs: commit on its own after this much uncommitted audio (≈36 s observed,
            90 s documented, Q3); ``None`` disables.
        max_chunk_bytes: decoded audio bytes allowed per chunk (``None``: no limit); over it the
            session gets ``chunk_size_exceeded`` and is closed.
        max_message_bytes: the largest WebSocket message accepted from a client, in bytes
            (websockets' ``max_size``); a larger one is refused from its frame header and the
            connection is closed with 1009 (message too big). 16 MiB by default: a client that
            splits audio at 1 s (as scribe-sync does) sends at most ~128 KB per frame at
            pcm_48000, so this admits chunks of a minute or more of the largest format, while
            a single hostile frame cannot make the mock buffer more than 16 MiB. Checked before
            ``max_chunk_bytes``, which counts decoded audio and answers with the service's error.
        max_session_secs: wall-clock session length limit (``None``: no limit).
        idle_timeout_secs: close 1000 after this long without an audio chunk (≈15 s observed);
            ``None`` disables. Any ``input_audio_chunk``, even empty, counts as activity.
        idle_error: send ``insufficient_audio_activity`` before the idle close (live: no).
        handshake_timeout_secs: a connection that has not sent a complete HTTP request (the
            WebSocket upgrade, a token request) this long after it was accepted is closed:
            idle sockets and slowloris handshakes do not hold descriptors for ever.
        read_timeout_secs: a WebSocket that delivers no complete frame for this long is
            closed with 1008, whatever ``idle_timeout_secs`` says (``None`` disables). It
            bounds how long a half-sent frame (up to ``max_message_bytes``) holds memory even
            when the idle close is off; with the idle close on (the default), that comes
            first.
        max_sessions_per_key: concurrent sessions per credential before ``rate_limited``.
        token_ttl_secs: single-use token lifetime (15 minutes live).
        clock: wall clock for token expiry (injectable so tests need not wait).
        journal_frames: frames kept in the journal per session (counts, digests and errors are
            always kept for every session): ``N`` (the first N frames; 1000 by default),
            ``True`` or ``"all"`` (every frame of every session: memory grows with every
            session), ``False`` or ``"none"`` (no frames).
        journal_sessions: with a count for ``journal_frames``, frames are kept for at most this
            many finished sessions, the most recent (8 by default; ``None``: all). Open sessions
            always keep theirs. Together they bound the journal's memory in a long run.
        stamp_send_times: add ``"_mock_sent_ns"`` (CLOCK_MONOTONIC ns) to every sent message.
        ssl_context: serve ``wss://``/``https://`` with this context.
        reuse_port: bind with ``SO_REUSEPORT`` (several processes on one port, ``--workers``).
        timing: ``"instant"`` (answer at once; the default here and in the pytest fixture) or
            ``"live"`` (the service's delays, :mod:`mock_server.timing`; ``scribe-mock``'s
            default).
        timing_seed: seeds the live delays (session n draws from ``f"{seed}:{n}"``).
        cassette: replay this cassette (a :class:`~mock_server.cassette.Cassette`, or the
            path of a file or directory) instead of answering by the rules
            (docs/cassettes.md).
        strict: in a replay, a client frame that differs from the recording ends the session
            with an error naming the first difference.
        replay_timing: ``"instant"`` (a recorded answer as soon as the client reaches its
            point) or ``"recorded"`` (with the recorded delay after that point).
        language_format: ``"iso639-1"`` (``"en"``, as the docs show) or ``"iso639-3"``
            (``"eng"``, as integrators saw live) for detected languages
            (:mod:`mock_server.languages`).
        audio_check: ``"off"`` (default: any audio is heard as its declared format) or
            ``"strict"``: audio that is implausible for the session's ``audio_format`` (8 kHz
            audio sent as ``pcm_16000``, PCM sent as ``ulaw_8000``, see
            :mod:`mock_server.audiocheck`) is heard as no speech, so commits return ``""``
            and a CI run catches the format bug. The live service is not known to detect it.
    """

    host: str = attrs.field(default="127.0.0.1")
    port: int = attrs.field(default=0, validator=between(0, 65535, integer=True))
    api_keys: frozenset[str] | None = attrs.field(default=None, converter=_opt_keys)
    scenario: Scenario | None = attrs.field(default=None, converter=_opt_scenario)
    key_scenarios: Mapping[str, Scenario] = attrs.field(factory=dict, converter=_scenario_map)
    transcript: tuple[Utterance, ...] | None = attrs.field(default=None, converter=parse_script)
    models: tuple[str, ...] = attrs.field(default=DEFAULT_MODELS, converter=tuple)
    word_ms: int = attrs.field(default=400, validator=between(1, 60_000, integer=True))
    warmup_secs: float = attrs.field(default=2.0, validator=at_least(0))
    warmup_reset_secs: float = attrs.field(default=2.0, validator=at_least(0, strict=True))
    partial_interval_secs: float = attrs.field(default=0.3, validator=at_least(0))
    bench_stream_count: int = attrs.field(default=0, validator=at_least(0, integer=True))
    bench_stream_interval_secs: float = attrs.field(
        default=0.005, validator=at_least(0, strict=True)
    )
    echo_partial: bool = True
    min_commit_secs: float = attrs.field(default=0.3, validator=at_least(0))
    close_on_commit_throttled: bool = True
    auto_commit_secs: float | None = attrs.field(
        default=36.0, validator=optional(at_least(0, strict=True))
    )
    max_chunk_bytes: int | None = attrs.field(
        default=None, validator=optional(at_least(1, integer=True), "no limit")
    )
    max_message_bytes: int = attrs.field(
        default=16 * 1024 * 1024, validator=at_least(1, integer=True)
    )
    max_session_secs: float | None = attrs.field(
        default=None, validator=optional(at_least(0, strict=True), "no limit")
    )
    idle_timeout_secs: float | None = attrs.field(
        default=15.0, validator=optional(at_least(0, strict=True))
    )
    idle_error: bool = False
    handshake_timeout_secs: float = attrs.field(default=10.0, validator=at_least(0, strict=True))
    read_timeout_secs: float | None = attrs.field(
        default=120.0, validator=optional(at_least(0, strict=True))
    )
    max_sessions_per_key: int | None = attrs.field(
        default=None, validator=optional(at_least(1, integer=True), "no limit")
    )
    token_ttl_secs: float = attrs.field(default=900.0, validator=at_least(0, strict=True))
    clock: Callable[[], float] = time.time
    stamp_send_times: bool = False
    journal_frames: bool | int = attrs.field(default=1000, converter=_journal_frames)
    journal_sessions: int | None = attrs.field(
        default=8, validator=optional(at_least(0, integer=True), "all")
    )
    ssl_context: ssl.SSLContext | None = None
    reuse_port: bool = False
    timing: str | TimingProfile = attrs.field(default="instant", converter=_timing)
    timing_seed: int = attrs.field(default=0, validator=at_least(-(2**63), integer=True))
    language_format: str = attrs.field(default="iso639-1")
    audio_check: str = attrs.field(default="off")
    cassette: Cassette | None = attrs.field(default=None, converter=_opt_cassette)
    strict: bool = False
    replay_timing: str = attrs.field(default="instant")

    @host.validator
    def _check_host(self, attribute: Any, value: str) -> None:
        # "" binds every interface, as in asyncio; a name with spaces is a typo.
        if not isinstance(value, str) or any(c.isspace() for c in value):
            raise MockConfigError("host", "a host name or IP address", value)

    @timing.validator
    def _check_timing(self, attribute: Any, value: str | TimingProfile) -> None:
        if not isinstance(value, TimingProfile) and value not in TIMINGS:
            allowed = f"one of {', '.join(TIMINGS)} or a timing profile file (.json)"
            raise MockConfigError("timing", allowed, value)

    @replay_timing.validator
    def _check_replay_timing(self, attribute: Any, value: str) -> None:
        if value not in ("instant", "recorded"):
            raise MockConfigError("replay_timing", "one of instant, recorded", value)

    @property
    def timing_profile(self) -> TimingProfile:
        """The timing profile (``timing`` by name, or as loaded)."""
        return self.timing if isinstance(self.timing, TimingProfile) else TIMINGS[self.timing]

    @language_format.validator
    def _check_language_format(self, attribute: Any, value: str) -> None:
        if value not in LANGUAGE_FORMATS:
            raise MockConfigError("language_format", f"one of {', '.join(LANGUAGE_FORMATS)}", value)

    @audio_check.validator
    def _check_audio_check(self, attribute: Any, value: str) -> None:
        if value not in AUDIO_CHECKS:
            raise MockConfigError("audio_check", f"one of {', '.join(AUDIO_CHECKS)}", value)

    @property
    def frame_policy(self) -> FramePolicy:
        """The journal's frame caps, from ``journal_frames`` and ``journal_sessions``."""
        frames = self.journal_frames
        if frames is True:
            return FramePolicy(None, None)
        return FramePolicy(int(frames), self.journal_sessions)
