"""The I/O seam: the only module that imports websocket-client.

It opens the WebSocket, sends text and close frames, receives frames with a readiness timeout,
and maps every websocket-client and socket exception to ours in one place (after httpcore's
habit). Nothing here knows the Scribe protocol; :mod:`scribe_sync.session` does.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import urllib.parse
from collections.abc import Mapping
from typing import Final, Protocol

import attrs
import websocket

from .errors import (
    AuthError,
    ConfigError,
    ConnectionClosedError,
    QuotaExceededError,
    RateLimitedError,
    ServerError,
)
from .protocol import redact_url

__all__ = ["Frame", "ProxySettings", "TLSSettings", "Transport", "WebSocketTransport"]

#: Close code for "no close frame was received" (RFC 6455 §7.1.5); never sent on the wire.
ABNORMAL_CLOSURE: Final = 1006


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
    ) -> WebSocketTransport:
        """Open the connection (TCP, TLS, HTTP upgrade) within ``timeout`` seconds.

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
                f"TLS handshake with {urllib.parse.urlsplit(url).netloc} failed: {exc.reason}"
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
        if not self._readable(timeout):
            return None
        try:
            opcode, data = self._ws.recv_data()
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
