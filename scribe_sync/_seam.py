"""The seam between a session and its connection: what a session needs of a transport
(:class:`Transport`, which tests replace with scripted doubles) and what it receives
(:class:`Frame`). No I/O here.
"""

from __future__ import annotations

from typing import Protocol

import attrs

__all__ = ["Frame", "Transport"]


@attrs.frozen
class Frame:
    """One received frame: ``kind`` is ``"text"``, ``"binary"`` or ``"close"``."""

    kind: str
    data: bytes = b""
    code: int | None = None
    reason: str = ""


class Transport(Protocol):
    """What a session needs from a connection. Tests substitute scripted transports."""

    def send_text(self, text: str | bytes) -> None:
        """Send one text frame; bounded by the I/O timeout. Raises ConnectionClosedError."""
        ...

    def recv(self, timeout: float | None) -> Frame | None:
        """The next frame, or ``None`` when nothing arrived within ``timeout`` seconds or
        :meth:`wake` was called. Never blocks past ``timeout``."""
        ...

    def wake(self) -> None:
        """Make a :meth:`recv` in progress (or the next one) return ``None`` at once."""
        ...

    def send_close(self, code: int, reason: str) -> None: ...

    def abort(self) -> None:
        """Shut the socket down at once; wakes threads blocked in send or recv."""
        ...

    def release(self) -> None:
        """Abort, and free every descriptor; the session calls it once nothing uses it."""
        ...
