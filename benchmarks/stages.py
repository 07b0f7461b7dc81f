"""Where the round trip goes: ``commit()`` -> ``CommittedTranscript``, split at public boundaries.

``python -m benchmarks.stages [--samples N]`` runs the echo-commit server in another process
and, in this one, three clients interleaved per sample (the method of benchmark 1): the
scribe-sync iterator, the 20-line reader-thread + ``queue.Queue`` client and the raw
websocket-client loop. Each sample is split at the points any user can observe, so that the
diagnostic never depends on the library's private parts:

- ``send path``: the clock starts, ``commit()`` (or ``ws.send(commit)``) returns;
- ``receive path``: from there until the ``CommittedTranscript`` is in user code (the server's
  answer, reading, decoding and every hand-off);
- ``round trip``: the sum.

Medians in µs; prints JSON and a table. A diagnostic, not a contender: every client shares this
process (and its GIL), unlike benchmark 1.
"""

from __future__ import annotations

import argparse
import json
import select
import statistics
import time
from collections.abc import Callable
from typing import Any

from ._common import ServerProcess, frame
from ._rtclient import CHUNKS, connect_raw, threaded

__all__ = ["run"]

Split = tuple[int | None, int]  # (send path, round trip) in ns; None: not split
Sampler = Callable[[], Split]


def _raw(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    ws = connect_raw(url)
    sock = ws.sock
    commit = frame(b"", commit=True)

    def sample() -> Split:
        for chunk in CHUNKS:
            ws.send(frame(chunk))
        while select.select([sock], [], [], quiet)[0]:
            ws.recv()
        t0 = time.monotonic_ns()
        ws.send(commit)
        sent = time.monotonic_ns()
        while json.loads(ws.recv())["message_type"] != "committed_transcript":
            pass
        return sent - t0, time.monotonic_ns() - t0

    return sample, ws.close


def _iterator(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    from scribe_sync import CommittedTranscript, ScribeClient

    session = ScribeClient("bench-key", base_url=url).connect(audio_format="pcm_16000")

    def sample() -> Split:
        for chunk in CHUNKS:
            session.send_audio(chunk)
        try:
            while True:
                session.recv(timeout=quiet)
        except TimeoutError:
            pass
        t0 = time.monotonic_ns()
        session.commit()
        sent = time.monotonic_ns()
        for event in session:
            if isinstance(event, CommittedTranscript):
                break
        return sent - t0, time.monotonic_ns() - t0

    return sample, session.close


def _threaded(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    """The 20-line client of benchmark 1, whole (its send path is one ``ws.send``, as the raw
    loop's)."""
    whole, close = threaded(url, quiet)

    def sample() -> Split:
        return None, whole()

    return sample, close


CLIENTS: dict[str, Callable[[str, float], tuple[Sampler, Callable[[], None]]]] = {
    "scribe-sync iterator": _iterator, "20-line reader thread": _threaded, "raw loop": _raw}


def run(samples: int = 300, quiet: float = 0.003, warmup: int = 10) -> dict[str, Any]:
    splits: dict[str, list[Split]] = {name: [] for name in CLIENTS}
    with ServerProcess.echo() as server:
        opened = {name: make(server.base_url, quiet) for name, make in CLIENTS.items()}
        names = list(opened)
        try:
            for i in range(warmup + samples):
                for k in range(len(names)):
                    name = names[(i + k) % len(names)]
                    split = opened[name][0]()
                    if i >= warmup:
                        splits[name].append(split)
        finally:
            for _, close in opened.values():
                close()
    out: dict[str, Any] = {"samples": samples}
    for name, rows in splits.items():
        whole = statistics.median(t for _, t in rows) / 1000
        sent = [(s, t) for s, t in rows if s is not None]
        if not sent:
            out[name] = {"send path": None, "receive path": None, "round trip": whole}
            continue
        out[name] = {"send path": statistics.median(s for s, _ in sent) / 1000,
                     "receive path": statistics.median(t - s for s, t in sent) / 1000,
                     "round trip": whole}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    result = run(args.samples)
    print(json.dumps(result, indent=2))
    print(f"\nmedians over {args.samples} samples, µs")
    print(f"{'client':24s} {'send path':>10s} {'receive path':>13s} {'round trip':>11s}")
    for name in CLIENTS:
        r = result[name]
        send, receive = (f"{r[k]:.0f}" if r[k] is not None else "-"
                         for k in ("send path", "receive path"))
        print(f"{name:24s} {send:>10s} {receive:>13s} {r['round trip']:11.0f}")


if __name__ == "__main__":
    main()
