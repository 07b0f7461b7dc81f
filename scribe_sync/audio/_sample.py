"""The bundled sample recording: short synthesized English speech with its transcript."""

from __future__ import annotations

import pathlib
import re

__all__ = ["sample_path", "sample_sentences", "sample_transcript"]

_DATA = pathlib.Path(__file__).resolve().parent.parent / "data"


def sample_path() -> pathlib.Path:
    """The bundled sample: about 14 s of speech by espeak-ng, 16 kHz mono FLAC.

    Made by ``scripts/make_sample.py``; the package is installed unzipped (``zip_safe =
    False``), so this is a real file that any program can open.
    """
    return _DATA / "sample.flac"


def sample_transcript() -> str:
    """What the sample says: four sentences on one line."""
    return (_DATA / "sample.txt").read_text(encoding="utf-8").strip()


def sample_sentences() -> list[str]:
    """The sample's transcript sentence by sentence: a mock script of one utterance each, so
    that every spoken sentence comes back as it was said."""
    return re.split(r"(?<=[.!?])\s+", sample_transcript())
