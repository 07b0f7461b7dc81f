"""Where the round trip goes: ``commit()`` -> ``CommittedTranscript``, taken apart.

``python -m benchmarks.stages [--samples N]`` runs the echo-commit server in one process and
each contender in a process of its own, interleaved per sample, as benchmark 1 does. A sample
is benchmark 1's (five chunks, settle, then the clock), split where any contender can be
observed: the *send path* ends when the commit call returns, the *receive path* is the rest.

The contenders add scribe-sync's layers one at a time to the 20-line client:

- ``20-line``: websocket-client, a reader thread, ``json.loads``, ``queue.Queue`` (the baseline);
- ``parts``: the same 20 lines over scribe-sync's own parts: its transport and framing
  (``scribe_sync._transport``), its decoder (typed events) and its ``Assembler`` in place of the
  queue. No session: no commit accounting, replay buffer, answer rules or transcript;
- ``rules``: ``parts`` plus the session's rules, called as the session calls them: each chunk
  and the commit accounted for by ``SessionState`` under a lock before it is written, each
  answer applied by ``SessionState.receive`` under that lock and fed to a ``Transcript`` before
  it is queued. Still no ``Session``: no API layer, no timers, no second lock;
- ``iterator``: a ``Session`` and ``for event in session`` (benchmark 1's contender).

``parts`` minus ``20-line`` is the cost of the parts; ``rules`` minus ``parts`` the cost of the
rules' work per round trip (the commit ledger, the replay buffer, the answer filter, the
transcript); ``iterator`` minus ``rules`` what the session adds around them.
A diagnostic: it imports private modules, which no benchmark target does. Prints JSON and a
table of medians and paired medians against the 20-line client, in µs.
"""

from __future__ import annotations

import argparse
import base64
import json
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ._common import API_KEY, QUERY, RATE, ServerProcess, frame, workers
from ._rtclient import CHUNKS, connect_raw

__all__ = ["CONTENDERS", "run"]

CONTENDERS = ("20-line", "parts", "rules", "iterator")
Split = tuple[int, int]  # (send path, round trip), ns
Sampler = Callable[[], Split]


def _text(audio: bytes, commit: bool) -> bytes:
    return json.dumps({"message_type": "input_audio_chunk", "commit": commit,
                       "audio_base_64": base64.b64encode(audio).decode(),
                       "sample_rate": RATE}).encode()


def _threaded(url: str, quiet: float, ours: bool, rules: bool = False
              ) -> tuple[Sampler, Callable[[], None]]:
    """The 20-line client; ``ours``: over scribe-sync's transport, decoder and Assembler;
    ``rules``: and the session's rules on both paths."""
    send: Callable[[Any], object]
    put: Callable[[Any], object]
    empty: type[Exception]
    if ours:
        from scribe_sync._assembler import Assembler
        from scribe_sync._transport import TLSSettings, WebSocketTransport
        from scribe_sync.messages import CommittedTranscript
        from scribe_sync.protocol import decode

        transport = WebSocketTransport.connect(
            url.replace("http", "ws", 1) + QUERY, {"xi-api-key": API_KEY}, timeout=10,
            io_timeout=10, tls=TLSSettings(), proxy=None)
        transport.recv(None)  # session_started

        def read() -> Any:
            got = transport.recv(None)
            return None if got is None or got.kind == "close" else got.data

        assembler: Assembler[Any] = Assembler(None)
        send, put, empty = transport.send_text, assembler.put, TimeoutError
        end: Callable[[], None] = assembler.close  # take() then returns None

        def get(timeout: float | None = None) -> Any:
            return assembler.take(timeout)

        loads: Callable[[Any], Any] = decode
        chunks: list[Any] = [_text(c, False) for c in CHUNKS]
        commit: Any = _text(b"", True)

        def answered(event: Any) -> bool:
            return isinstance(event, CommittedTranscript)

        if rules:
            send, put, chunks, commit = _ruled(transport, assembler)

        def close() -> None:
            transport.abort()  # the reader returns; stop() releases it after the join

        release: Callable[[], None] = transport.release
    else:
        ws = connect_raw(url)
        events: queue.Queue[Any] = queue.Queue()
        read, send, put, empty = ws.recv, ws.send, events.put, queue.Empty

        def end() -> None:
            events.put(None)

        def get(timeout: float | None = None) -> Any:
            return events.get(timeout=timeout)

        loads = json.loads
        chunks, commit = [frame(c) for c in CHUNKS], frame(b"", commit=True)

        def answered(event: Any) -> bool:
            return bool(event["message_type"] == "committed_transcript")

        def close() -> None:
            ws.close()

        def release() -> None:
            pass

    def reader() -> None:
        try:
            while message := read():
                put(loads(message))
        except Exception:  # the connection ended: the sample loop is over
            pass
        end()

    thread = threading.Thread(target=reader, name="stages-reader")
    thread.start()

    def sample() -> Split:
        for chunk in chunks:
            send(chunk)
        try:
            while True:
                get(timeout=quiet)
        except empty:
            pass
        t0 = time.monotonic_ns()
        send(commit)
        sent = time.monotonic_ns()
        while (event := get()) is not None and not answered(event):
            pass
        return sent - t0, time.monotonic_ns() - t0

    def stop() -> None:
        close()
        thread.join()
        release()  # (a transport's descriptors are freed once no thread waits on them)

    return sample, stop


def _ruled(transport: Any, assembler: Any) -> tuple[Callable[[Any], object],
                                                    Callable[[Any], object], list[Any], Any]:
    """``send`` and ``put`` through the session's rules, as its sender and reader call them."""
    from scribe_sync._state import SessionState
    from scribe_sync.messages import AudioFormat
    from scribe_sync.protocol import encode_audio_chunk
    from scribe_sync.transcript import Transcript

    state = SessionState(AudioFormat("pcm_16000"), twin_expected=False)
    transcript = Transcript()
    lock, mutex = threading.RLock(), threading.Lock()

    def send(audio: bytes | None) -> None:
        with mutex:
            with lock:
                now = time.monotonic()
                out = state.commit(now) if audio is None else state.audio(audio, None, now)
            for chunk in out:
                transport.send_text(encode_audio_chunk(chunk.audio, chunk.commit, RATE,
                                                       chunk.previous_text))

    def put(event: Any) -> None:
        with lock:
            delivered = state.receive(event, time.monotonic())
        for item in delivered:
            transcript.add(item)
            assembler.put(item)

    return send, put, list(CHUNKS), None


def _iterator(url: str, quiet: float) -> tuple[Sampler, Callable[[], None]]:
    from scribe_sync import CommittedTranscript, ScribeClient

    session = ScribeClient(API_KEY, base_url=url).connect(audio_format="pcm_16000")

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


def _worker(args: dict[str, Any]) -> None:
    name, url, quiet = args["client"], args["url"], float(args["quiet"])
    if name == "iterator":
        sample, close = _iterator(url, quiet)
    else:
        sample, close = _threaded(url, quiet, ours=name in ("parts", "rules"),
                                  rules=name == "rules")
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "q":
                break
            send, whole = sample()
            print(f"{send} {whole}", flush=True)
    finally:
        close()


def run(samples: int = 600, quiet: float = 0.003, warmup: int = 30) -> dict[str, Any]:
    splits: dict[str, list[Split]] = {name: [] for name in CONTENDERS}
    with ServerProcess.echo() as server:
        args = [{"worker": True, "client": c, "url": server.base_url, "quiet": quiet}
                for c in CONTENDERS]
        with workers("benchmarks.stages", args, stdin=True) as procs:
            for proc in procs:
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    assert proc.stderr is not None
                    raise RuntimeError(f"a contender died: {proc.stderr.read()[-2000:]}")
            for i in range(warmup + samples):
                for k in range(len(procs)):
                    j = (i + k) % len(procs)
                    proc = procs[j]
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write("s\n")
                    proc.stdin.flush()
                    send, whole = map(int, proc.stdout.readline().split())
                    if i >= warmup:
                        splits[CONTENDERS[j]].append((send, whole))
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("q\n")
                proc.stdin.flush()
            for proc in procs:
                proc.wait(30)
    base = splits["20-line"]
    out: dict[str, Any] = {"samples": samples}
    for name, rows in splits.items():
        out[name] = {
            "send path": statistics.median(s for s, _ in rows) / 1000,
            "receive path": statistics.median(t - s for s, t in rows) / 1000,
            "round trip": statistics.median(t for _, t in rows) / 1000,
            "paired send path": statistics.median(
                s - b for (s, _), (b, _) in zip(rows, base, strict=True)) / 1000,
            "paired receive path": statistics.median(
                (t - s) - (bt - bs) for (s, t), (bs, bt) in zip(rows, base, strict=True)) / 1000,
            "paired round trip": statistics.median(
                t - bt for (_, t), (_, bt) in zip(rows, base, strict=True)) / 1000,
        }
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("{"):
        _worker(json.loads(sys.argv[1]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=600)
    args = parser.parse_args()
    result = run(args.samples)
    print(json.dumps(result, indent=2))
    print(f"\nmedians over {args.samples} samples, µs (paired: median of the difference "
          "from the 20-line client in the same sample)")
    print(f"{'contender':10s} {'send':>6s} {'receive':>8s} {'round trip':>11s}   "
          f"{'paired send':>11s} {'paired receive':>14s} {'paired round trip':>17s}")
    for name in CONTENDERS:
        r = result[name]
        print(f"{name:10s} {r['send path']:6.0f} {r['receive path']:8.0f} "
              f"{r['round trip']:11.0f}   {r['paired send path']:+11.0f} "
              f"{r['paired receive path']:+14.0f} {r['paired round trip']:+17.0f}")


if __name__ == "__main__":
    main()
