"""Regenerate ``tests/data/sentence.flac``: one sentence spoken by espeak-ng, 16 kHz mono.

The fixture of the scripted-transcript conformance test (``tests/test_mock_sdk.py``): a
recording of exactly :data:`SENTENCE` at 180 words a minute (faster than the mock's one word
per 400 ms of speech). Run from the repository root: ``python scripts/make_sentence_fixture.py``.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import soundfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_sample import RATE, synthesize

SENTENCE = "hello world this is a test of the mock server"
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "sentence.flac"


def main() -> None:
    pause = np.zeros(int(0.3 * RATE), dtype=np.float32)
    audio = np.concatenate([pause, synthesize(SENTENCE), pause])
    audio *= 0.8 / max(1e-9, float(np.abs(audio).max()))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(OUT, audio, RATE, subtype="PCM_16")
    (OUT.with_suffix(".txt")).write_text(SENTENCE + "\n", encoding="utf-8")
    print(f"{len(audio) / RATE:.1f} s, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
