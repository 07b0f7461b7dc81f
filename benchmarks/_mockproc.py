"""Run a mock server in its own process: ``python -m benchmarks._mockproc '<settings JSON>'``.

Prints one JSON line (``{"port": ..., "pid": ...}``) once listening, then serves until its stdin
closes (the parent died or is done) or it receives SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any

import attrs

from mock_server import MockServer, Settings
from mock_server import journal as _journal

__all__ = ["main"]


class _Discard(list):  # type: ignore[type-arg]
    """A frame list that keeps nothing (a load test's journal)."""

    def append(self, item: Any) -> None:
        pass


def _drop_frames() -> None:
    # Until the mock's own ``journal_frames`` switch lands, load tests drop frames here.
    original = _journal.Journal.open

    def open_(self: _journal.Journal, **kwargs: Any) -> _journal.SessionLog:
        log = original(self, **kwargs)
        log.frames = _Discard()
        return log

    _journal.Journal.open = open_  # type: ignore[method-assign]


def main() -> None:
    options: dict[str, Any] = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    fields = attrs.fields_dict(Settings)
    journal_frames = options.pop("journal_frames", True)
    if "journal_frames" in fields:
        options["journal_frames"] = journal_frames
    elif not journal_frames:
        _drop_frames()
    unknown = set(options) - set(fields)
    if unknown:
        raise SystemExit(f"unknown mock settings: {sorted(unknown)}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    import os

    with MockServer(**options) as server:
        print(json.dumps({"port": server.port, "pid": os.getpid()}), flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
