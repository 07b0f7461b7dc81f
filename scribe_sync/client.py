"""ScribeClient: credentials, base URL, TLS and proxy settings, token minting, connect().

Opening a session is done here, synchronously, before any thread starts: the options are
validated, the WebSocket is opened, and the first message is read. Only ``session_started``
means "connected" (the service opens the socket even for a bad credential and then sends
``auth_error``; docs/protocol.md §1), so ``connect`` returns a :class:`Session` only after it.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._redact import redact_url
from ._transport import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Cancel,
    HandshakeWatchdog,
    ProxySettings,
    TLSSettings,
    Transport,
    WebSocketTransport,
)
from ._url import auth_headers, build_url, call_token, check_base_url, check_credential
from .errors import (
    ConfigError,
    ConnectionClosedError,
    RemoteProtocolError,
    ServerError,
)

# The session stack (events, options, codec, reader, rules) loads on the first connect(), which
# waits on the network anyway: `import scribe_sync; scribe_sync.connect` stays cheap.
if TYPE_CHECKING:

    from .messages import ServerEvent, SessionStarted
    from .protocol import SessionOptions
    from .reconnect import ReconnectPolicy
    from .session import Session

__all__ = ["DEFAULT_BASE_URL", "ScribeClient", "connect"]

logger = logging.getLogger("scribe_sync")

DEFAULT_BASE_URL: Final = "https://api.elevenlabs.io"
API_KEY_ENV: Final = "ELEVENLABS_API_KEY"


class ScribeClient:
    """Entry point: holds credentials and connection settings; opens sessions.

    Args:
        api_key: the ElevenLabs API key; defaults to the ``ELEVENLABS_API_KEY`` environment
            variable. Not needed when every ``connect`` passes a ``token``.
        base_url: the API's HTTP base URL (``http(s)://`` becomes ``ws(s)://`` for sessions).
        open_timeout: seconds allowed for connecting and receiving ``session_started``.
        close_timeout: seconds allowed for the closing handshake before the socket is cut.
        finish_timeout: default seconds ``Session.finish`` waits for the final transcripts.
        io_timeout: seconds a single socket write may block before the connection is
            considered dead (a server that stops reading cannot hang a sender forever).
        keepalive_interval: after this many seconds without audio a session sends 20 ms of
            silence, because the service closes sockets idle for about 10-15 s and does not
            count pings. ``None`` disables it.
        max_queue: events buffered for an iterator before the oldest partial transcripts are
            dropped (committed transcripts are never dropped); ``None`` for no bound.
        verify: verify the server's TLS certificate (default ``True``).
        ca_file: a PEM bundle of CAs to trust instead of the system's.
        ssl_context: a ready ``ssl.SSLContext`` (overrides ``verify`` and ``ca_file``).
        proxy: ``http://[user:pass@]host:port`` or ``socks5://...``. Without it the
            ``https_proxy``/``http_proxy``/``no_proxy`` environment variables apply.
        max_message_size: the largest message, in bytes, accepted from the server (default
            1 MiB; server messages are small JSON). A larger frame or fragmented message is
            refused from its header, before its payload is read: the client sends close 1009
            and the session ends with ``ConnectionClosedError`` (``code == 1009``). ``None``
            removes the limit.

    Timeouts and intervals are seconds above 0 and at most 86400 (a day); ``max_queue`` is at
    most 1,000,000,000 and ``max_message_size`` at most 2**30. Anything else (a bool, a string,
    NaN, an infinity) raises :class:`ConfigError` naming the option, before any connection.

    TLS certificates are verified by default. ``verify=False`` logs a warning (once per client).
    The API key never appears in this object's ``repr``, in exception text or in log records.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        finish_timeout: float = 30.0,
        io_timeout: float = 10.0,
        keepalive_interval: float | None = 5.0,
        max_queue: int | None = 4096,
        verify: bool = True,
        ca_file: str | os.PathLike[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get(API_KEY_ENV) or None
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ConfigError("api_key must be a non-empty string", option="api_key")
        if api_key is not None:
            check_credential("api_key", api_key)  # CR/LF would inject upgrade headers
        check_base_url(base_url)  # a bad scheme, host or port fails here, not mid-connect
        # Loaded here, not on import: touching scribe_sync.connect stays cheap (test_public_api).
        from ._options import CLIENT_RANGES, check_settings, invalid_option
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.finish_timeout = finish_timeout
        self.io_timeout = io_timeout
        self.keepalive_interval = keepalive_interval
        self.max_queue = max_queue
        self.max_message_size = max_message_size
        check_settings(self, CLIENT_RANGES)
        if not isinstance(verify, bool):
            raise invalid_option("verify", verify, "expected True or False")
        ca_path = os.fspath(ca_file) if isinstance(ca_file, (str, os.PathLike)) else ca_file
        if ca_path is not None and (not isinstance(ca_path, str) or not ca_path):
            raise invalid_option("ca_file", ca_file, "expected the path of a PEM file, or None")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise invalid_option("ssl_context", ssl_context, "expected an ssl.SSLContext, or None")
        self._tls = TLSSettings(verify=verify, ca_file=ca_path, context=ssl_context)
        self._proxy = None if proxy is None else ProxySettings(proxy)
        if self._proxy is not None:
            self._proxy.options()  # validate now, before any connection
        if not verify and ssl_context is None:
            logger.warning(
                "TLS certificate verification is disabled (verify=False): the connection to %s "
                "can be intercepted; prefer ca_file= to trust a private CA", self.base_url
            )

    def __repr__(self) -> str:
        key = "set" if self._api_key else "unset"
        return f"<ScribeClient {redact_url(self.base_url)} api_key={key}>"

    # ------------------------------------------------------------------------------------------

    def connect(
        self,
        model_id: str = "scribe_v2_realtime",
        *,
        token: str | Callable[[], str] | None = None,
        reconnect: bool | ReconnectPolicy | None = None,
        **options: Any,
    ) -> Session:
        """Open a realtime session and wait for ``session_started``.

        Args:
            model_id: the realtime model.
            token: a single-use token (see :meth:`create_token`) instead of the API key, or a
                function returning a fresh one (needed with ``reconnect``, since a token is
                consumed by its first connection).
            reconnect: ``True`` or a :class:`~scribe_sync.reconnect.ReconnectPolicy` to survive
                lost connections without losing audio (see the README, "Reconnect"). Its
                delays, ``budget``, ``buffer_seconds`` and ``answer_timeout`` must be at most
                86400 s, ``max_attempts`` at most 300, ``multiplier`` at most 10 and
                ``rate_limited_factor`` at most 100.
            **options: any :class:`~scribe_sync.SessionOptions` field, e.g.
                ``audio_format="pcm_16000"``, ``commit_strategy="vad"``,
                ``include_timestamps=True``, ``language_code="en"``.

        Raises:
            ConfigError: an invalid option or no credentials; nothing was sent.
            AuthError, InvalidRequestError, QuotaExceededError, ...: the server refused.
            TimeoutError: no ``session_started`` within ``open_timeout``.
            ConnectionClosedError: the connection failed.
        """
        from ._options import invalid_option
        from .protocol import SessionOptions
        from .reconnect import ReconnectPolicy
        from .session import Session
        session_options = SessionOptions.from_kwargs(model_id=model_id, **options)
        if token is not None and not callable(token) and (not isinstance(token, str) or not token):
            raise ConfigError("token must be a non-empty string or a function", option="token")
        if token is None and self._api_key is None:
            raise ConfigError(
                f"no API key: pass api_key= to ScribeClient, set the {API_KEY_ENV} environment "
                "variable, or connect with token=",
                option="api_key",
            )
        if reconnect is not None and not isinstance(reconnect, (bool, ReconnectPolicy)):
            raise invalid_option("reconnect", reconnect,
                                 "expected True, False, None or a ReconnectPolicy")
        policy = ReconnectPolicy() if reconnect is True else reconnect or None
        if policy is not None and isinstance(token, str):
            raise ConfigError(
                "reconnect needs a fresh token for every connection: pass token= a function "
                "that returns one (e.g. client.create_token), or use the API key",
                option="token",
            )

        def open_connection(cancel: Cancel | None = None
                            ) -> tuple[Transport, SessionStarted, tuple[ServerEvent, ...]]:
            fresh = call_token(token) if callable(token) else token
            return self._open(session_options, fresh, cancel)

        transport, started, early = open_connection()
        made: list[Session] = []
        try:
            return Session(
                transport,
                started,
                session_options,
                early_events=early,
                close_timeout=self.close_timeout,
                finish_timeout=self.finish_timeout,
                keepalive_interval=self.keepalive_interval,
                max_queue=self.max_queue,
                reconnect=policy,
                connector=open_connection if policy is not None else None,
                open_timeout=self.open_timeout,
                register=made.append,
            )
        except BaseException:
            # Interrupted (Ctrl+C) before the caller holds the session, even just after it
            # was made: nobody else could close it (releasing only the socket under a running
            # reader would make a reconnecting session reconnect, unowned, for ever).
            if made:
                made[0].close()
            else:
                transport.release()
            raise

    def _open(
        self, options: SessionOptions, token: str | None, cancel: Cancel | None = None
    ) -> tuple[Transport, SessionStarted, tuple[ServerEvent, ...]]:
        """One connection: WebSocket upgrade, then read until ``session_started``, all within
        ``open_timeout`` (``cancel``: a reconnect the closing session no longer wants)."""
        headers = auth_headers(self._api_key, token)
        url = build_url(self.base_url, options, token=token)
        deadline = time.monotonic() + self.open_timeout
        logger.debug("connecting to %s", redact_url(url))
        transport: WebSocketTransport | None = None
        try:
            with HandshakeWatchdog(self.open_timeout, cancel) as watchdog:
                transport = WebSocketTransport.connect(
                    url, headers, timeout=self.open_timeout, io_timeout=self.io_timeout,
                    tls=self._tls, proxy=self._proxy, max_message_size=self.max_message_size,
                    watchdog=watchdog,
                )
                started, early = _await_session_started(transport, deadline, self.open_timeout)
        except BaseException:  # the watchdog's exit included (an interrupted join)
            if transport is not None:
                transport.release()
            raise
        logger.debug("session %s started", started.session_id)
        return transport, started, early

    def create_token(self) -> str:
        """Mint a single-use ``realtime_scribe`` token (valid 15 minutes, one connection).

        Raises:
            ConfigError: no API key is configured.
            AuthError, QuotaExceededError, RateLimitedError, ServerError: the API refused.
            ConnectionClosedError: the request failed; TimeoutError: it timed out.
        """
        if self._api_key is None:
            raise ConfigError(
                f"creating a token needs an API key: pass api_key= or set {API_KEY_ENV}",
                option="api_key",
            )
        from ._token import mint_token

        return mint_token(self.base_url, self._api_key, tls=self._tls, proxy=self._proxy,
                          timeout=self.open_timeout)


def _await_session_started(
    transport: Transport, deadline: float, timeout: float
) -> tuple[SessionStarted, tuple[ServerEvent, ...]]:
    """Read until ``session_started``; turn an error-then-close into the matching exception."""
    from .messages import ErrorEvent, SessionStarted
    from .protocol import decode
    early: list[ServerEvent] = []
    error: ErrorEvent | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if error is not None:  # an error but no close: the error is the answer
                raise ServerError.from_event(error)
            raise TimeoutError(f"no session_started within {timeout:g} s")
        try:
            frame = transport.recv(remaining)
        except ConnectionClosedError as exc:
            if error is None:
                raise
            # An error then a reset (no close frame): the error is still the answer, caused by
            # the transport failure, as for an open session (issue 11, defect 2).
            raise ServerError.from_event(error) from exc
        if frame is None:
            continue
        if frame.kind == "close":
            if error is not None:
                raise ServerError.from_event(error, close_code=frame.code,
                                             close_reason=frame.reason)
            raise ConnectionClosedError(
                f"the server closed the connection before session_started (code {frame.code}"
                + (f", {frame.reason}" if frame.reason else "") + ")",
                code=frame.code,
                reason=frame.reason,
            )
        try:
            event = decode(frame.data)
        except RemoteProtocolError as exc:
            logger.warning("ignoring malformed frame before session_started: %s", exc)
            continue
        if isinstance(event, SessionStarted):
            return event, tuple(early)
        if isinstance(event, ErrorEvent):
            error = event  # the close that follows decides; keep reading until it arrives
        early.append(event)


def connect(
    model_id: str = "scribe_v2_realtime",
    *,
    api_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    token: str | Callable[[], str] | None = None,
    reconnect: bool | ReconnectPolicy | None = None,
    **options: Any,
) -> Session:
    """Open a session with a default :class:`ScribeClient`: the one-line way in.

    ``scribe_sync.connect(base_url=..., include_timestamps=True)`` is
    ``ScribeClient(api_key, base_url=base_url).connect(model_id, token=token, **options)``.
    Client settings (timeouts, TLS, proxy, keepalive) need a ``ScribeClient``.
    """
    return ScribeClient(api_key, base_url=base_url).connect(
        model_id, token=token, reconnect=reconnect, **options
    )
