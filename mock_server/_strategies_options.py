"""Hypothesis strategies for session options, valid and invalid.

Part of :mod:`mock_server.strategies`, which re-exports every public name; import from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
from hypothesis import strategies as st

from scribe_sync import protocol
from scribe_sync.messages import AudioFormat, CommitStrategy

from .params import DEFAULT_MODELS
from .transcriber import LEXICON

__all__ = ["InvalidOptions", "invalid_session_options", "session_options"]

_words = st.sampled_from(LEXICON)
_short_text = st.lists(_words, min_size=1, max_size=4).map(" ".join)

_languages = st.sampled_from(["en", "fr", "de", "es", "eng", "fra"])


@st.composite
def _valid_options(draw: st.DrawFn, fixed: Mapping[str, Any]) -> protocol.SessionOptions:
    kwargs: dict[str, Any] = {}

    def maybe(name: str, strategy: st.SearchStrategy[Any]) -> None:
        if name not in fixed and draw(st.booleans()):
            kwargs[name] = draw(strategy)

    maybe("model_id", st.sampled_from(DEFAULT_MODELS))
    maybe("audio_format", st.sampled_from(list(AudioFormat)))
    maybe("commit_strategy", st.sampled_from([CommitStrategy.MANUAL, CommitStrategy.VAD]))
    maybe("vad_silence_threshold_secs", st.integers(3, 30).map(lambda d: d / 10))
    maybe("vad_threshold", st.integers(1, 9).map(lambda d: d / 10))
    maybe("min_speech_duration_ms", st.integers(50, 2000))
    maybe("min_silence_duration_ms", st.integers(50, 2000))
    maybe("language_code", _languages)
    maybe("secondary_languages", st.lists(_languages, max_size=2).map(tuple))
    maybe("include_timestamps", st.booleans())
    maybe("include_language_detection", st.booleans())
    maybe("keyterms", st.lists(_words, min_size=1, max_size=3).map(tuple))
    maybe("no_verbatim", st.booleans())
    if not fixed.get("include_timestamps", kwargs.get("include_timestamps")):
        maybe("filter_background_audio", st.booleans())
    maybe("enable_logging", st.booleans())
    if draw(st.booleans()):
        maybe("transcript_edit", _short_text)
    else:
        maybe("entity_detection", st.lists(st.sampled_from(protocol.ENTITY_CATEGORIES),
                                           min_size=1, max_size=2).map(tuple))
    kwargs.update(fixed)
    return protocol.SessionOptions(**kwargs)


def session_options(**fixed: Any) -> st.SearchStrategy[protocol.SessionOptions]:
    """Valid :class:`~scribe_sync.SessionOptions` the mock accepts; ``fixed`` pins fields
    (``session_options(commit_strategy="vad")``). Shrinks to the defaults."""
    protocol.SessionOptions(**fixed)  # a bad pin fails here, not as a flaky example
    return _valid_options(dict(fixed))


@attrs.frozen
class InvalidOptions:
    """Keyword arguments that ``SessionOptions`` (and ``connect()``) must refuse with a
    ``ConfigError`` whose ``option`` is ``option``, before anything is sent."""

    kwargs: Mapping[str, Any]
    option: str


# option -> values outside what docs/protocol.md §2 allows for it.
_INVALID: Final[dict[str, st.SearchStrategy[Any]]] = {
    "model_id": st.sampled_from(["", "no spaces allowed", "-leading-dash", 42]),
    "audio_format": st.sampled_from(["pcm_11025", "mp3", "PCM16"]),
    "commit_strategy": st.sampled_from(["auto", "sometimes"]),
    "vad_silence_threshold_secs": st.sampled_from([0.0, 0.29, 3.01, 10.0, -1.0]),
    "vad_threshold": st.sampled_from([0.0, 0.09, 0.91, 1.5]),
    "min_speech_duration_ms": st.sampled_from([0, 49, 2001, 100.5]),
    "min_silence_duration_ms": st.sampled_from([0, 49, 2001, 100.5]),
    "language_code": st.sampled_from(["english", "e", "en_US!", "12"]),
    "keyterms": st.sampled_from([("",), ("x" * (protocol.MAX_KEYTERM_LENGTH + 1),),
                                 ("k",) * (protocol.MAX_KEYTERMS + 1)]),
    "include_timestamps": st.sampled_from(["yes", 1, None]),
    "entity_redaction_mode": st.sampled_from(["scramble"]),
    "transcript_edit": st.sampled_from(["", "x" * (protocol.MAX_TRANSCRIPT_EDIT_LENGTH + 1)]),
}


@st.composite
def _invalid(draw: st.DrawFn) -> InvalidOptions:
    option = draw(st.sampled_from(sorted(_INVALID)))
    value = draw(_INVALID[option])
    return InvalidOptions({option: value}, option)


def invalid_session_options() -> st.SearchStrategy[InvalidOptions]:
    """One invalid option (out of range, unknown value, wrong type) and the option name the
    ``ConfigError`` must carry."""
    return _invalid()
