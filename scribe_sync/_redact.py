"""The one place that knows what a secret looks like: names, patterns, and a logging filter.

Credentials travel in headers (``xi-api-key``, ``Authorization``, ...) and query parameters
(``token=``, ...). URLs in exception text, log records of websocket-client's trace mode and of
the mock's access log, and the mock's journal all mask them with these names. Pure
functions, no I/O: the mock server may import this module too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Final
from urllib.parse import unquote_plus

__all__ = [
    "SECRET_NAMES",
    "RedactingFilter",
    "is_secret_name",
    "redact_log_text",
    "redact_url",
]

#: Header and query parameter names whose values are credentials, in lower case with ``-`` for
#: ``_`` (``XI_API_KEY`` is ``xi-api-key``); any name ending in ``-key``, ``-token`` or
#: ``-secret`` is one too. ``sec-websocket-protocol``: a browser client may pass its key or
#: token as a WebSocket subprotocol.
SECRET_NAMES: Final = frozenset({
    "xi-api-key", "api-key", "apikey", "key", "token", "secret", "password", "auth",
    "authorization", "proxy-authorization", "cookie", "set-cookie", "sec-websocket-protocol",
})
_SECRET_SUFFIXES: Final = ("-key", "-token", "-secret")


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter of this name carries a credential (any case, ``_``
    or ``-`` between words)."""
    canonical = name.lower().replace("_", "-")
    return canonical in SECRET_NAMES or canonical.endswith(_SECRET_SUFFIXES)


# The same rule as a pattern for header names inside text (case-insensitive; "-" or "_"
# between words).
_NAMES: Final = (r"(?:[\w-]*[-_])?(?:key|token|secret)|api[-_]?key|password|auth"
                 r"|(?:proxy[-_])?authorization|(?:set[-_])?cookie|sec[-_]websocket[-_]protocol")
# Header lines, optionally prefixed as websockets' debug log does ("< ", "> ").
_LOG_HEADER_RE: Final = re.compile(rf"(?im)^(\s*(?:[<>] )?(?:{_NAMES})\s*:\s*)\S.*?(\r?)$")
# A query parameter: its name, then its value. In a URL a value ends at "&", "#" or a "?" (a
# second query glued on, masked too rather than taken as part of the value). In log text it
# also ends at white space, ";" or a quote, so the rest of a request line ("HTTP/1.1")
# survives. Names are judged percent-decoded, as a server decodes them (``?%74oken=``).
_URL_PARAM_RE: Final = re.compile(r"(?<=[?&])([^=&#?]+)=[^&#?]*")
_LOG_PARAM_RE: Final = re.compile(r"(?<=[?&;])([^=&;#?\s'\"]+)=[^&;#?\s'\"]*")


def _param_masker(mask: str) -> Callable[[re.Match[str]], str]:
    def mask_param(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{name}={mask}" if is_secret_name(unquote_plus(name)) else match.group(0)
    return mask_param


def redact_url(url: str, mask: str = "***") -> str:
    """``url`` with any token or key in its query replaced by ``mask``."""
    return _URL_PARAM_RE.sub(_param_masker(mask), url) if "=" in url else url


def redact_log_text(text: str, mask: str = "***") -> str:
    """``text`` with credential header lines and ``token=``-style values replaced by ``mask``."""
    text = _LOG_HEADER_RE.sub(lambda m: m.group(1) + mask + m.group(2), text)
    return _LOG_PARAM_RE.sub(_param_masker(mask), text) if "=" in text else text


class RedactingFilter(logging.Filter):
    """Masks credentials in every record of the logger it is added to (before any handler)."""

    def __init__(self, name: str = "", mask: str = "***") -> None:
        super().__init__(name)
        self._redact: Callable[[str], str] = lambda text: redact_log_text(text, mask)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report
            return True
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
