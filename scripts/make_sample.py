"""Regenerate the bundled sample recording and its transcript.

Synthesises a few sentences with espeak-ng, resamples to 16 kHz mono and writes
``scribe_sync/data/sample.flac`` and ``scribe_sync/data/sample.txt``. Run from the repository
root: ``python scripts/make_sample.py``. Needs espeak-ng on PATH; numpy, soundfile and soxr.
"""

from __future__ import annotations

import io
import pathlib
import subprocess

import numpy as np
import soundfile
import soxr

SENTENCES = [
    "Welcome to scribe sync.",
    "This short recording was made by a speech synthesizer for testing.",
    "It is streamed to the server in small chunks of audio.",
    "The words come back as text, with a time for every word.",
]
VOICE = "en-us"
WORDS_PER_MINUTE = 180
RATE = 16000
# Silence between sentences, so that voice activity detection sees separate segments.
PAUSE_SECONDS = 0.5
DATA = pathlib.Path(__file__).resolve().parent.parent / "scribe_sync" / "data"


def synthesize(text: str) -> np.ndarray:
    """One sentence as float32 mono at RATE."""
    wav = subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    return np.asarray(soxr.resample(audio, rate, RATE), dtype=np.float32)


def main() -> None:
    pause = np.zeros(int(PAUSE_SECONDS * RATE), dtype=np.float32)
    parts = [pause]
    for sentence in SENTENCES:
        parts += [synthesize(sentence), pause]
    audio = np.concatenate(parts)
    audio *= 0.8 / max(1e-9, float(np.abs(audio).max()))  # normalise with headroom
    DATA.mkdir(parents=True, exist_ok=True)
    soundfile.write(DATA / "sample.flac", audio, RATE, subtype="PCM_16")
    (DATA / "sample.txt").write_text(" ".join(SENTENCES) + "\n", encoding="utf-8")
    print(f"{len(audio) / RATE:.1f} s, {(DATA / 'sample.flac').stat().st_size} bytes")


if __name__ == "__main__":
    main()
