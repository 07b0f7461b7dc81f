"""Known credentials taken out of what a client sent, wherever they appear in it.

A client may paste its key into a ``previous_text``, send it as a ``message_type`` (which the
mock echoes in its ``input_error``) or as a frame that is not JSON. The journal knows a
session's credentials (the key it authenticated with, its token, the mock's keys) and stores
each client frame, and each error message, through :func:`scrub`. It returns the value itself
when no secret is in it, which is the usual case, found by one substring search per string.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["scrub"]


def _text(text: str, secrets: Collection[str], mask: str) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask)
    return text


def scrub(value: Any, secrets: Collection[str], mask: str) -> Any:
    """``value`` (JSON data, text or bytes) with every secret replaced by ``mask``; the same
    object when it holds none. ``value`` is nested boundedly (the journal bounds it first)."""
    if isinstance(value, str):
        return _text(value, secrets, mask)
    if isinstance(value, bytes):
        for secret in secrets:
            value = value.replace(secret.encode("utf-8", "surrogatepass"), mask.encode())
        return value
    if isinstance(value, dict):
        items = {_text(k, secrets, mask) if isinstance(k, str) else k: scrub(v, secrets, mask)
                 for k, v in value.items()}
        same = all(a is b for a, b in zip(items.values(), value.values(), strict=True))
        return value if same and items.keys() == value.keys() else items
    if isinstance(value, (list, tuple)):
        scrubbed = [scrub(item, secrets, mask) for item in value]
        return value if all(a is b for a, b in zip(scrubbed, value, strict=True)) else scrubbed
    return value
