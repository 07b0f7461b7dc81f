"""``RawSource``: headerless PCM or mu-law from a binary file object or stdin."""

from __future__ import annotations

import sys
from typing import IO

from scribe_sync.messages import AudioFormat

from ._base import DEFAULT_CHUNK_MS, AudioSource, AudioSourceError

__all__ = ["RawSource"]


class RawSource(AudioSource):
    """Raw audio already in the target format (16-bit little-endian mono PCM, or mu-law).

    Nothing is converted: the bytes are cut into chunks of exactly ``chunk_ms``. A trailing odd
    byte of 16-bit PCM (half a sample) is dropped. The file object is not closed by
    :meth:`close`: it belongs to the caller (and stdin to the process).

    Args:
        fileobj: a binary file object; ``None`` reads ``sys.stdin.buffer``.
        format: the format of the bytes, which is also the format of the chunks.
        chunk_ms: the duration of each chunk, 20 to 1000 ms.
        live: set True when the bytes are produced in real time (``arecord | ...``) so that
            :func:`~scribe_sync.audio.paced` does not slow them down further. Default False:
            a pipe is as likely to carry a file as a recording, and pacing a live pipe only
            costs latency when the producer bursts.
    """

    def __init__(
        self,
        fileobj: IO[bytes] | None = None,
        *,
        format: AudioFormat | str = AudioFormat.PCM_16000,
        chunk_ms: int = DEFAULT_CHUNK_MS,
        live: bool = False,
    ) -> None:
        if fileobj is None:
            fileobj = sys.stdin.buffer
            name = "<stdin>"
        else:
            name = str(getattr(fileobj, "name", "<file object>"))
        super().__init__(format=format, chunk_ms=chunk_ms, name=name)
        self.live = live
        self._fileobj = fileobj

    def _read(self) -> bytes:
        wanted = self.chunk_bytes - len(self._pending)
        try:
            data = self._fileobj.read(wanted)
        except (OSError, ValueError) as exc:
            raise AudioSourceError(self.name, f"cannot read: {exc}") from exc
        if data is None:
            # Only non-blocking file objects return None; spinning on them would burn a CPU.
            raise AudioSourceError(self.name, "non-blocking file objects are not supported")
        if not data and self.format.bytes_per_sample == 2 and len(self._pending) % 2:
            # End of input in the middle of a sample: drop the half sample.
            del self._pending[-1:]
        return bytes(data)
