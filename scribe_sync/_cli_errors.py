"""Which exit code and which one line a ``scribe-sync`` failure gets (the table is in
``--help``, from :mod:`scribe_sync._cli_args`)."""

from __future__ import annotations

import os
import sys

from ._cli_args import BASE_URL_ENV, EXIT_AUDIO, EXIT_AUTH, EXIT_OUTPUT, EXIT_SERVER, EXIT_USAGE
from ._cli_io import OutputError, clean
from .errors import AuthError, ConfigError

__all__ = ["describe", "exit_code"]


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


def describe(exc: BaseException) -> str:
    """The failure's one line (after ``scribe-sync: error:``), naming the option at fault."""
    text = clean(str(exc)).strip() or type(exc).__name__
    option = getattr(exc, "option", None)
    if isinstance(exc, ConfigError) and option and option not in ("api_key", "output", "mock"):
        flag = "--" + str(option).replace("_", "-")
        if option == "base_url" and _base_url_from_environment():
            flag = "$" + BASE_URL_ENV
        if "--" not in text:
            text = f"{flag}: {text}"
    if isinstance(exc, TimeoutError) and "time" not in text:
        text = f"timed out: {text}"
    return text


def _base_url_from_environment() -> bool:
    """The base URL came from ``$SCRIBE_SYNC_BASE_URL``, not from ``--base-url``."""
    given = any(arg == "--base-url" or arg.startswith("--base-url=") for arg in sys.argv[1:])
    return bool(os.environ.get(BASE_URL_ENV)) and not given
