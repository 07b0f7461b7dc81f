"""``scribe-sync bench``'s measuring: sessions that stream a source at real time and note, on
the client's monotonic clock, when each answer reached user code (see :mod:`scribe_sync._probe`
for what each metric means)."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from ._probe_report import BenchConfig, BenchReport, SessionResult
from .client import ScribeClient
from .errors import ScribeError
from .messages import AudioFormat, CommitStrategy, CommittedTranscript, PartialTranscript
from .session import Session

__all__ = ["QUIET_PEAK", "match_speech_ends", "run_bench", "tcp_connect_time"]

#: How often run_bench looks at its ``stop`` callable, in seconds.
_STOP_POLL: Final = 0.1

#: Peak level below which a chunk counts as a pause (about -30 dBFS, as Session.stream uses).
QUIET_PEAK: Final = 1000


def match_speech_ends(speech_ends: Sequence[float], committed_at: Sequence[float]
                      ) -> list[float]:
    """End of speech -> committed latencies for VAD commits.

    Each committed transcript belongs to the last end of speech sent before it, if no earlier
    transcript claimed that one already (a pause shorter than the VAD threshold ends no
    segment, so some ends of speech have no transcript; a transcript with no unclaimed end of
    speech before it, such as the final commit's, is not a VAD decision and is left out).
    """
    latencies: list[float] = []
    claimed = -1
    for at in committed_at:
        before = [i for i, end in enumerate(speech_ends) if end < at]
        if before and before[-1] > claimed:
            claimed = before[-1]
            latencies.append(at - speech_ends[claimed])
    return latencies


def tcp_connect_time(base_url: str, timeout: float) -> float:
    """Seconds to open a TCP connection (and finish TLS for https/wss) to ``base_url``'s host."""
    parts = urllib.parse.urlsplit(base_url)
    secure = parts.scheme in ("https", "wss")
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if secure:
            context = ssl.create_default_context()
            with context.wrap_socket(sock, server_hostname=host):
                return time.monotonic() - start
        return time.monotonic() - start


class _Sender:
    """Sends a source at real time on a named thread, committing and noting times."""

    def __init__(self, session: Session, chunks: Iterator[bytes], fmt: AudioFormat, *,
                 commit_every: float | None, name: str) -> None:
        self._session = session
        self._chunks = chunks
        self._format = fmt
        self._commit_every = commit_every
        self._stop = threading.Event()
        # Written by the sender thread only, read after join().
        self.first_sent: float | None = None
        self.commits: list[float] = []
        self.speech_ends: list[float] = []
        self.audio_seconds = 0.0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _quiet(self, chunk: bytes) -> bool:
        import numpy as np

        from .audio import decode_audio

        samples = decode_audio(chunk, self._format)
        return samples.size == 0 or int(np.max(np.abs(samples.astype(np.int32)))) < QUIET_PEAK

    def _run(self) -> None:
        rate = self._format.bytes_per_second
        start = time.monotonic()
        sent = 0
        since_commit = 0
        voiced_since_commit = False
        voiced_at: float | None = None  # when the last voiced chunk of the current run left
        try:
            for chunk in self._chunks:
                sent += len(chunk)
                # A microphone delivers a chunk once its last sample was spoken.
                delay = start + sent / rate - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                if self._stop.is_set():
                    return
                now = time.monotonic()
                self._session.send_audio(chunk)
                if self.first_sent is None:
                    self.first_sent = now
                self.audio_seconds = sent / rate
                since_commit += len(chunk)
                quiet = self._quiet(chunk)
                if not quiet:
                    voiced_at = now
                elif voiced_at is not None:
                    self.speech_ends.append(voiced_at)
                    voiced_at = None
                voiced_since_commit = voiced_since_commit or not quiet
                # Commit at a pause, and only segments with speech: a commit over silence
                # answers "" and measures nothing a user waits for.
                if (self._commit_every is not None and quiet and voiced_since_commit
                        and since_commit >= self._commit_every * rate):
                    now = time.monotonic()
                    if self._session.commit():
                        self.commits.append(now)
                    since_commit = 0
                    voiced_since_commit = False
            if self._commit_every is not None and voiced_since_commit:
                now = time.monotonic()
                if self._session.commit():
                    self.commits.append(now)
            self._session.finish()  # commits any trailing silence too, unmeasured
        except BaseException as exc:  # reported with the session's result
            self.error = exc
            self._session.close()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class _Live:
    """The sessions open now, so that a stopped run can close them from the main thread (any
    thread may close a session): their loops end at once instead of streaming to the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: set[Session] = set()
        self._closed = False

    def add(self, session: Session) -> bool:
        """Track ``session``; False (and the session closed) once the run was stopped."""
        with self._lock:
            if not self._closed:
                self._sessions.add(session)
                return True
        session.close()
        return False

    def discard(self, session: Session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            sessions = list(self._sessions)
        for session in sessions:
            session.close()


def _run_session(config: BenchConfig, client: ScribeClient, index: int,
                 source: str, live: _Live) -> SessionResult:
    options = config.session_options()
    try:
        connect = tcp_connect_time(config.base_url, client.open_timeout)
    except OSError as exc:
        return SessionResult(index, error=f"could not connect: {exc}")
    t0 = time.monotonic()
    try:
        session = client.connect(**config.options)
    except (ScribeError, TimeoutError) as exc:
        return SessionResult(index, connect=connect, error=str(exc) or type(exc).__name__)
    if not live.add(session):
        return SessionResult(index, connect=connect, error="stopped")
    started = time.monotonic() - t0
    manual = options.commit_strategy is CommitStrategy.MANUAL
    first_partial_at: float | None = None
    committed_at: list[float] = []
    error: str | None = None
    sender: _Sender | None = None
    try:
        from .audio import open_source

        chunks = open_source(source, format=options.audio_format, chunk_ms=config.chunk_ms)
        sender = _Sender(session, iter(chunks), options.audio_format,
                         commit_every=config.commit_every if manual else None,
                         name=f"scribe-bench-send-{index}")
        for event in session:
            now = time.monotonic()
            if isinstance(event, PartialTranscript):
                if first_partial_at is None and event.text.strip():
                    first_partial_at = now
            elif isinstance(event, CommittedTranscript):
                committed_at.append(now)
    except (ScribeError, TimeoutError) as exc:
        error = str(exc) or type(exc).__name__
    finally:
        if sender is not None:
            sender.stop()
            sender.join(client.close_timeout + client.finish_timeout)
        session.close()
        live.discard(session)
    if sender is None:
        return SessionResult(index, connect=connect, session_started=started, error=error)
    if error is None and sender.error is not None:
        error = str(sender.error) or type(sender.error).__name__
    first = sender.first_sent
    commits = sender.commits
    return SessionResult(
        index,
        connect=connect,
        session_started=started,
        first_partial=(None if first is None or first_partial_at is None
                       else first_partial_at - first),
        # The n-th committed transcript answers the n-th commit (the service answers in order);
        # a session cut short has fewer answers than commits.
        commit=(tuple(done - sent for sent, done in zip(commits, committed_at, strict=False))
                if manual else ()),
        vad=() if manual else tuple(match_speech_ends(sender.speech_ends, committed_at)),
        audio_seconds=sender.audio_seconds,
        committed=len(committed_at),
        error=error,
    )


def _source_seconds(source: str, fmt: AudioFormat) -> float:
    total = 0
    from .audio import open_source

    chunks = open_source(source, format=fmt)
    for chunk in chunks:
        total += len(chunk)
    return total / fmt.bytes_per_second


def run_bench(config: BenchConfig, *, progress: Callable[[SessionResult], None] | None = None,
              stop: Callable[[], bool] | None = None) -> BenchReport:
    """Run the sessions and measure; session failures are reported, not raised. ``stop`` is
    polled while they run: once it is true, no session starts and those open are closed.

    Raises:
        ConfigError: invalid options (nothing was sent).
        AudioSourceError: the source cannot be read.
        KeyboardInterrupt: ``stop`` became true (every session is closed, every thread joined).
    """
    options = config.check()
    from .audio import sample_path

    source = config.source or str(sample_path())
    seconds = _source_seconds(source, options.audio_format)
    client = ScribeClient(config.api_key, base_url=config.base_url)
    cpu0, wall0 = time.process_time(), time.monotonic()
    results: list[SessionResult] = []
    workers = min(config.concurrency, config.sessions)
    live = _Live()
    stopped = False
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="scribe-bench"
                                               ) as pool:
        pending = {pool.submit(_run_session, config, client, i + 1, source, live)
                   for i in range(config.sessions)}
        try:
            while pending and not stopped:
                # Polled, not waited on forever: the main thread must see ``stop`` (a Ctrl+C
                # is only counted by the command's handler, never raised in a wait).
                done, pending = concurrent.futures.wait(
                    pending, _STOP_POLL, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    results.append(result)
                    if progress is not None:
                        progress(result)
                stopped = stop is not None and stop()
        finally:
            if pending:  # stopped, or an error: nothing new starts, what runs ends now
                for future in pending:
                    future.cancel()
                live.close_all()
    if stopped:
        raise KeyboardInterrupt
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    name = os.path.basename(source) if config.source else "the bundled sample"
    return BenchReport(config, tuple(sorted(results, key=lambda r: r.index)), cpu, wall, name,
                       seconds)
