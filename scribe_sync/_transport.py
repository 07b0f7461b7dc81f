"""The I/O seam: the only module that imports websocket-client.

It opens the WebSocket, sends text and close frames, receives frames with a readiness timeout,
and maps every websocket-client and socket exception to ours in one place (after httpcore's
habit). Nothing here knows the Scribe protocol; :mod:`scribe_sync.session` does.

What a misbehaving server can cause on receive (the only outcomes; tested by fuzzing):

===========================================================  ==================================
the server sends                                             :meth:`WebSocketTransport.recv`
===========================================================  ==================================
a text or binary message, whatever its content               a :class:`Frame` (the session
                                                             decodes it; undecodable ones are
                                                             counted and skipped)
ping, pong                                                   answered / ignored, never returned
a close frame                                                a ``"close"`` :class:`Frame`
a frame or fragmented message above ``max_message_size``     close 1009 sent, then
(refused from the frame header, before its payload is read)  ``ConnectionClosedError(code=1009)``
a protocol violation (reserved bits, unknown opcode, a       close 1002 sent, then
control frame over 125 bytes or fragmented, a stray          ``ConnectionClosedError(code=1002)``
continuation, a malformed close frame)
EOF or a reset                                               ``ConnectionClosedError(code=1006)``
===========================================================  ==================================

websocket-client opens the connection (TCP, proxy, TLS, the HTTP upgrade) through its public
API; frames are ours (:mod:`scribe_sync._framing`), with the size limit checked from each
header. websocket-client's ``websocket`` logger prints handshake headers when trace mode is on
(``websocket.enableTrace(True)``); importing this module installs a filter on that logger that
masks credentials (``xi-api-key``/``Authorization`` headers, ``token=`` query values).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Final

import websocket

from ._framing import BINARY, CLOSE, PING, PONG, TEXT, FrameReader, Violation, encode, fast_mask
from ._handshake import (
    Cancel,
    HandshakeWatchdog,
    ProxySettings,
    TLSSettings,
    handshake_error,
    redirect_error,
    tls_problem,
)
from ._redact import RedactingFilter, redact_log_text, redact_url
from ._seam import Frame, Transport
from ._sendall import send_whole
from .errors import (
    ConnectError,
    ConnectionClosedError,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Cancel",
    "Frame",
    "HandshakeWatchdog",
    "ProxySettings",
    "TLSSettings",
    "Transport",
    "WebSocketTransport",
    "redact_log_text",
    "tls_problem",
]

#: Close code for "no close frame was received" (RFC 6455 §7.1.5); never sent on the wire.
ABNORMAL_CLOSURE: Final = 1006
#: Close codes we send when the server breaks the WebSocket protocol or a size limit.
PROTOCOL_ERROR: Final = 1002
MESSAGE_TOO_BIG: Final = 1009
#: Server messages are small JSON: a committed_transcript_with_timestamps of a 90 s segment
#: (the longest auto-commit, docs/protocol.md §6) is a few tens of KB. 1 MiB leaves a wide margin
#: while bounding what a broken or hostile server can make the reader buffer.
DEFAULT_MAX_MESSAGE_SIZE: Final = 1 << 20
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})

# websocket-client's trace mode dumps handshakes: a filter on its logger itself runs for every
# record it creates, before any handler (its trace handler included) sees it.
_LOG_FILTER: Final = RedactingFilter("scribe_sync")
logging.getLogger("websocket").addFilter(_LOG_FILTER)


def _refuse_redirect(ws: websocket.WebSocket, url: str) -> None:
    """Raise :func:`redirect_error` (socket shut) if the upgrade was answered by a redirect."""
    response = getattr(ws, "handshake_response", None)
    status = getattr(response, "status", None)
    if status in _REDIRECTS:
        location = getattr(response, "headers", {}).get("location")
        ws.shutdown()
        raise redirect_error(status, location, url) from None


class WebSocketTransport:
    """A websocket-client connection after its handshake; frames are read here, not there.

    websocket-client's ``recv_data()`` answers a ping and then keeps reading inside the same
    call, blocked for the socket timeout (so one heartbeat ping followed by silence starved the
    session of keepalives). So this class waits for readiness itself with :mod:`selectors`
    (``select.select`` fails on descriptors above 1024), reads what the socket has, and feeds
    it to a :class:`~scribe_sync._framing.FrameReader`; a partial frame waits there until more
    bytes arrive. :meth:`recv` therefore never blocks past its
    timeout, and :meth:`wake` ends a wait at once through a socketpair.

    Socket writes are serialised by ``_send_lock`` (pongs come from the reading thread while
    audio comes from others); the session orders its own frames before they get here.
    """

    def __init__(self, ws: websocket.WebSocket, io_timeout: float = 10.0,
                 max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._ws = ws
        self._io_timeout = io_timeout
        # Set once a protocol violation or size limit ended the connection: later calls fail.
        self._failed: ConnectionClosedError | None = None
        self._pong_failure: ConnectionClosedError | None = None  # a pong could not be written
        # Keep our own reference: websocket-client sets ws.sock to None when it sees EOF.
        self._sock: socket.socket | None = ws.sock
        self._ssl = isinstance(self._sock, ssl.SSLSocket)
        self._frames = FrameReader(max_message_size)
        self._mask = fast_mask()
        # _send_lock guards socket writes, so a pong never lands inside an audio frame.
        self._send_lock = threading.Lock()
        self._close_sent = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        if self._sock is not None:
            self._selector.register(self._sock, selectors.EVENT_READ, "socket")

    @classmethod
    def connect(
        cls,
        url: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        io_timeout: float,
        tls: TLSSettings,
        proxy: ProxySettings | None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        watchdog: HandshakeWatchdog | None = None,
    ) -> WebSocketTransport:
        """Open the connection (TCP, TLS, HTTP upgrade) within ``timeout`` seconds.

        Incoming messages above ``max_message_size`` bytes (``None``: no limit) end the
        connection with close code 1009. ``watchdog`` (the caller's, running) bounds the whole
        handshake; without one, each socket operation is bounded by ``timeout``.

        Raises:
            TimeoutError: the handshake did not complete in time.
            AuthError, QuotaExceededError, RateLimitedError: the upgrade was refused for that.
            ConnectionClosedError: any other failure to connect.
        """
        # skip_utf8_validation: text frames are decoded by our codec, which reports invalid
        # UTF-8 as RemoteProtocolError instead of websocket-client raising mid-frame.
        # enable_multithread: websocket-client answers pings and close frames from inside
        # recv (the reader thread); its send lock keeps those replies from interleaving with
        # audio frames written by other threads.
        ws = websocket.WebSocket(
            sslopt=tls.sslopt(), skip_utf8_validation=True, enable_multithread=True
        )
        if watchdog is not None:
            watchdog.watch(ws)
        # redirect_limit=0: a redirect is refused below (handshake.redirect_error says why).
        options: dict[str, object] = {"header": [f"{k}: {v}" for k, v in headers.items()],
                                      "redirect_limit": 0}
        if proxy is not None:
            options.update(proxy.options())
        safe_url = redact_url(url)
        try:
            ws.connect(url, timeout=timeout, **options)
        except websocket.WebSocketBadStatusException as exc:
            raise handshake_error(exc, url) from None
        except (websocket.WebSocketTimeoutException, TimeoutError):
            ws.shutdown()
            raise TimeoutError(f"timed out opening {safe_url} after {timeout:g} s") from None
        except ssl.SSLError as exc:
            ws.shutdown()
            raise ConnectError(
                f"TLS handshake with {urllib.parse.urlsplit(url).netloc} failed: {tls_problem(exc)}"
            ) from None
        except (OSError, websocket.WebSocketException) as exc:
            _refuse_redirect(ws, url)  # websocket-client 1.9.1+: "Redirect limit exhausted"
            ws.shutdown()
            # The message of websocket-client's exceptions can quote the URL: never use it raw.
            raise ConnectError(
                f"could not connect to {urllib.parse.urlsplit(url).netloc}: "
                f"{type(exc).__name__}: {redact_url(str(exc))}"
            ) from None
        # websocket-client before 1.9.1 returns from connect() on a redirect it did not follow
        # (redirect_limit=0), its socket still speaking HTTP.
        _refuse_redirect(ws, url)
        # A bound on every blocking socket call, so a peer that stops reading cannot hang a
        # sender forever; receives first wait for readiness with their own timeout.
        ws.settimeout(io_timeout)
        return cls(ws, io_timeout, max_message_size)

    def send_text(self, text: str | bytes) -> None:
        """Send one text frame (``bytes`` are its UTF-8 payload, sent as they are)."""
        payload = text.encode("utf-8") if isinstance(text, str) else text
        self._send_raw(encode(TEXT, payload, self._mask), "send failed")

    def _send_raw(self, data: bytes, what: str, *, skip_if_busy: bool = False) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionClosedError(f"{what}: the socket is closed", code=ABNORMAL_CLOSURE)
        # The socket's timeout (io_timeout) bounds a write to a peer that stopped reading;
        # the lock wait is bounded the same way. skip_if_busy (a pong): another sender held
        # the lock that long, and its own write decides whether the connection is dead.
        if not self._send_lock.acquire(timeout=self._io_timeout):
            if skip_if_busy:
                return
            raise ConnectionClosedError(f"{what}: timed out", code=ABNORMAL_CLOSURE)
        try:
            send_whole(sock, data, tls=self._ssl, io_timeout=self._io_timeout,
                       on_cut=lambda: self._cut(what))
        except (OSError, ValueError) as exc:
            raise self._closed_error(what, exc) from exc
        finally:
            self._send_lock.release()

    def _cut(self, what: str) -> None:
        """A frame was interrupted and cannot be completed: no other frame may follow it."""
        self._failed = ConnectionClosedError(f"{what}: interrupted in the middle of a frame",
                                             code=ABNORMAL_CLOSURE)
        with contextlib.suppress(OSError):
            if self._sock is not None:
                self._sock.shutdown(socket.SHUT_RDWR)

    def wake(self) -> None:
        """End a :meth:`recv` waiting in another thread now (it returns ``None``)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def recv(self, timeout: float | None) -> Frame | None:
        if self._failed is not None:
            raise self._failed
        deadline = None if timeout is None else time.monotonic() + timeout
        woken = False
        while True:
            try:
                frame = self._parse()
            except Violation as exc:
                if exc.code == MESSAGE_TOO_BIG:
                    raise self._fail(MESSAGE_TOO_BIG, "message too big", str(exc)) from None
                raise self._fail(  # 1002, or 1007 for a close reason that is not UTF-8
                    exc.code, "protocol error" if exc.code == PROTOCOL_ERROR else "invalid data",
                    f"the server broke the WebSocket protocol: {exc}",
                ) from None
            if frame is not None:
                return frame
            if woken:
                return None
            got, woken = self._fill(deadline)
            if not got:
                return None

    def _fill(self, deadline: float | None) -> tuple[bool, bool]:
        """Read what the socket has into the buffer: (bytes were read or may be, woken).

        A wake-up that comes with a readable socket still reads it: after a failed write the
        session is woken to drain what already arrived (an error message sent just before a
        reset), and returning at the wake-up alone would lose that message.
        """
        sock = self._sock
        if sock is None:
            raise ConnectionClosedError("connection lost: the socket is closed",
                                        code=ABNORMAL_CLOSURE)
        if self._pong_failure is not None:
            raise self._pong_failure
        woken = False
        # TLS may hold decrypted bytes that no readiness check can see.
        if not (self._ssl and sock.pending()):  # type: ignore[attr-defined]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready = self._selector.select(remaining)
            except (OSError, ValueError):
                ready = [(None, selectors.EVENT_READ)]  # type: ignore[list-item]
            if not ready:
                return False, False
            readable = rung = False  # (a loop, not any() over generators: once per frame)
            for key, _ in ready:
                if key is None or key.data == "socket":
                    readable = True
                else:
                    rung = True
            if rung:
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
                if not readable:
                    return False, True
                woken = True
        try:
            if self._ssl:
                # Readable raw bytes may be part of a TLS record: the read is then bounded by
                # the socket timeout (io_timeout), not by our deadline.
                data = sock.recv(65536)
            else:
                data = sock.recv(65536, socket.MSG_DONTWAIT)
        except (BlockingIOError, ssl.SSLWantReadError):
            return True, woken
        except (OSError, ValueError) as exc:
            raise self._closed_error("connection lost", exc) from exc
        if not data:
            raise ConnectionClosedError(
                "connection lost: WebSocketConnectionClosedException: Connection to remote "
                "host was lost.", code=ABNORMAL_CLOSURE,
            )
        self._frames.feed(data)
        return True, woken

    def _parse(self) -> Frame | None:
        """The next complete message from the buffer, answering pings on the way."""
        while True:
            parsed = self._frames.next()
            if parsed is None:
                return None
            opcode, data = parsed
            if opcode == TEXT:
                return Frame("text", data)
            if opcode == BINARY:
                return Frame("binary", data)
            if opcode == CLOSE:
                if not self._close_sent:  # echo, as websocket-client does
                    with contextlib.suppress(ConnectionClosedError):
                        self.send_close(1000, "")
                if len(data) >= 2:
                    code: int = struct.unpack("!H", data[:2])[0]
                    return Frame("close", code=code, reason=data[2:].decode("utf-8", "replace"))
                return Frame("close", code=1005)  # no status code present (RFC 6455 §7.1.5)
            if opcode == PING and self._pong_failure is None:
                try:
                    self._send_raw(encode(PONG, data, self._mask), "pong failed",
                                   skip_if_busy=True)
                except ConnectionClosedError as exc:
                    # A peer that stopped reading (the write outlasted io_timeout) or reset:
                    # the connection is dead. Its buffered frames are still read (an error
                    # message may explain the end), no further pong is tried (a ping flood
                    # would block this thread io_timeout per ping), then recv raises this.
                    self._pong_failure = exc
            # a pong (solicited or not) is ignored

    def _fail(self, code: int, reason: str, message: str) -> ConnectionClosedError:
        """Send a close frame for a failure we detected; the connection is unusable after it.

        The close is best effort: the payload of the offending frame is still on the wire, so no
        closing handshake can follow; the caller aborts the socket.
        """
        with contextlib.suppress(ConnectionClosedError):
            self.send_close(code, reason)
        self._failed = ConnectionClosedError(
            f"{message}; closed the connection with code {code}", code=code
        )
        return self._failed

    def send_close(self, code: int, reason: str) -> None:
        self._close_sent = True
        payload = struct.pack("!H", code) + reason.encode("utf-8")
        self._send_raw(encode(CLOSE, payload, self._mask), "close failed")

    def abort(self) -> None:
        sock = self._sock
        self.wake()
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def release(self) -> None:
        """Free the descriptors once no thread uses the connection any more (after abort)."""
        self.abort()
        with contextlib.suppress(OSError, ValueError, KeyError):
            self._selector.close()
        for item in (self._sock, self._wake_r, self._wake_w):
            if item is not None:
                with contextlib.suppress(OSError):
                    item.close()

    @staticmethod
    def _closed_error(what: str, exc: BaseException) -> ConnectionClosedError:
        if isinstance(exc, (websocket.WebSocketTimeoutException, socket.timeout, TimeoutError)):
            detail = "timed out"
        else:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return ConnectionClosedError(f"{what}: {detail}", code=ABNORMAL_CLOSURE)
