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

websocket-client has no size limit of its own: :class:`_LimitedFrameBuffer` adds one.
Its ``websocket`` logger prints handshake headers when trace mode is on
(``websocket.enableTrace(True)``); importing this module installs a filter on that logger that
masks credentials (``xi-api-key``/``Authorization`` headers, ``token=`` query values).
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import socket
import ssl
import struct
import urllib.parse
from collections.abc import Mapping
from typing import Final, Protocol

import attrs
import websocket
from websocket._abnf import frame_buffer

from .errors import (
    AuthError,
    ConfigError,
    ConnectionClosedError,
    QuotaExceededError,
    RateLimitedError,
    ServerError,
)
from .protocol import redact_url

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Frame",
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
#: (the longest auto-commit, PROTOCOL.md §6) is a few tens of KB. 1 MiB leaves a wide margin
#: while bounding what a broken or hostile server can make the reader buffer.
DEFAULT_MAX_MESSAGE_SIZE: Final = 1 << 20
#: RFC 6455 §5.5: control frames carry at most 125 bytes.
_MAX_CONTROL_PAYLOAD: Final = 125

# Credentials in log text: header lines and query values. Values end at whitespace, "&", "#"
# or a quote, so the rest of a request line ("HTTP/1.1") survives.
_SECRET_HEADER_RE: Final = re.compile(
    r"(?im)^(\s*(?:xi-api-key|authorization|proxy-authorization|cookie)\s*:\s*)\S.*?(\r?)$"
)
_SECRET_PARAM_RE: Final = re.compile(r"(?i)([?&;](?:token|xi-api-key|api_key)=)[^&#;\s'\"]*")


def redact_log_text(text: str) -> str:
    """``text`` with credential headers and ``token=``-style query values replaced by ``***``."""
    return _SECRET_PARAM_RE.sub(r"\1***", _SECRET_HEADER_RE.sub(r"\1***\2", text))


class _RedactingFilter(logging.Filter):
    """Masks credentials in websocket-client's log records (its trace mode dumps handshakes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report
            return True
        redacted = redact_log_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_LOG_FILTER: Final = _RedactingFilter("scribe_sync")
# A filter on the logger itself runs for every record websocket-client creates, before any
# handler (its trace handler included) sees it.
logging.getLogger("websocket").addFilter(_LOG_FILTER)


class _MessageTooBig(websocket.WebSocketException):
    """A frame or fragmented message is larger than the transport's limit."""


class _LimitedFrameBuffer(frame_buffer):
    """websocket-client's frame reader, refusing frames from their header alone.

    The declared payload length is checked as soon as it is read, so an oversized frame is
    refused before any of its payload is buffered (a header claiming 2**63 bytes costs nothing).
    ``pending`` tells how much of a fragmented message is already buffered.
    """

    def __init__(self, ws: websocket.WebSocket, max_size: int | None) -> None:
        super().__init__(ws._recv, skip_utf8_validation=True)
        self._ws = ws
        self._max_size = max_size

    def recv_length(self) -> None:
        super().recv_length()
        assert self.header is not None and self.length is not None
        opcode = self.header[4]
        length = self.length
        if opcode & 0x8:  # a control frame
            if length > _MAX_CONTROL_PAYLOAD:
                raise websocket.WebSocketProtocolException(
                    f"control frame of {length} bytes (at most {_MAX_CONTROL_PAYLOAD} allowed)"
                )
            return
        if self._max_size is None:
            return
        pending = self._ws.cont_frame.cont_data
        total = length + (len(pending[1]) if pending else 0)
        if total > self._max_size:
            raise _MessageTooBig(
                f"the server sent a message of at least {total} bytes, more than "
                f"max_message_size={self._max_size}"
            )


@attrs.frozen
class Frame:
    """One received frame: ``kind`` is ``"text"``, ``"binary"`` or ``"close"``."""

    kind: str
    data: bytes = b""
    code: int | None = None
    reason: str = ""


@attrs.frozen
class TLSSettings:
    """How to verify the server. Verification is on unless ``verify=False`` is asked for."""

    verify: bool = True
    ca_file: str | None = None
    context: ssl.SSLContext | None = None

    def sslopt(self) -> dict[str, object]:
        if self.context is not None:
            return {"context": self.context}
        if not self.verify:
            return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        options: dict[str, object] = {"cert_reqs": ssl.CERT_REQUIRED}
        if self.ca_file is not None:
            options["ca_certs"] = self.ca_file
        return options


@attrs.frozen
class ProxySettings:
    """An HTTP(S) or SOCKS proxy given as a URL such as ``http://user:pass@proxy:3128``.

    ``repr`` hides the password.
    """

    url: str = attrs.field(repr=False)

    @property
    def display(self) -> str:
        parsed = urllib.parse.urlsplit(self.url)
        return f"{parsed.scheme}://{parsed.hostname}:{parsed.port}"

    def options(self) -> dict[str, object]:
        parsed = urllib.parse.urlsplit(self.url)
        kinds = {"http": "http", "https": "http", "socks5": "socks5", "socks5h": "socks5h",
                 "socks4": "socks4", "socks4a": "socks4a"}
        if parsed.scheme not in kinds or not parsed.hostname:
            raise ConfigError(
                f"invalid proxy {self.display!r}: expected http://, socks5:// or socks4:// "
                "with a host",
                option="proxy",
            )
        options: dict[str, object] = {
            "http_proxy_host": parsed.hostname,
            "http_proxy_port": parsed.port or (1080 if parsed.scheme.startswith("socks") else 8080),
            "proxy_type": kinds[parsed.scheme],
        }
        if parsed.username:
            options["http_proxy_auth"] = (
                urllib.parse.unquote(parsed.username),
                urllib.parse.unquote(parsed.password or ""),
            )
        return options


class Transport(Protocol):
    """What a session needs from a connection. Tests substitute scripted transports."""

    def send_text(self, text: str) -> None: ...

    def recv(self, timeout: float | None) -> Frame | None:
        """The next frame, or ``None`` when nothing arrived within ``timeout`` seconds."""
        ...

    def send_close(self, code: int, reason: str) -> None: ...

    def abort(self) -> None:
        """Shut the socket down at once; wakes threads blocked in send or recv."""
        ...


def tls_problem(exc: BaseException) -> str:
    """A readable cause for a TLS failure, pointing at the settings that fix a verify error."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"certificate verification failed: {exc.verify_message or exc.reason} (to trust a "
            "private CA pass ca_file= or ssl_context=; verify=False turns verification off)"
        )
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _handshake_error(exc: websocket.WebSocketBadStatusException, url: str) -> Exception:
    status = exc.status_code
    # Scribe answers bad credentials after the upgrade (PROTOCOL.md §1), but proxies, gateways
    # and future servers may refuse the upgrade itself; map the statuses that mean the same.
    table: dict[int, type[ServerError]] = {
        401: AuthError,
        403: AuthError,
        402: QuotaExceededError,
        429: RateLimitedError,
    }
    message = f"the server refused the WebSocket upgrade with HTTP {status}"
    cls = table.get(status)
    if cls is not None:
        return cls(message)
    return ConnectionClosedError(f"{message} ({redact_url(url)})", code=None, reason=str(status))


class WebSocketTransport:
    """A websocket-client connection. Sends are not locked here: the session serialises them."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        # Set once a protocol violation or size limit ended the connection: later calls fail.
        self._failed: ConnectionClosedError | None = None
        # Keep our own reference: websocket-client sets ws.sock to None when it sees EOF.
        self._sock: socket.socket | None = ws.sock

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
    ) -> WebSocketTransport:
        """Open the connection (TCP, TLS, HTTP upgrade) within ``timeout`` seconds.

        Incoming messages above ``max_message_size`` bytes (``None``: no limit) end the
        connection with close code 1009.

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
        ws.frame_buffer = _LimitedFrameBuffer(ws, max_message_size)
        options: dict[str, object] = {"header": [f"{k}: {v}" for k, v in headers.items()]}
        if proxy is not None:
            options.update(proxy.options())
        safe_url = redact_url(url)
        try:
            ws.connect(url, timeout=timeout, **options)
        except websocket.WebSocketBadStatusException as exc:
            raise _handshake_error(exc, url) from None
        except (websocket.WebSocketTimeoutException, TimeoutError):
            ws.shutdown()
            raise TimeoutError(f"timed out opening {safe_url} after {timeout:g} s") from None
        except ssl.SSLError as exc:
            ws.shutdown()
            raise ConnectionClosedError(
                f"TLS handshake with {urllib.parse.urlsplit(url).netloc} failed: {tls_problem(exc)}"
            ) from None
        except (OSError, websocket.WebSocketException) as exc:
            ws.shutdown()
            # The message of websocket-client's exceptions can quote the URL: never use it raw.
            raise ConnectionClosedError(
                f"could not connect to {urllib.parse.urlsplit(url).netloc}: "
                f"{type(exc).__name__}: {redact_url(str(exc))}"
            ) from None
        # A bound on every blocking socket call, so a peer that stops reading cannot hang a
        # sender forever; receives first wait for readiness with their own timeout.
        ws.settimeout(io_timeout)
        return cls(ws)

    def send_text(self, text: str) -> None:
        try:
            self._ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            raise self._closed_error("send failed", exc) from exc

    def _readable(self, timeout: float | None) -> bool:
        sock = self._sock
        if sock is None:
            return True  # let recv raise the closed error
        # TLS may hold decrypted bytes that select() cannot see.
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except (OSError, ValueError):
            return True  # closed under us: recv reports it
        return bool(readable)

    def recv(self, timeout: float | None) -> Frame | None:
        if self._failed is not None:
            raise self._failed
        if not self._readable(timeout):
            return None
        try:
            opcode, data = self._ws.recv_data()
        except _MessageTooBig as exc:
            raise self._fail(MESSAGE_TOO_BIG, "message too big", str(exc)) from None
        except websocket.WebSocketProtocolException as exc:
            raise self._fail(
                PROTOCOL_ERROR, "protocol error", f"the server broke the WebSocket protocol: {exc}"
            ) from None
        except (OSError, websocket.WebSocketException) as exc:
            raise self._closed_error("connection lost", exc) from exc
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code: int | None = None
            reason = ""
            if len(data) >= 2:
                code = struct.unpack("!H", data[:2])[0]
                reason = data[2:].decode("utf-8", "replace")
            else:
                code = 1005  # no status code present (RFC 6455 §7.1.5)
            return Frame("close", code=code, reason=reason)
        kind = "text" if opcode == websocket.ABNF.OPCODE_TEXT else "binary"
        return Frame(kind, bytes(data))

    def _fail(self, code: int, reason: str, message: str) -> ConnectionClosedError:
        """Send a close frame for a failure we detected; the connection is unusable after it.

        The close is best effort: the payload of the offending frame is still on the wire, so no
        closing handshake can follow; the caller aborts the socket.
        """
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self._ws.send_close(code, reason.encode("utf-8"))
        self._failed = ConnectionClosedError(
            f"{message}; closed the connection with code {code}", code=code
        )
        return self._failed

    def send_close(self, code: int, reason: str) -> None:
        try:
            self._ws.send_close(code, reason.encode("utf-8"))
        except (OSError, websocket.WebSocketException) as exc:
            raise self._closed_error("close failed", exc) from exc

    def abort(self) -> None:
        sock = self._sock
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    @staticmethod
    def _closed_error(what: str, exc: BaseException) -> ConnectionClosedError:
        if isinstance(exc, (websocket.WebSocketTimeoutException, socket.timeout, TimeoutError)):
            detail = "timed out"
        else:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return ConnectionClosedError(f"{what}: {detail}", code=ABNORMAL_CLOSURE)
