"""``Session.stats``: a snapshot of the session's counters, read without a lock (plain int
reads; a signal handler may read it while the interrupted code holds the state lock)."""

from __future__ import annotations

import attrs

from ._core import SessionCore

__all__ = ["SessionStats", "snapshot"]


@attrs.frozen
class SessionStats:
    """A snapshot of a session's counters. Audio counts are the caller's audio only; the
    padding before short commits and the keepalive silence are counted apart."""

    audio_bytes_sent: int
    audio_seconds_sent: float
    uncommitted_seconds: float
    commits_sent: int
    keepalives_sent: int
    events_received: int
    partials_dropped: int
    malformed_frames: int
    reconnects: int
    buffered_seconds: float
    padding_seconds_sent: float = 0.0
    keepalive_seconds_sent: float = 0.0
    #: Committed transcripts the server sent twice (same text, same word times), dropped.
    repeated_answers_dropped: int = 0


SessionStats.__module__ = "scribe_sync.session"  # documented where it is public


def snapshot(core: SessionCore) -> SessionStats:
    """The counters now (consistent enough: each is one int read)."""
    s = core.state
    dispatch = core.dispatch
    return SessionStats(
        audio_bytes_sent=s.audio_bytes,
        audio_seconds_sent=s.seconds(s.audio_bytes),
        uncommitted_seconds=s.seconds(s.uncommitted_bytes),
        commits_sent=s.commits_sent,
        keepalives_sent=s.keepalives_sent,
        events_received=s.events_received,
        partials_dropped=core.events.dropped + (dispatch.dropped if dispatch else 0),
        malformed_frames=s.malformed_frames,
        reconnects=s.reconnects,
        buffered_seconds=s.seconds(s.retained_bytes),
        padding_seconds_sent=s.seconds(s.padding_bytes),
        keepalive_seconds_sent=s.seconds(s.keepalive_bytes),
        repeated_answers_dropped=s.repeats_dropped,
    )
