"""Soak: reconnecting sessions against the mock's seeded random faults, proven by its journal.

``python -m benchmarks.soak [--sessions N] [--concurrency C] [--segments S] [--seeds 1,2,3]
[--rate R]`` prints one line per seed and exits non-zero if any run lost or repeated anything.
``tests/test_soak.py`` runs a small version in the test suite.

For every client session the run checks that:

- every call returned within its bound (no hang);
- every accepted audio byte reached the mock, in order: each mock connection's audio is a slice
  of the session's audio that starts at a commit boundary no later than where the previous
  connection's audio ended (a replay), and the last one ends at the end of the audio;
- the final transcript equals the fault-free transcript of the same audio.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync import ReconnectPolicy, ScribeClient, ScribeError

__all__ = ["SoakConfig", "SoakReport", "main", "run_soak"]

CHUNK = 3200  # 100 ms of pcm_16000
#: Faults the soak draws from (docs/protocol.md §5/§6 endings a client meets in the wild).
ACTIONS = ("drop", "close", "garbage", "error", "stall")
ERROR_TYPES = ("transcriber_error", "resource_exhausted", "queue_overflow",
               "session_time_limit_exceeded", "error")


@dataclass(frozen=True)
class SoakConfig:
    sessions: int = 4
    concurrency: int = 4
    segments: int = 5
    seed: int = 1
    rate: float = 0.04  # chance of a fault per received chunk
    speech_secs: float = 1.0
    silence_secs: float = 0.3
    call_bound_secs: float = 60.0


@dataclass
class SoakReport:
    seed: int
    sessions: int = 0
    connections: int = 0
    reconnects: int = 0
    malformed_frames: int = 0
    server_errors: int = 0
    bytes_sent: int = 0
    bytes_lost: int = 0
    transcripts_equal: int = 0
    elapsed_secs: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def faults_injected(self) -> int:
        """Faults that reached a client: reconnects forced, garbage frames, error messages."""
        return self.reconnects + self.malformed_frames + self.server_errors

    def line(self) -> str:
        return (f"seed={self.seed} sessions={self.sessions} connections={self.connections} "
                f"faults={self.faults_injected} (reconnects={self.reconnects}, "
                f"garbage={self.malformed_frames}, errors={self.server_errors}) "
                f"audio={self.bytes_sent / 32000:.1f}s lost={self.bytes_lost}B "
                f"exact_transcripts={self.transcripts_equal}/{self.sessions} "
                f"failures={len(self.failures)} in {self.elapsed_secs:.1f}s")


def _segments(config: SoakConfig, index: int) -> list[bytes]:
    return [
        speech(config.speech_secs, seed=config.seed * 100_000 + index * 100 + k)
        + silence(config.silence_secs)
        for k in range(config.segments)
    ]


def _key(index: int) -> str:
    return f"soak-key-{index:04d}"


def _drive(client: ScribeClient, segments: list[bytes], reconnect: ReconnectPolicy | None,
           bound: float) -> tuple[Any, list[str]]:
    """One session: send each segment in 100 ms chunks, commit after each, finish."""
    problems: list[str] = []
    session = client.connect(reconnect=reconnect)
    try:
        for segment in segments:
            for start in range(0, len(segment), CHUNK):
                began = time.monotonic()
                session.send_audio(segment[start : start + CHUNK])
                if time.monotonic() - began > bound:
                    problems.append("send_audio exceeded its bound")
            session.commit()
        began = time.monotonic()
        session.finish()
        if time.monotonic() - began > bound:
            problems.append("finish exceeded its bound")
    except (ScribeError, TimeoutError) as exc:
        problems.append(f"failed: {exc!r}")
    finally:
        session.close()
    return session, problems


def _check_journal(records: list[Any], audio: bytes, boundaries: list[int]) -> tuple[int, str]:
    """Bytes lost, and a problem description ('' when the journal proves delivery)."""
    covered = 0
    for record in records:
        if record.audio_bytes == 0:
            continue
        starts = [b for b in boundaries if b <= covered
                  and hashlib.sha256(audio[b : b + record.audio_bytes]).hexdigest()
                  == record.audio_sha256]
        if not starts:
            return len(audio) - covered, (
                f"connection {record.index}: its {record.audio_bytes} bytes are not a slice of "
                f"the audio starting at a commit boundary at or before byte {covered}"
            )
        covered = max(covered, max(starts) + record.audio_bytes)
    lost = len(audio) - covered
    return lost, "" if lost == 0 else f"{lost} bytes never reached the server"


def run_soak(config: SoakConfig) -> SoakReport:
    """Run one soak and return its report (see the module docstring for what is checked)."""
    report = SoakReport(seed=config.seed, sessions=config.sessions)
    started = time.monotonic()
    all_segments = [_segments(config, i) for i in range(config.sessions)]

    # The reference: the same audio through a mock without faults.
    expected: list[str] = []
    with MockServer(idle_timeout_secs=None, journal_frames=False) as clean:
        for i, segments in enumerate(all_segments):
            client = ScribeClient(_key(i), base_url=clean.base_url, keepalive_interval=None)
            session, _ = _drive(client, segments, None, config.call_bound_secs)
            expected.append(session.transcript)

    scenario = {
        "name": f"soak-{config.seed}",
        "random_faults": {"seed": config.seed, "rate": config.rate, "actions": list(ACTIONS),
                          "error_types": list(ERROR_TYPES)},
        "delay": {"jitter_secs": 0.01, "seed": config.seed},
    }
    policy = ReconnectPolicy(initial_delay=0.02, max_delay=0.2, max_attempts=12, budget=60.0,
                             answer_timeout=1.0, seed=config.seed)
    results: dict[int, tuple[Any, list[str]]] = {}
    gate = threading.Semaphore(config.concurrency)

    def worker(index: int, server: MockServer) -> None:
        with gate:
            client = ScribeClient(_key(index), base_url=server.base_url, keepalive_interval=None,
                                  finish_timeout=30.0)
            try:
                results[index] = _drive(client, all_segments[index], policy,
                                        config.call_bound_secs)
            except (ScribeError, TimeoutError) as exc:
                results[index] = (None, [f"session {index} failed: {exc!r}"])

    with MockServer(scenario=scenario, idle_timeout_secs=None, journal_frames=False) as server:
        threads = [threading.Thread(target=worker, args=(i, server), name=f"soak-session-{i}")
                   for i in range(config.sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(config.call_bound_secs * (config.segments + 2))
            if thread.is_alive():
                report.failures.append(f"{thread.name} hung")
        try:
            records = server.wait_idle(timeout=30, count=len(server.sessions()))
        except TimeoutError:
            records = server.sessions()
            report.failures.extend(
                f"mock connection {r.index} still open (key {r.key_label}, {r.chunks} chunks, "
                f"{r.commits} commits, errors {list(r.errors)}, scenario session "
                f"{r.session_id})" for r in records if not r.closed
            )

    for index in range(config.sessions):
        session, problems = results.get(index, (None, ["no result"]))
        report.failures.extend(f"session {index}: {p}" for p in problems)
        audio = b"".join(all_segments[index])
        report.bytes_sent += len(audio)
        if session is None:
            report.bytes_lost += len(audio)
            continue
        stats = session.stats
        report.reconnects += stats.reconnects
        report.malformed_frames += stats.malformed_frames
        # The journal labels a key by its last four characters (no secret in it).
        mine = [r for r in records if (r.key_label or "").endswith(_key(index)[-4:])]
        report.connections += len(mine)
        report.server_errors += sum(len(r.errors) for r in mine)
        boundaries = [k * len(all_segments[index][0]) for k in range(config.segments + 1)]
        lost, problem = _check_journal(mine, audio, boundaries)
        report.bytes_lost += lost
        if problem:
            report.failures.append(f"session {index}: {problem}")
        if session.transcript == expected[index]:
            report.transcripts_equal += 1
        else:
            report.failures.append(
                f"session {index}: transcript {session.transcript!r} != {expected[index]!r}"
            )
        for thread in (session._reader, session._dispatcher):
            if thread is not None and thread.is_alive():
                report.failures.append(f"session {index}: thread {thread.name} still running")
    report.elapsed_secs = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--rate", type=float, default=0.04)
    args = parser.parse_args(argv)
    failed = False
    for seed in (int(s) for s in args.seeds.split(",")):
        report = run_soak(SoakConfig(sessions=args.sessions, concurrency=args.concurrency,
                                     segments=args.segments, seed=seed, rate=args.rate))
        print(report.line(), flush=True)
        for failure in report.failures[:20]:
            print("  FAIL", failure, flush=True)
        failed = failed or bool(report.failures) or report.bytes_lost > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
