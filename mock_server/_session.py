"""The WebSocket session driver: one aiohttp WebSocket connection runs one answer source.

The source (:class:`~mock_server.context.AnswerSource`, by default the rule
:class:`~mock_server.engine.Engine`) comes from the server context's factory. Frames and
times go into it, sans-I/O; of the actions it returns, journal records are
written at once under the journal's lock (:meth:`~mock_server.journal.Journal.write`), and
the wire actions (send, close, drop) are executed in order, through a delaying sender task
once a frame is delayed (the live timing profile, scenario delays). The
journal's close code is decided here too: ours when we closed, the client's when it did, the
protocol error's when aiohttp refused a frame (1009 too big, 1007 invalid UTF-8, 1002), and
1006 when the TCP connection ended without a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from aiohttp import WSMsgType, web

from ._wire import END_TYPES, encode, peer_close
from .actions import ERROR_TYPES, Action, Close, Drop, Record, Send, error_actions
from .bench import BenchStream
from .context import AnswerSource, ServerContext, SessionSetup
from .journal import JournalFrame, SessionLog, key_label, redact_query, secrets_of
from .params import InvalidParams, parse_params
from .scenarios import Delay

__all__ = ["AUTH_ERROR_TEXT", "SEND_QUEUE_LIMIT", "WebSocketSession"]

AUTH_ERROR_TEXT: Final = "You must be authenticated to use this endpoint."  # live (CAP-A)
_ERROR_TYPES: Final = frozenset(ERROR_TYPES)
_READ_TIMEOUT_REASON: Final = "read timeout"  # invented: the live service's bound is unknown
#: Frames that may wait in a session's send queue (delayed answers, docs/mock.md "Guards"):
#: with more, the session stops reading its client until some have gone out, the backpressure
#: of an undelayed session (which waits for each send), so a client that never reads cannot
#: make the queue grow without bound.
SEND_QUEUE_LIMIT: Final = 64
_Action = Send | Close | Drop


class WebSocketSession:
    """Runs one WebSocket connection: engine in, frames out. Event loop thread only."""

    def __init__(
        self, ctx: ServerContext, request: web.Request, ws: web.WebSocketResponse, log: SessionLog
    ) -> None:
        self.ctx = ctx
        self.journal = ctx.journal
        self.ws = ws
        self.transport = request.transport
        self.log = log
        self.loop = asyncio.get_running_loop()
        self.engine: AnswerSource | None = None
        self.bench: BenchStream | None = None  # benchmarks only: the tick stream
        self.stamp = ctx.settings.stamp_send_times
        self.delay: Delay | None = None
        self._rng = random.Random(0)
        self.queue: asyncio.Queue[tuple[float, _Action]] | None = None
        self.sender: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.done = False
        self.our_close: tuple[int, str] | None = None
        self.peer_close: tuple[int, str] | None = None
        self.send_failed = False
        self.read_deadline: float | None = None  # read_timeout_secs after the last frame

    # ---------------------------------------------------------------------------- execution

    async def execute(self, actions: Sequence[_Action]) -> None:
        for action in actions:
            if self.done:
                return
            if self.queue is None and isinstance(action, Send) and action.delay > 0:
                self._start_sender()  # a timing delay: from now on every frame is queued
            if self.queue is not None:
                await self._enqueue((self._due(action), action))
                if not isinstance(action, Send):
                    self.done = True
            else:
                await self._perform(action)

    def _start_sender(self) -> None:
        self.queue = asyncio.Queue(SEND_QUEUE_LIMIT)
        self.sender = self.loop.create_task(self._run_sender())

    async def _enqueue(self, item: tuple[float, _Action]) -> None:
        """Queue a frame for the sender; while the queue is full, wait (reading nothing more
        from the client) until the sender takes one, or ends (then nothing more goes out)."""
        queue, sender = self.queue, self.sender
        assert queue is not None and sender is not None
        if not queue.full():
            queue.put_nowait(item)
            return
        put = asyncio.ensure_future(queue.put(item))
        try:
            await asyncio.wait((put, sender), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not put.done():
                put.cancel()
                self.done = True

    def _due(self, action: _Action) -> float:
        """When a queued action may be performed: the engine's timing delay of a Send, plus
        the scenario's delay."""
        due = self.loop.time() + (action.delay if isinstance(action, Send) else 0.0)
        delay = self.delay
        if delay is None:
            return due
        if isinstance(action, Send) and isinstance(action.payload, dict):
            kinds = delay.message_types
            if kinds is not None and action.payload.get("message_type") not in kinds:
                return due
        jitter = self._rng.uniform(0.0, delay.jitter_secs) if delay.jitter_secs else 0.0
        return due + delay.fixed_secs + jitter

    async def _run_sender(self) -> None:
        assert self.queue is not None
        last_due = 0.0
        while True:
            due, action = await self.queue.get()
            due = max(due, last_due)  # order is preserved: a message never overtakes another
            last_due = due
            wait = due - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._perform(action)
            # A close or drop ends the sender; so does a send that found the connection gone
            # (the handler is then waiting for this task, and nothing else will be queued).
            # Not `done`: it is set as soon as a close is queued, and the frames queued before
            # that close (an error message) must still go out, in order.
            if not isinstance(action, Send) or self.send_failed:
                return

    async def _perform(self, action: _Action) -> None:
        if isinstance(action, Send):
            payload = action.payload
            message_type: str | None = None
            if isinstance(payload, dict):
                if self.stamp:
                    payload["_mock_sent_ns"] = time.monotonic_ns()
                data: bytes = encode(payload)
                opcode = WSMsgType.TEXT
                message_type = payload.get("message_type")
            elif isinstance(payload, str):
                data, opcode = payload.encode("utf-8", "surrogatepass"), WSMsgType.TEXT
            else:
                data, opcode = payload, WSMsgType.BINARY
            # Journaled before the send, so that it is ordered with the input.
            self.journal.add_sent(
                self.log,
                JournalFrame("out", time.monotonic(), message_type, payload, len(data)),
                error=message_type in _ERROR_TYPES,
            )
            try:
                await self.ws.send_frame(data, opcode)
            except (ConnectionError, RuntimeError):
                # The connection is gone; the handler journals how it ended.
                self.done = self.send_failed = True
        elif isinstance(action, Close):
            await self.close(action.code, action.reason)
        else:
            self.done = True
            self.our_close = (1006, "")
            self.journal.close(self.log, 1006, "")
            if self.transport is not None:
                self.transport.abort()

    async def close(self, code: int, reason: str) -> None:
        """Close the connection from our side (an engine action, or the server shutting down)."""
        if self.our_close is not None:
            return
        self.done = True
        self.our_close = (code, reason)
        sender = self.sender
        if sender is not None and sender is not asyncio.current_task():
            # Closed from outside the queue (the server shutting down): whatever still waits
            # in it can no longer go out, and a sender blocked on a client that does not read
            # would hold the session open.
            sender.cancel()
        # Journal first: the closing handshake may wait for the client's close frame.
        self.journal.close(self.log, code, reason)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        """Cut the TCP connection (shutdown after the grace period)."""
        if self.transport is not None:
            self.transport.abort()

    def _engine(self, call: Callable[..., Sequence[Action]], *args: Any) -> list[_Action]:
        """Call the engine, write the journal records it returned under the journal's lock
        (a snapshot never sees half an update), and return the wire actions."""
        records: list[Record] = []
        wire: list[_Action] = []
        for action in call(*args):  # one pass: this runs for every frame
            if isinstance(action, Record):
                records.append(action)
            else:
                wire.append(action)
        if records:
            self.journal.write(self.log, records)
        return wire

    async def _read_close(self) -> None:
        """After a failed send, read what the client sent before it went: usually its close
        frame (1009 when it refused a message of ours as too big)."""

        async def read() -> None:
            while self.peer_close is None:
                message = await self.ws.receive()
                if message.type is WSMsgType.CLOSE:
                    self.peer_close = peer_close(message)
                elif message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    return

        with contextlib.suppress(Exception):
            await asyncio.wait_for(read(), 1.0)

    # ---------------------------------------------------------------------------- timer

    def _deadline(self) -> float | None:
        engine = self.engine
        if engine is None or self.done:
            return None
        times = [engine.deadline(), self.read_deadline]
        if self.bench is not None and not (engine.closed or engine.stalled):
            times.append(self.bench.deadline())
        return min((t for t in times if t is not None), default=None)

    def _arm(self) -> None:
        deadline = self._deadline()
        if deadline is None:
            return
        if self.timer is not None:
            if self.timer.when() <= deadline:
                return  # fires first and re-arms itself
            self.timer.cancel()
        self.timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        engine = self.engine
        deadline = self._deadline()
        if engine is None or deadline is None:
            return
        now = self.loop.time()
        if now < deadline:
            self.timer = self.loop.call_at(deadline, self._on_timer)
            return
        actions: list[_Action] = []
        if self.read_deadline is not None and now >= self.read_deadline:
            # No complete frame for read_timeout_secs: perhaps a half-sent one holding memory.
            self.read_deadline = None
            self.ctx.tasks.spawn(self.execute([Close(1008, _READ_TIMEOUT_REASON)]))
            return
        if self.bench is not None and not (engine.closed or engine.stalled):
            actions.extend(Send(payload) for payload in self.bench.tick(now))
        actions.extend(self._engine(engine.tick, now))
        if actions:
            self.ctx.tasks.spawn(self.execute(actions))
        self._arm()  # a periodic deadline (the benchmark stream) needs the next one

    # ---------------------------------------------------------------------------- lifecycle

    async def run(self, query: dict[str, list[str]], api_key: str | None) -> None:
        """Authenticate, run the session, and journal how the connection ended."""
        try:
            await self._authenticate_and_run(query, api_key)
        finally:
            if self.our_close is None:
                if self.peer_close is not None:
                    code, reason = self.peer_close
                else:
                    code = self.ws.close_code or 1006
                    reason = ""
                self.journal.close(self.log, code, reason)
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _authenticate_and_run(self, query: dict[str, list[str]], api_key: str | None) -> None:
        ctx = self.ctx
        registry = ctx.registry
        tokens = query.get("token")
        token = tokens[-1] if tokens else None
        key: str | None
        if token:
            # The token wins over any key (PySDK realtime/scribe.py docstring, docs/protocol.md §1).
            key = await ctx.admin.consume_token(token)
        else:
            key = api_key if registry.key_ok(api_key) else None
        with self.journal.lock:
            self.log.key_label = None if key is None else key_label(key)
            if key is not None:  # (a token's key: the request did not carry it)
                self.log.scrubber = self.log.scrubber.adding(secrets_of({}, {}, (key,)))
        if key is None:
            await self.execute(error_actions("auth_error", AUTH_ERROR_TEXT))
            return
        if not registry.acquire(key):
            # invented text
            limit = ctx.settings.max_sessions_per_key
            text = f"Too many concurrent sessions for this API key (limit {limit})."
            await self.execute(error_actions("rate_limited", text))
            return
        try:
            await self._run_session(key, query)
        finally:
            registry.release(key)

    async def _run_session(self, key: str, query: dict[str, list[str]]) -> None:
        ctx = self.ctx
        settings = ctx.settings
        try:
            params = parse_params(query, settings.models)
        except InvalidParams as exc:
            await self.execute(error_actions("invalid_request", str(exc)))
            return
        scenario, number = ctx.registry.scenario_for(key)
        with self.journal.lock:
            self.log.scenario = None if scenario is None else (scenario.name or "<unnamed>")
        engine = ctx.sources(
            SessionSetup(
                settings=settings,
                params=params,
                query=redact_query(query, secrets_of({"xi-api-key": key}, query,
                                                     settings.api_keys)),
                key_label=key_label(key),
                index=self.log.index,
                scenario=scenario,
                scenario_session=number,
                now=self.loop.time(),
            )
        )
        self.engine = engine
        if scenario is not None and scenario.delay is not None:
            self.delay = scenario.delay
            self._rng = random.Random(f"{scenario.delay.seed}:{number}")
            self._start_sender()
        await self.execute(self._engine(engine.start, self.loop.time()))
        if settings.bench_stream_count > 0 and not (engine.closed or engine.stalled):
            self.bench = BenchStream(
                settings.bench_stream_count,
                settings.bench_stream_interval_secs,
                start=self.loop.time(),
            )
        read_timeout = settings.read_timeout_secs
        if read_timeout is not None:
            self.read_deadline = self.loop.time() + read_timeout
        self._arm()
        ws = self.ws
        try:
            while not self.done:
                message = await ws.receive()
                kind = message.type
                if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                    now = self.loop.time()
                    if read_timeout is not None:
                        self.read_deadline = now + read_timeout
                    actions = self._engine(engine.receive, message.data, now)
                    if actions:
                        await self.execute(actions)
                    if self.timer is None:
                        # (A set timer fires no later than any new deadline: a frame only
                        # moves the idle and read deadlines later, and a timer that fires
                        # early re-arms itself; so most frames skip the computation.)
                        self._arm()
                    continue
                if kind is WSMsgType.CLOSE:
                    self.peer_close = peer_close(message)
                elif kind is WSMsgType.ERROR:
                    # aiohttp refused a frame and closed with its code (1009 too big, 1007
                    # invalid UTF-8, 1002); a connection error has no code (1006).
                    code = getattr(message.data, "code", None)
                    self.peer_close = (code if isinstance(code, int) else 1006, "")
                elif kind is WSMsgType.CLOSED and self.peer_close is None:
                    self.peer_close = (1006, "")  # EOF without a close frame
                if kind in END_TYPES or kind is WSMsgType.ERROR:
                    break
            if self.send_failed and self.our_close is None and self.peer_close is None:
                await self._read_close()
        finally:
            if self.timer is not None:
                self.timer.cancel()
            if self.sender is not None:
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    if self.done:
                        await self.sender
                    else:
                        self.sender.cancel()
                        await self.sender
