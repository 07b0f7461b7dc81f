"""``RawSource``: headerless PCM or mu-law from a binary file object or stdin."""

from __future__ import annotations

import logging
import sys
from typing import IO

from scribe_sync.messages import AudioFormat

from ._base import (
    DEFAULT_CHUNK_MS,
    AudioSource,
    AudioSourceError,
    check_binary_file,
    check_live,
)

__all__ = ["RawSource"]

logger = logging.getLogger("scribe_sync.audio")


class RawSource(AudioSource):
    """Raw audio already in the target format (16-bit little-endian mono PCM, or mu-law).

    Nothing is converted: the bytes are cut into chunks of exactly ``chunk_ms``. A trailing odd
    byte of 16-bit PCM (half a sample, which cannot be sent) is dropped, with a warning on the
    ``scribe_sync.audio`` logger, and counted in :attr:`dropped_bytes`. The file object is not
    closed by :meth:`close`: it belongs to the caller (and stdin to the process).

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
        check_live(live, allow_none=False)
        if fileobj is None:
            name = "<stdin>"
            # Python sets sys.stdin to None when the process started with fd 0 closed.
            stdin = sys.stdin
            if stdin is None or getattr(stdin, "closed", False):
                raise AudioSourceError(name, "standard input is closed")
            fileobj = stdin.buffer
        else:
            check_binary_file(fileobj, option="fileobj")
            name = str(getattr(fileobj, "name", "<file object>"))
        super().__init__(format=format, chunk_ms=chunk_ms, name=name)
        if _is_terminal(fileobj):
            self._closed = True
            raise AudioSourceError(
                name, "is a terminal; raw audio has to be piped or redirected into it"
            )
        self.live = live
        self._fileobj = fileobj
        #: Bytes dropped at the end because they were not a whole sample (0 or 1).
        self.dropped_bytes = 0

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
            # End of input in the middle of a sample: the half sample cannot be sent.
            del self._pending[-1:]
            self.dropped_bytes += 1
            logger.warning("%s: the input ended in the middle of a 16-bit sample; its last "
                           "byte was dropped", self.name)
        return bytes(data)


def _is_terminal(fileobj: IO[bytes]) -> bool:
    try:
        return bool(fileobj.isatty())
    except (AttributeError, OSError, ValueError):
        return False  # no isatty, or already closed: the first read reports it
