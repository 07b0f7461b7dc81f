"""Known credentials taken out of what a client or server sent, wherever they appear in it.

A client may paste its key into a ``previous_text``, send it as a ``message_type`` (which the
mock echoes in its ``input_error``) or as a frame that is not JSON; a server may echo it. Both
the journal (each client frame and error message it keeps) and the recording proxy (each line
of a cassette) know a session's credentials and pass what they keep through one
:class:`Scrubber`. It replaces each secret as written and as a JSON encoder escapes it, in one
pass (a replacement is never scrubbed again), and returns the value itself when no secret is
in it, which is the usual case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["MIN_SECRET", "REDACTED", "Scrubber"]

#: What a secret is replaced with, in the journal and in cassettes.
REDACTED: Final = "<redacted>"
#: Shorter values are not searched for: a test's key such as ``audio`` or ``e`` would rewrite
#: the protocol's own words (``input_<redacted>_chunk``) and a cassette's field values
#: (``"by": "cli<redacted>nt"``, which no longer loads); a real key or token is far longer.
MIN_SECRET: Final = 8  # characters


class Scrubber:
    """Replaces a fixed set of secrets (those of :data:`MIN_SECRET` characters or more) in
    JSON data, text and bytes. Immutable."""

    __slots__ = ("_binary", "_mask", "_text", "secrets")

    def __init__(self, secrets: Iterable[str] = (), mask: str = REDACTED) -> None:
        self.secrets = frozenset(s for s in secrets if len(s) >= MIN_SECRET)
        self._mask = mask
        # Longest first, so that a secret inside another is not replaced in part.
        forms = sorted({form for s in self.secrets for form in (s, json.dumps(s)[1:-1])},
                       key=len, reverse=True)
        self._text = re.compile("|".join(map(re.escape, forms))) if forms else None
        encoded = [form.encode("utf-8", "surrogatepass") for form in forms]
        self._binary = re.compile(b"|".join(map(re.escape, encoded))) if forms else None

    def __bool__(self) -> bool:
        return self._text is not None

    def adding(self, secrets: Iterable[str]) -> Scrubber:
        """A scrubber for these secrets as well (``self`` when they are known already)."""
        more = frozenset(s for s in secrets if len(s) >= MIN_SECRET)
        return self if more <= self.secrets else Scrubber(self.secrets | more, self._mask)

    def __call__(self, value: Any) -> Any:
        """``value`` (JSON data, text or bytes) with every secret replaced; the same object
        when it holds none. Nesting is bounded by the caller (the journal bounds it first)."""
        if self._text is None:
            return value
        return self._scrub(value)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            assert self._text is not None
            return self._text.sub(self._mask, value)
        if isinstance(value, bytes):
            assert self._binary is not None
            return self._binary.sub(self._mask.encode(), value)
        if isinstance(value, dict):
            items = {self._scrub(k) if isinstance(k, str) else k: self._scrub(v)
                     for k, v in value.items()}
            same = all(a is b for a, b in zip(items.values(), value.values(), strict=True))
            return value if same and items.keys() == value.keys() else items
        if isinstance(value, (list, tuple)):
            scrubbed = [self._scrub(item) for item in value]
            return value if all(a is b for a, b in zip(scrubbed, value, strict=True)) else scrubbed
        return value
