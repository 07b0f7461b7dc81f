"""The echo-commit server: ``python -m benchmarks._echo '{"partial_every": 0}'``.

The least a Scribe-shaped server can do, so that a round trip through it is the client's own
cost: ``session_started`` on connect, a ``committed_transcript`` the moment a chunk with
``"commit": true`` arrives, and (with ``partial_every`` N > 0) a ``partial_transcript`` after
every N audio chunks, to give concurrent clients some events to decode. No VAD, no
transcriber, no journal, any path and any key accepted. It runs in its own process, like the
mock, and prints ``{"port": ..., "pid": ...}`` once listening; it stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from typing import Any

__all__ = ["main"]

_ids = itertools.count(1)


def _started() -> str:
    return json.dumps({"message_type": "session_started", "session_id": f"{next(_ids):032x}",
                       "config": {"sample_rate": 16000, "audio_format": "pcm_16000",
                                  "model_id": "scribe_v2_realtime"}})


COMMITTED = json.dumps({"message_type": "committed_transcript", "text": "echo"})
PARTIAL = json.dumps({"message_type": "partial_transcript", "text": "echo"})


async def serve(partial_every: int) -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws: ServerConnection) -> None:
        chunks = 0
        try:
            await ws.send(_started())
            async for message in ws:
                obj: dict[str, Any] = json.loads(message)
                if obj.get("commit"):
                    await ws.send(COMMITTED)
                elif obj.get("audio_base_64"):
                    chunks += 1
                    if partial_every and chunks % partial_every == 0:
                        await ws.send(PARTIAL)
        except ConnectionClosed:
            pass

    stdin_closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def watch() -> None:
        await reader.read()  # EOF: the parent is done or died
        stdin_closed.set()

    async with ws_serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None,
                        max_size=None, max_queue=None, backlog=1024) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
        watcher = asyncio.create_task(watch())
        await stdin_closed.wait()
        await watcher


def main() -> None:
    args: dict[str, Any] = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    asyncio.run(serve(int(args.get("partial_every", 0))))


if __name__ == "__main__":
    main()
