"""Is this audio plausible for the format the session declared? (``audio_check="strict"``)

The live service decodes audio as the query's ``audio_format`` says and is not known to check
it: 8 kHz audio sent as ``pcm_16000``, or PCM sent as ``ulaw_8000``, gives a poor or empty
transcript there, with no error (docs/protocol.md §7). The mock's transcript does not depend on
what was said, so by default such a mistake goes unnoticed. With ``audio_check="strict"`` the
engine hears audio that fails these checks as silence: commits return ``""``, and a test of the
client's format handling fails loudly.

Two signatures, both of real mistakes and never of speech in the declared format:

- **level**: decoded audio whose RMS exceeds :data:`MAX_RMS` (-9 dBFS) is not speech: it is
  bytes of another encoding. PCM read as mu-law decodes its high bytes (0x00 and 0xFF for quiet
  audio) to near full scale; mu-law or 8-bit bytes read as 16-bit PCM are uniform noise at
  about -5 dBFS.
- **band**: in 16-bit PCM at 16 kHz or more, speech keeps most of its energy below 4 kHz. Audio
  recorded at a lower rate and sent as a higher one is played faster: its energy moves up, and
  more than :data:`MAX_HIGH_BAND` of it lies above 4 kHz (telephone audio at 8 kHz sent as
  ``pcm_16000`` puts about 40% there; the mock's own speech-like test audio about 5%).

Quiet audio (below -50 dBFS) and chunks shorter than 40 ms are never judged: silence is
plausible in every format. Nor can any check tell audio whose spectrum scales with its sample
rate (white or simply filtered noise, like ``mock_server.testing.speech``) at one rate from the
same at another: the band check needs audio with a real-world bandwidth.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from .vad import ulaw_to_pcm16

__all__ = ["MAX_HIGH_BAND", "MAX_RMS", "heard_as", "implausible"]

#: Decoded RMS above which audio is not speech (-9 dBFS of 32768).
MAX_RMS: Final = 32768 * 10 ** (-9 / 20)
#: Fraction of the energy above 4 kHz beyond which 16-bit audio is of a lower sample rate.
MAX_HIGH_BAND: Final = 0.3
_QUIET_RMS: Final = 32768 * 10 ** (-50 / 20)
_MIN_SECS: Final = 0.04
_BAND_SPLIT_HZ: Final = 4000.0
_FFT: Final = 512


def implausible(audio: bytes, sample_rate: int, bytes_per_sample: int) -> str | None:
    """Why ``audio`` cannot be speech in the declared format, or ``None`` if it can."""
    if len(audio) < _MIN_SECS * sample_rate * bytes_per_sample:
        return None
    if bytes_per_sample == 1:
        samples = ulaw_to_pcm16(audio).astype(np.float64)
    else:
        usable = len(audio) - len(audio) % 2
        samples = np.frombuffer(audio[:usable], dtype="<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(samples * samples)))
    if rms < _QUIET_RMS:
        return None
    if rms > MAX_RMS:
        return "level: louder than any speech (another encoding?)"
    if bytes_per_sample == 2 and sample_rate >= 16000 and len(samples) >= _FFT:
        blocks = samples[: len(samples) // _FFT * _FFT].reshape(-1, _FFT)
        power = np.abs(np.fft.rfft(blocks * np.hanning(_FFT), axis=1)) ** 2
        split = int(_BAND_SPLIT_HZ / sample_rate * _FFT)
        total = float(power[:, 1:].sum())  # without DC
        if total > 0 and float(power[:, split:].sum()) / total > MAX_HIGH_BAND:
            return "band: energy above 4 kHz (audio of a lower sample rate?)"
    return None


def heard_as(audio: bytes, sample_rate: int, bytes_per_sample: int) -> bytes:
    """``audio`` itself, or silence of the same length (in the declared encoding) when it is
    :func:`implausible` for the declared format."""
    if implausible(audio, sample_rate, bytes_per_sample) is None:
        return audio
    return (b"\xff" if bytes_per_sample == 1 else b"\x00") * len(audio)  # mu-law 0xff is 0
