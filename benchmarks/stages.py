"""Where the round trip goes: ``commit()`` -> ``CommittedTranscript``, split into stages.

``python -m benchmarks.stages [--samples N]`` runs the echo-commit server in another process
and, in this one, the scribe-sync iterator on the main thread with the raw websocket-client loop
interleaved per sample (the method of benchmark 1). The session's own steps are timed by
wrapping four of its methods (a diagnostic only: wrapping adds a little to every stage):

- ``commit() returned``: the commit's frame is built and written;
- ``answer bytes read``: the first bytes of the answer are in the session's buffer;
- ``event queued``: the frame is parsed, decoded and applied, the event is in the queue;
- ``in user code``: the iterator has returned it.

For the raw loop, ``send()`` returned and ``recv()`` returned (parsed and ``json.loads``-ed)
are the matching points. Medians in µs from the start of the sample; prints JSON and a table.
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
from ._rtclient import CHUNKS, _ws

__all__ = ["run"]


def _wrap(owner: Any, name: str, marks: dict[str, int], key: str, when: Callable[[Any], bool]
          ) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if when(result):
            marks.setdefault(key, time.monotonic_ns())
        return result

    setattr(owner, name, wrapper)


def run(samples: int = 300, quiet: float = 0.003) -> dict[str, Any]:
    import scribe_sync.session  # noqa: F401  (loads the driver in its order)
    from scribe_sync import CommittedTranscript, ScribeClient
    from scribe_sync._driver import Driver
    from scribe_sync._transport import WebSocketTransport

    marks: dict[str, int] = {}
    _wrap(WebSocketTransport, "send_text", marks, "written", lambda r: True)
    _wrap(WebSocketTransport, "_fill", marks, "read", lambda r: bool(r[0]))
    _wrap(Driver, "_deliver", marks, "queued", lambda r: True)
    ours: list[dict[str, int]] = []
    raw: list[dict[str, int]] = []
    with ServerProcess.echo() as server:
        session = ScribeClient("bench-key", base_url=server.base_url).connect(
            audio_format="pcm_16000")
        ws = _ws(server.base_url)
        sock = ws.sock
        commit = frame(b"", commit=True)
        for i in range(samples + 10):
            for chunk in CHUNKS:
                session.send_audio(chunk)
            try:
                while True:
                    session.recv(timeout=quiet)
            except TimeoutError:
                pass
            marks.clear()
            t0 = time.monotonic_ns()
            session.commit()
            returned = time.monotonic_ns()
            for event in session:
                if isinstance(event, CommittedTranscript):
                    break
            done = time.monotonic_ns()
            if i >= 10:
                ours.append({"commit() returned": returned - t0, "written": marks["written"] - t0,
                             "answer bytes read": marks["read"] - t0,
                             "event queued": marks["queued"] - t0, "in user code": done - t0})
            for chunk in CHUNKS:
                ws.send(frame(chunk))
            while select.select([sock], [], [], quiet)[0]:
                ws.recv()
            t0 = time.monotonic_ns()
            ws.send(commit)
            sent = time.monotonic_ns()
            while json.loads(ws.recv())["message_type"] != "committed_transcript":
                pass
            done = time.monotonic_ns()
            if i >= 10:
                raw.append({"send() returned": sent - t0, "in user code": done - t0})
        session.close()
        ws.close()

    def medians(rows: list[dict[str, int]]) -> dict[str, float]:
        return {k: statistics.median(r[k] for r in rows) / 1000 for k in rows[0]}

    return {"samples": samples, "scribe_sync_iterator_us": medians(ours), "raw_us": medians(raw)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    result = run(args.samples)
    print(json.dumps(result, indent=2))
    for name in ("scribe_sync_iterator_us", "raw_us"):
        print(f"\n{name}")
        for stage, value in result[name].items():
            print(f"  {stage:20s} {value:8.0f} µs")


if __name__ == "__main__":
    main()
