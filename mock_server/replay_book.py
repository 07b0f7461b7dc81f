"""Serving a cassette: :class:`ReplayBook` hands a cassette's recorded sessions out to
connections by their options and order, and :func:`replay_sources` is a replaying server's
answer source (:mod:`mock_server.context`): each connection replays its session through a
:class:`~mock_server.replay.Replayer`, with the scenario's faults on top."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from .actions import Action, error_actions
from .cassette import Cassette, RecordedSession
from .context import AnswerSource, SessionSetup, SourceFactory
from .replay import Replayer, options_of

__all__ = ["ReplayBook", "replay_sources"]


class ReplayBook:
    """The sessions of a cassette, handed out to connections (thread-safe).

    A connection gets the first session not yet replayed whose options equal its own; in a
    lenient replay, failing that, the first session not yet replayed; ``None`` when none is
    left. The book keeps each connection's replayer, for the differences a strict replay found.
    """

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self._lock = threading.Lock()  # guards _used and _replayers
        self._used: set[int] = set()
        self._replayers: list[Replayer] = []

    def _free(self, query: Mapping[str, Sequence[str]], strict: bool
              ) -> tuple[int, RecordedSession] | None:
        """The session this query would get. Caller holds the lock."""
        assert self._lock.locked()
        wanted = options_of(query)
        free = [(i, s) for i, s in enumerate(self.cassette.sessions) if i not in self._used]
        chosen = next(((i, s) for i, s in free if options_of(s.query) == wanted), None)
        if chosen is None and not strict and free:
            chosen = free[0]
        return chosen

    def take(self, query: Mapping[str, Sequence[str]], *, strict: bool = False
             ) -> RecordedSession | None:
        """The recorded session for a connection with this query."""
        with self._lock:
            chosen = self._free(query, strict)
            if chosen is None:
                return None
            self._used.add(chosen[0])
            return chosen[1]

    def refusal(self, query: Mapping[str, Sequence[str]], *, strict: bool = False
                ) -> int | None:
        """Before the upgrade: when this query's session is a refused handshake, take it and
        return its HTTP status; otherwise ``None`` (and take nothing)."""
        with self._lock:
            chosen = self._free(query, strict)
            if chosen is None or not chosen[1].of("refused"):
                return None
            self._used.add(chosen[0])
            return int(chosen[1].of("refused")[0]["status"])

    def keep(self, replayer: Replayer) -> None:
        """Remember a connection's replayer (for :meth:`mismatches`)."""
        with self._lock:
            self._replayers.append(replayer)

    def mismatches(self) -> list[str]:
        """The first difference of each strict replay that differed, in order."""
        with self._lock:
            return [r.mismatch for r in self._replayers if r.mismatch is not None]

    def reset(self) -> None:
        """Replay every session again from the first."""
        with self._lock:
            self._used.clear()
            self._replayers.clear()


class _Exhausted:
    """The answer source of a connection the cassette has no session for: one error."""

    def __init__(self, query: Mapping[str, Sequence[str]]) -> None:
        options = " ".join(f"{k}={','.join(v)}" for k, v in options_of(query).items())
        self.text = f"the cassette has no recorded session left for: {options}"  # invented
        self.closed = False
        self.stalled = False

    def start(self, now: float) -> list[Action]:
        self.closed = True
        return list(error_actions("error", self.text))

    def receive(self, data: str | bytes, now: float) -> list[Action]:
        return []

    def deadline(self) -> float | None:
        return None

    def tick(self, now: float) -> list[Action]:
        return []


def replay_sources(book: ReplayBook) -> SourceFactory:
    """The answer source of a replaying server: each connection replays the session the book
    gives it, with the scenario's faults on top (and its delays, which the driver applies)."""

    def make(setup: SessionSetup) -> AnswerSource:
        settings = setup.settings
        recorded = book.take(setup.query, strict=settings.strict)
        if recorded is None:
            return _Exhausted(setup.query)
        scenario = setup.scenario
        faults = () if scenario is None else tuple(
            f for f in scenario.faults if f.session is None or f.session == setup.scenario_session)
        replayer = Replayer(recorded, timing=settings.replay_timing, strict=settings.strict,
                            faults=faults)
        book.keep(replayer)
        return replayer

    return make
