"""Language detection in the mock: which ``language_code`` a commit reports, and in which form.

With ``include_language_detection`` the live service reports the detected language on
``committed_transcript_with_timestamps`` (docs/protocol.md §4.5). The mock reports, per commit:

1. the language of the scripted utterance, when it names one (``S1|fr: ...``);
2. otherwise the session's candidates in turn, one commit after another: ``language_code``
   then each of ``secondary_languages`` (commit 1 -> the first, commit 2 -> the second, ...,
   cycling); ``"en"`` when the session names none.

Docs examples show two-letter codes (``"en"``); LiveKit maps three-letter ones (``"eng"``)
because Scribe sent them, and an integrator fixture has ``"eng"`` (Q7): ``language_format``
``"iso639-3"`` makes the mock send those. Which form the live service sends today, and whether
it cycles secondary languages like this, is unverified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .params import ISO3_TO_ISO1

__all__ = ["LANGUAGE_FORMATS", "detected_language", "format_language"]

LANGUAGE_FORMATS: Final = ("iso639-1", "iso639-3")

# The first 3-letter code listed for each 2-letter one ("fra" before "fre", "deu" before "ger").
_ISO1_TO_ISO3: Final = {two: three for three, two in reversed(list(ISO3_TO_ISO1.items()))}


def format_language(code: str, language_format: str) -> str:
    """``code`` (2 or 3 letters) in the requested form; unknown codes are kept as they are."""
    lowered = code.lower()
    two = ISO3_TO_ISO1.get(lowered, lowered)
    if language_format == "iso639-3":
        return _ISO1_TO_ISO3.get(two, lowered)
    return two


def detected_language(
    commit: int,
    *,
    utterance_language: str | None,
    language_code: str | None,
    secondary_languages: Sequence[str],
    language_format: str,
) -> str:
    """The language reported for the ``commit``-th commit (1-based); see the module docstring."""
    if utterance_language:
        return format_language(utterance_language, language_format)
    candidates = [c for c in (language_code, *secondary_languages) if c] or ["en"]
    return format_language(candidates[(commit - 1) % len(candidates)], language_format)
