"""Checks for the mock's configuration: every option and scenario field is validated where it
is built (``MockServer(...)``, :class:`~mock_server.settings.Settings`, a scenario), and a bad
value raises :class:`MockConfigError` naming the option and what it allows.

The validators are attrs validators (``validator=positive()``); they read the option's name
from the attribute, so a message always names the field the caller wrote.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from collections.abc import Callable
from typing import Any, Final

__all__ = ["MAX_CONFIG_FILE", "MockConfigError", "at_least", "between", "check", "optional",
           "read_config_file"]

#: The largest scenario, script or timing file read (far above any real one).
MAX_CONFIG_FILE: Final = 16 * 1024 * 1024

Validator = Callable[[Any, Any, Any], None]


class MockConfigError(ValueError):
    """A bad option or scenario field. A ``ValueError``; ``option`` names the field and
    ``allowed`` says what it accepts.

    Example::

        MockServer(word_ms=0)  # MockConfigError: word_ms must be an integer >= 1, not 0
    """

    def __init__(self, option: str, allowed: str, value: Any) -> None:
        super().__init__(f"{option} must be {allowed}, not {value!r}")
        self.option = option
        self.allowed = allowed


def _number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def check(option: str, value: Any, *, low: float, high: float | None = None,
          integer: bool = False, strict: bool = False) -> None:
    """Raise :class:`MockConfigError` unless ``value`` is a number (an ``int`` when
    ``integer``) ``>= low`` (``> low`` when ``strict``) and ``<= high`` when given."""
    kind = "an integer" if integer else "a number"
    bound = f"> {low:g}" if strict else f">= {low:g}"
    allowed = f"{kind} {bound}" if high is None else f"{kind} from {low:g} to {high:g}"
    if not _number(value, integer):
        raise MockConfigError(option, allowed, value)
    if value < low or (strict and value == low) or (high is not None and value > high):
        raise MockConfigError(option, allowed, value)


def at_least(low: float, *, integer: bool = False, strict: bool = False) -> Validator:
    """An attrs validator: a number ``>= low`` (``> low`` when ``strict``)."""

    def validate(instance: Any, attribute: Any, value: Any) -> None:
        check(attribute.name, value, low=low, integer=integer, strict=strict)

    return validate


def between(low: float, high: float, *, integer: bool = False) -> Validator:
    """An attrs validator: a number in ``[low, high]``."""

    def validate(instance: Any, attribute: Any, value: Any) -> None:
        check(attribute.name, value, low=low, high=high, integer=integer)

    return validate


def optional(inner: Validator, none_means: str = "off") -> Validator:
    """An attrs validator: ``None`` or what ``inner`` accepts (the message says ``None``
    means ``none_means``)."""

    def validate(instance: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        try:
            inner(instance, attribute, value)
        except MockConfigError as exc:
            raise MockConfigError(
                exc.option, f"{exc.allowed} or None ({none_means})", value
            ) from None

    return validate


def read_config_file(path: str | os.PathLike[str], max_size: int = MAX_CONFIG_FILE) -> str:
    """The text of a small configuration file (a scenario, a script, a timing profile).

    Raises:
        OSError: it cannot be opened, is not a regular file (``/dev/zero``, a FIFO that would
            block, a directory) or is larger than ``max_size``; the reason is its ``strerror``.
        UnicodeDecodeError: it is not UTF-8.
    """
    # Non-blocking open: a FIFO with no writer must be refused, not waited on.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > max_size:
            raise OSError(errno.EFBIG, f"larger than {max_size // (1024 * 1024)} MiB")
        os.set_blocking(descriptor, True)
        data = handle.read(max_size + 1)
    if len(data) > max_size:  # grew while read
        raise OSError(errno.EFBIG, f"larger than {max_size // (1024 * 1024)} MiB")
    return data.decode("utf-8")
