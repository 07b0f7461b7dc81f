"""Building a session's URL and handshake headers from validated options (docs/protocol.md §1-§2).

:func:`build_url` produces the same URL as the official ``elevenlabs`` SDK for the same options.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .errors import ConfigError, ConnectError, ScribeError

if TYPE_CHECKING:
    from ._options import SessionOptions

__all__ = [
    "REALTIME_PATH",
    "auth_headers",
    "build_url",
    "call_token",
    "check_base_url",
    "check_credential",
    "query_params",
]

#: Path of the realtime endpoint under the API base URL.
REALTIME_PATH: Final = "/v1/speech-to-text/realtime"


def query_params(options: SessionOptions, *, token: str | None = None) -> list[tuple[str, str]]:
    """The query parameters, in the order and spelling the official SDK uses.

    Lists are repeated keys and booleans lowercase; ``include_timestamps`` is always present.
    """

    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    params = [
        ("model_id", options.model_id),
        ("audio_format", options.audio_format.value),
        ("commit_strategy", options.commit_strategy.value),
    ]
    for key in (
        "vad_silence_threshold_secs",
        "vad_threshold",
        "min_speech_duration_ms",
        "min_silence_duration_ms",
        "language_code",
        "secondary_languages",
        "include_timestamps",
        "include_language_detection",
        "keyterms",
        "no_verbatim",
        "entity_detection",
        "entity_redaction",
        "entity_redaction_mode",
        "transcript_edit",
        "filter_background_audio",
        "enable_logging",
        "diarize",
    ):
        value = getattr(options, key)
        if isinstance(value, tuple):
            params.extend((key, item) for item in value)
        elif value is not None:
            params.append((key, text(value)))
    if token is not None:
        params.append(("token", token))
    return params


_WS_SCHEMES: Final = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}
# C0 controls, DEL and C1 controls: never part of a key, a token or a URL, and CR/LF in a
# header value would end the header early (header injection into the upgrade request).
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_credential(option: str, value: str) -> None:
    """Refuse a credential holding a control character, before it reaches a header or URL.

    The message names the option and the character, never the value: it is a secret.

    Raises:
        ConfigError: ``value`` contains CR, LF or another control character.
    """
    found = _CONTROL_RE.search(value)
    if found is not None:
        raise ConfigError(
            f"{option} contains a control character (U+{ord(found.group()):04X}) at position "
            f"{found.start()}; a real {option} never does (a trailing newline read from a "
            "file or an environment variable is the usual cause)",
            option=option,
        )


#: The password of a URL's user information, up to its last "@" before the path.
_USERINFO_RE: Final = re.compile(r"(//[^/?#@]*?:)[^/?#]*@")


def check_base_url(base_url: str) -> urllib.parse.SplitResult:
    """``base_url`` split, if it is an http(s)/ws(s) URL with a host and a valid port.

    Raises:
        ConfigError: any other value (naming ``base_url``), instead of the ``ValueError`` that
            ``urllib`` or the WebSocket library would raise later, mid-connect.
    """
    allowed = "expected an http://, https://, ws:// or wss:// URL"
    if not isinstance(base_url, str) or _CONTROL_RE.search(base_url):
        raise _bad_base_url(base_url, allowed + " without control characters")
    if base_url != base_url.strip():  # pasted with a space: it would read as a bad port
        raise _bad_base_url(base_url, allowed + " without spaces around it")
    try:
        # ValueError for an unclosed "[" or a bracketed host that is not an IPv6 address
        parsed = urllib.parse.urlsplit(base_url)
    except ValueError:
        raise _bad_base_url(base_url, allowed + " with a valid host") from None
    if parsed.scheme not in _WS_SCHEMES or not parsed.hostname:
        raise _bad_base_url(base_url, allowed)
    try:
        port = parsed.port  # ValueError for a non-numeric port or one out of 0-65535
    except ValueError:
        port = 0
    if port == 0:
        raise _bad_base_url(base_url, "the port must be a number from 1 to 65535")
    if parsed.username is not None or parsed.password is not None:
        raise _bad_base_url(base_url, "no user name or password in it (the service "
                                      "authenticates with the API key or a token; a proxy's go "
                                      "in proxy=)")
    return parsed


def _bad_base_url(value: Any, allowed: str) -> ConfigError:
    # _options (with the event classes it needs) loads here, on the error path only: the
    # client checks its base URL at construction and should not pay for them on import.
    from ._options import invalid_option

    if isinstance(value, str):  # shown with any password masked: never in an error's text
        value = _USERINFO_RE.sub(r"\1***@", value)
    return invalid_option("base_url", value, allowed)


def build_url(base_url: str, options: SessionOptions, *, token: str | None = None) -> str:
    """The WebSocket URL for a session: http→ws, https→wss, path ``/v1/speech-to-text/realtime``
    appended to the base path, query percent-encoded with ``%20`` as the SDK does.

    Raises:
        ConfigError: ``base_url`` is not an http, https, ws or wss URL with a valid port.
    """
    # The token is percent-encoded into the query, so any character is safe here; it is
    # refused for control characters by auth_headers, which a connection calls first.
    check_base_url(base_url)
    parsed = urllib.parse.urlparse(base_url)
    scheme = _WS_SCHEMES[parsed.scheme]
    return urllib.parse.urlunparse(
        (
            scheme,
            parsed.netloc,
            parsed.path.rstrip("/") + REALTIME_PATH,
            "",
            urllib.parse.urlencode(
                query_params(options, token=token), quote_via=urllib.parse.quote
            ),
            "",
        )
    )


def call_token(token: Callable[[], str]) -> str:
    """A fresh token from the caller's function, its failures typed and chained: a network
    error (``OSError``, which ``requests``' errors are too) is a ``ConnectError``, which a
    reconnect retries; any other a ``ConfigError``, which ends the session (instead of a
    "reader failed")."""
    try:
        return token()
    except (ScribeError, TimeoutError):
        raise  # create_token's failures: typed already, and a reconnect may retry them
    except OSError as exc:
        raise ConnectError(f"the token function failed: {type(exc).__name__}") from exc
    except Exception as exc:
        raise ConfigError(f"the token function failed: {type(exc).__name__}",
                          option="token") from exc


def auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    """Handshake headers: ``xi-api-key``, or none when a token authenticates the session.

    A token takes priority on the server and the SDK sends no key alongside it
    (docs/protocol.md §1); not sending the key also keeps it off a connection that does not
    need it.

    Raises:
        ConfigError: neither credential is given, or the one given is empty or contains a
            control character (CR or LF would inject headers into the upgrade request).
    """
    if token is not None:
        if not isinstance(token, str):
            raise ConfigError(f"token must be a string; the token function returned "
                              f"{type(token).__name__}", option="token")
        check_credential("token", token)
        if not token:
            # An empty token is always a caller bug (often an unset environment variable). The
            # SDK treats it as absent and sends the key, yet still puts "token=" in the URL;
            # refusing it here fails before any traffic instead of with a server auth_error.
            raise ConfigError("token must be a non-empty string", option="token")
        return {}
    if not api_key:
        # None or "": the SDK refuses an empty key too (ValueError; ConfigError is one).
        raise ConfigError(
            "no credentials: pass api_key=, set ELEVENLABS_API_KEY, or pass token=",
            option="api_key",
        )
    check_credential("api_key", api_key)
    return {"xi-api-key": api_key}


