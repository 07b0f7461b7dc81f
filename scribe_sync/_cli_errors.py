"""Which exit code and which one line a ``scribe-sync`` failure gets (the table is in
``--help``, from :mod:`scribe_sync._cli_args`)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from ._cli_args import (
    EXIT_AUDIO,
    EXIT_AUTH,
    EXIT_OUTPUT,
    EXIT_SERVER,
    EXIT_USAGE,
    FromEnvironment,
)
from ._cli_io import OutputError, clean
from .errors import AuthError, ConfigError

__all__ = ["describe", "exit_code", "spelled"]


def exit_code(exc: BaseException) -> int:
    """The exit code of a failure (see ``--help``): 2 to 6."""
    from .audio import AudioSourceError

    if isinstance(exc, OutputError):
        return EXIT_OUTPUT
    if isinstance(exc, AuthError):
        return EXIT_AUTH
    if isinstance(exc, ConfigError):
        return EXIT_AUTH if exc.option == "api_key" else EXIT_USAGE
    if isinstance(exc, AudioSourceError):
        return EXIT_AUDIO
    return EXIT_SERVER


def describe(exc: BaseException, spelled: Mapping[str, str] | None = None) -> str:
    """The failure's one line (after ``scribe-sync: error:``), naming the option at fault
    (as ``spelled`` says the user gave it: ``$SCRIBE_SYNC_BASE_URL`` for ``base_url``)."""
    text = clean(str(exc)).strip() or type(exc).__name__
    option = getattr(exc, "option", None)
    if isinstance(exc, ConfigError) and option and option not in ("api_key", "output", "mock"):
        flag = "--" + str(option).replace("_", "-")
        flag = (spelled or {}).get(str(option), flag)
        if "--" not in text:
            text = f"{flag}: {text}"
    if isinstance(exc, TimeoutError) and "time" not in text:
        text = f"timed out: {text}"
    return text



def spelled(args: argparse.Namespace) -> dict[str, str]:
    """How the user gave each option an error may name, where not as ``--option``."""
    return {name: value.variable for name, value in vars(args).items()
            if isinstance(value, FromEnvironment)}
