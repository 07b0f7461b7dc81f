"""The messages that answer one commit, in the live order (docs/protocol.md §4.3-4.6, §4.10)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .languages import detected_language
from .params import SessionParams
from .script import Utterance, speaker_id
from .transcriber import TranscribedWord, find_entities, redact, words_payload

__all__ = ["commit_answer", "segment_answer"]

_ENTITY_CATEGORIES: Final = frozenset({"all", "pii", "phi", "pci", "other", "offensive_language"})


def _entities(text: str, wanted: tuple[str, ...]) -> list[dict[str, Any]]:
    found = find_entities(text)
    if _ENTITY_CATEGORIES.intersection(wanted):
        return found
    return [e for e in found if e["entity_type"] in wanted]


def diarized_words(words: Sequence[TranscribedWord], speaker: str) -> list[dict[str, Any]]:
    """``diarized_transcript.words``: the SDK 2.78 shape (docs/protocol.md §4.7), every word by
    ``speaker``; spacing items carry ``speaker_id`` null and logprob 0 as in its fixture."""
    items = []
    for item in words_payload(words):
        item = dict(item)
        item.pop("characters", None)  # optional there, and typed as objects (Q6)
        if item["type"] == "word":
            item["speaker_id"] = speaker
        else:
            item["speaker_id"] = None
            item["logprob"] = 0.0
        items.append(item)
    return items


def commit_answer(
    params: SessionParams,
    words: Sequence[TranscribedWord],
    *,
    language: str | None,
    echo_partial: bool,
    segment_index: int = 0,
    speaker: str = "speaker_0",
) -> list[dict[str, Any]]:
    """Every message of one commit's answer: the committed pair, enrichments, the diarized
    transcript, the echo partial.

    ``language`` is the ``language_code`` of the timestamped message (``None``: null);
    ``segment_index`` the 0-based index of this commit in the connection; ``speaker`` the
    ``speaker_id`` of its words when ``params.diarize``.
    """
    text = " ".join(w.text for w in words)
    plain: dict[str, Any] = {"message_type": "committed_transcript", "text": text}
    answer = [plain]
    if params.include_timestamps or params.include_language_detection:
        stamped: dict[str, Any] = {
            "message_type": "committed_transcript_with_timestamps",
            "text": text,
            "language_code": language,
            "words": words_payload(words) if params.include_timestamps else None,
        }
        # Language detection alone: words null and the timestamped message first (§4.4).
        answer = [plain, stamped] if params.include_timestamps else [stamped, plain]
    if params.entity_detection:
        entities = _entities(text, params.entity_detection)
        answer.append(
            {"message_type": "committed_transcript_entities", "text": text, "entities": entities}
        )
    if params.entity_redaction:
        entities = _entities(text, params.entity_redaction)
        answer.append(
            {
                "message_type": "redacted_transcript",
                "text": text,
                "redacted_text": redact(text, entities, params.entity_redaction_mode),
            }
        )
    if params.transcript_edit is not None:
        answer.append({"message_type": "edited_transcript", "text": text, "edited_text": text})
    if params.diarize:
        # Unverified against the live service (Q15): SDK 2.78 types only. Sent right after the
        # commit's other messages; live it may come any time later, in commit order.
        answer.append(
            {
                "message_type": "diarized_transcript",
                "segment_index": segment_index,
                "text": text,
                "words": diarized_words(words, speaker),
            }
        )
    if echo_partial and text:
        # The live server often re-sends the committed text as a partial (§4.2, CAP-A).
        answer.append({"message_type": "partial_transcript", "text": text})
    return answer


def segment_answer(
    params: SessionParams,
    words: Sequence[TranscribedWord],
    utterance: Utterance | None,
    *,
    segment: int,
    echo_partial: bool,
    language_format: str,
) -> list[dict[str, Any]]:
    """The answer to the ``segment``-th commit (1-based) of a session: its language (the
    utterance's, or detected, :mod:`mock_server.languages`) and speaker (the utterance's, or
    ``speaker_0``), then :func:`commit_answer`."""
    language = params.language_code
    if params.include_language_detection:
        language = detected_language(
            segment,
            utterance_language=None if utterance is None else utterance.language,
            language_code=params.language_code,
            secondary_languages=params.secondary_languages,
            language_format=language_format,
        )
    speaker = "speaker_0"
    if utterance is not None and utterance.speaker is not None:
        speaker = speaker_id(utterance.speaker)
    return commit_answer(
        params,
        words,
        language=language,
        echo_partial=echo_partial,
        segment_index=segment - 1,
        speaker=speaker,
    )
