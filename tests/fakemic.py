"""A fake microphone for tests: an ALSA ``file`` plugin over the null device, which captures
the bytes of a raw PCM file (the recipe works without a sound card).

ALSA reads ``$HOME/.asoundrc`` once per process, so a test points a child process's ``HOME`` at
the folder :func:`fake_mic_home` makes. PyAudio then captures, through real PortAudio and ALSA,
exactly the bytes of the raw file (16-bit little-endian mono PCM), then silence.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASOUNDRC", "fake_mic_home"]

ASOUNDRC = """
pcm.fakemic {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{infile}"
    format "raw"
}}
pcm.!default {{
    type asym
    capture.pcm "fakemic"
    playback.pcm "null"
}}
"""


def fake_mic_home(folder: Path, audio: bytes) -> Path:
    """A ``HOME`` under ``folder`` whose default ALSA capture device plays ``audio``."""
    infile = folder / "mic.raw"
    infile.write_bytes(audio)
    home = folder / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(ASOUNDRC.format(infile=infile))
    return home
