"""Run the mock server in its own process: ``python -m benchmarks._mockproc '<settings JSON>'``.

The JSON holds :class:`mock_server.Settings` fields. Prints one JSON line (``{"port": ...,
"pid": ...}``) once listening, then serves until its stdin closes (the parent is done or died)
or it receives SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any

from mock_server import MockServer

__all__ = ["main"]


def main() -> None:
    options: dict[str, Any] = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        stop.set()

    threading.Thread(target=watch_stdin, name="bench-mock-stdin", daemon=True).start()
    with MockServer(**options) as server:
        print(json.dumps({"port": server.port, "pid": os.getpid()}), flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
