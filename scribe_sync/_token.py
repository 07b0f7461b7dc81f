"""Minting a single-use ``realtime_scribe`` token over HTTPS (``ScribeClient.create_token``).

urllib.request (http.client, email, ...) is a fifth of the import time of ``connect()``: it is
imported when a token is minted, never with the client. A redirect is not followed: urllib
would repeat the request, ``xi-api-key`` included, to any host ``Location`` names.
"""

from __future__ import annotations

import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any, Final

from ._handshake import ProxySettings, TLSSettings, tls_problem
from ._redact import redact_url
from .errors import (
    AuthError,
    ConnectionClosedError,
    QuotaExceededError,
    RateLimitedError,
    RemoteProtocolError,
    ServerError,
)

if TYPE_CHECKING:
    import urllib.error

__all__ = ["TOKEN_PATH", "mint_token"]

TOKEN_PATH: Final = "/v1/single-use-token/realtime_scribe"


def mint_token(base_url: str, api_key: str, *, tls: TLSSettings, proxy: ProxySettings | None,
               timeout: float) -> str:
    """POST to the token endpoint of ``base_url``; the token (see ``create_token``)."""
    import json
    import urllib.error
    import urllib.request

    scheme, rest = base_url.split("://", 1)
    url = {"ws": "http", "wss": "https"}.get(scheme, scheme) + "://" + rest + TOKEN_PATH
    request = urllib.request.Request(url, data=b"", method="POST",
                                     headers={"xi-api-key": api_key})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        # A 3xx then reaches _http_error as an HTTPError, like any refusal.
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.HTTPSHandler(context=_ssl_context(tls)), NoRedirect()]
    if proxy is not None:
        handlers.append(urllib.request.ProxyHandler({"http": proxy.url, "https": proxy.url}))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as exc:
        raise _http_error(exc, api_key) from None
    except TimeoutError:
        raise TimeoutError(f"timed out minting a token at {base_url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError):
            reason = f"TLS handshake failed: {tls_problem(reason)}"
        raise ConnectionClosedError(
            f"could not reach {urllib.parse.urlsplit(url).netloc}: {reason}"
        ) from None
    try:
        token = json.loads(body)["token"]
    except (ValueError, KeyError, TypeError):
        raise RemoteProtocolError("the token endpoint answered without a token") from None
    if not isinstance(token, str) or not token:
        raise RemoteProtocolError("the token endpoint answered without a token")
    return token


def _ssl_context(tls: TLSSettings) -> ssl.SSLContext:
    if tls.context is not None:
        return tls.context
    if not tls.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=tls.ca_file)


def _http_error(exc: urllib.error.HTTPError, api_key: str) -> ServerError:
    table: dict[int, type[ServerError]] = {
        401: AuthError, 403: AuthError, 402: QuotaExceededError, 429: RateLimitedError,
    }
    try:
        detail = exc.read(2048).decode("utf-8", "replace")
    except OSError:
        detail = ""
    # A gateway may echo the request (headers included) in its error page: never repeat the key.
    detail = detail.replace(api_key, "***")
    if 300 <= exc.code < 400:
        location = redact_url(str(exc.headers.get("Location", "nowhere")))[:200]
        return ServerError(f"the token endpoint answered with HTTP {exc.code}, a redirect to "
                           f"{location}: redirects are not followed, so that the API key goes "
                           "only to base_url's host", error_type=f"http_{exc.code}")
    cls = table.get(exc.code, ServerError)
    message = f"token request refused with HTTP {exc.code}" + (f": {detail}" if detail else "")
    if cls is ServerError:
        return ServerError(message, error_type=f"http_{exc.code}")
    return cls(message)
