"""Opening a connection: TLS and proxy settings, what a refused upgrade means, and the
watchdog that bounds the whole handshake. websocket-client does the handshake itself
(:mod:`scribe_sync._transport` calls it); nothing here reads or writes a socket but the
watchdog's shutdown.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Protocol

import attrs
import websocket

from ._redact import redact_url
from .errors import (
    AuthError,
    ConfigError,
    ConnectError,
    QuotaExceededError,
    RateLimitedError,
    ServerError,
)

__all__ = ["Cancel", "HandshakeWatchdog", "ProxySettings", "TLSSettings", "handshake_error",
           "tls_problem"]


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
        try:
            parsed = urllib.parse.urlsplit(self.url)
        except ValueError:
            # Nothing of an unparsable URL is shown: where its password ends is unknown.
            return "<unparsable URL>"
        try:
            port: object = parsed.port
        except ValueError:
            port = "<invalid port>"
        return f"{parsed.scheme}://{parsed.hostname}:{port}"

    def options(self) -> dict[str, object]:
        """The proxy options of websocket-client.

        Raises:
            ConfigError: not a string, or not an http(s)/socks URL with a host and a port from
                1 to 65535; the message never shows the password.
        """
        allowed = "expected http://, socks5:// or socks4:// with a host"
        if not isinstance(self.url, str):
            raise ConfigError(f"invalid proxy={self.url!r}: {allowed}, or None", option="proxy")
        kinds = {"http": "http", "https": "http", "socks5": "socks5", "socks5h": "socks5h",
                 "socks4": "socks4", "socks4a": "socks4a"}
        try:
            parsed = urllib.parse.urlsplit(self.url)
            port = parsed.port  # ValueError for a non-numeric port or one out of 0-65535
        except ValueError:
            port = 0
        if port == 0:
            raise ConfigError(f"invalid proxy {self.display!r}: {allowed} and a port from 1 to "
                              "65535", option="proxy")
        if parsed.scheme not in kinds or not parsed.hostname:
            raise ConfigError(f"invalid proxy {self.display!r}: {allowed}", option="proxy")
        options: dict[str, object] = {
            "http_proxy_host": parsed.hostname,
            "http_proxy_port": port or (1080 if parsed.scheme.startswith("socks") else 8080),
            "proxy_type": kinds[parsed.scheme],
        }
        if parsed.username:
            options["http_proxy_auth"] = (
                urllib.parse.unquote(parsed.username),
                urllib.parse.unquote(parsed.password or ""),
            )
        return options


def tls_problem(exc: BaseException) -> str:
    """A readable cause for a TLS failure, pointing at the settings that fix a verify error."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"certificate verification failed: {exc.verify_message or exc.reason} (to trust a "
            "private CA pass ca_file= or ssl_context=; verify=False turns verification off)"
        )
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def handshake_error(exc: websocket.WebSocketBadStatusException, url: str) -> Exception:
    status = exc.status_code
    # Scribe answers bad credentials after the upgrade (docs/protocol.md §1), but proxies, gateways
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
    return ConnectError(f"{message} ({redact_url(url)})", code=None, reason=str(status))


def redirect_error(status: int, location: object, url: str) -> ConnectError:
    """A redirect answering the upgrade. Not followed: websocket-client would send the same
    headers, the API key among them, to whatever host ``Location`` names, over plain ``ws://``
    too. The live service never redirects its WebSocket endpoint."""
    target = redact_url(str(location))[:200] if location else "nowhere (no Location header)"
    return ConnectError(
        f"the server answered the WebSocket upgrade with HTTP {status}, a redirect to {target} "
        f"({redact_url(url)}): redirects are not followed, so that the API key goes only to "
        "base_url's host; set base_url to the new address if you trust it",
        code=None, reason=str(status))


class Cancel(Protocol):
    """Anything that says whether to give up (``threading.Event`` is one)."""

    def is_set(self) -> bool: ...


class HandshakeWatchdog:
    """Bounds a whole opening handshake (TCP, TLS, HTTP upgrade, ``session_started``) by one
    deadline, and lets another thread cancel it.

    websocket-client applies its timeout to each socket operation, so a server trickling its
    101 reply a byte at a time resets it at every byte (an endless header never returned). A
    named helper thread ``scribe-connect`` shuts the socket down at the deadline or on
    :meth:`cancel`, which fails the blocked read at once; it is joined when the block ends.
    """

    def __init__(self, timeout: float, cancel: Cancel | None = None) -> None:
        self._timeout = timeout
        self._cancel: Cancel = cancel if cancel is not None else threading.Event()
        self._done = threading.Event()
        # Also a plain flag, written before the event is set: an interrupt inside Event.set or
        # join still ends the thread within one 50 ms tick, not at the deadline.
        self._over = False
        self._ws: websocket.WebSocket | None = None
        self.fired: str | None = None  # "timeout" or "cancelled" once it cut the socket
        self._thread = threading.Thread(target=self._run, name="scribe-connect", daemon=True)

    def watch(self, ws: websocket.WebSocket) -> None:
        self._ws = ws

    def _run(self) -> None:
        deadline = time.monotonic() + self._timeout
        while not (self._over or self._done.is_set()):
            if self._cancel.is_set():
                self.fired = "cancelled"
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fired = "timeout"
                break
            # Two events cannot be waited on together: the cancel is seen within 50 ms.
            self._done.wait(min(remaining, 0.05))
        else:
            return
        ws = self._ws
        sock = None if ws is None else ws.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> HandshakeWatchdog:
        try:
            self._thread.start()
        except BaseException:  # interrupted in start(): no __exit__ will end the thread
            self._over = True
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        self._over = True
        self._done.set()
        self._thread.join()
        if exc is not None and self.fired == "timeout" and not isinstance(exc, TimeoutError):
            raise TimeoutError(
                f"the opening handshake did not complete within {self._timeout:g} s") from None
        if exc is not None and self.fired == "cancelled":
            raise ConnectError("connecting was cancelled: the session is closing") from None
