"""The one place that knows what a secret looks like: names, patterns, and a logging filter.

Credentials travel in headers (``xi-api-key``, ``Authorization``, ...) and query parameters
(``token=``, ...). URLs in exception text, log records of websocket-client's trace mode and of
the mock's ``websockets`` loggers, and the mock's journal all mask them with these names. Pure
functions, no I/O: the mock server may import this module too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "SECRET_HEADERS",
    "SECRET_PARAMS",
    "RedactingFilter",
    "redact_log_text",
    "redact_url",
]

#: Header names (lower case) whose values are credentials.
SECRET_HEADERS: Final = frozenset({"xi-api-key", "authorization", "proxy-authorization", "cookie"})
#: Query parameter names whose values are credentials.
SECRET_PARAMS: Final = frozenset({"token", "xi-api-key", "api_key"})

_PARAMS: Final = "|".join(sorted(map(re.escape, SECRET_PARAMS)))
_HEADERS: Final = "|".join(sorted(map(re.escape, SECRET_HEADERS)))
# In a URL a value ends at "&" or "#" (it is percent-encoded). In log text it also ends at
# whitespace, ";" or a quote, so the rest of a request line ("HTTP/1.1") survives.
_URL_PARAM_RE: Final = re.compile(rf"(?i)([?&](?:{_PARAMS})=)[^&#]*")
_LOG_PARAM_RE: Final = re.compile(rf"(?i)([?&;](?:{_PARAMS})=)[^&#;\s'\"]*")
# Header lines, optionally prefixed as websockets' debug log does ("< ", "> ").
_LOG_HEADER_RE: Final = re.compile(rf"(?im)^(\s*(?:[<>] )?(?:{_HEADERS})\s*:\s*)\S.*?(\r?)$")


def redact_url(url: str, mask: str = "***") -> str:
    """``url`` with any token or key in its query replaced by ``mask``."""
    return _URL_PARAM_RE.sub(lambda m: m.group(1) + mask, url)


def redact_log_text(text: str, mask: str = "***") -> str:
    """``text`` with credential header lines and ``token=``-style values replaced by ``mask``."""
    text = _LOG_HEADER_RE.sub(lambda m: m.group(1) + mask + m.group(2), text)
    return _LOG_PARAM_RE.sub(lambda m: m.group(1) + mask, text)


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
