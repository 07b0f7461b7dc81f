"""Transcribe an audio file to SRT subtitles.

    python examples/file_to_srt.py talk.mp3 talk.srt

Needs the audio extra (``pip install 'scribe-sync[audio]'``) and an API key in
``ELEVENLABS_API_KEY``. ``SCRIBE_SYNC_BASE_URL`` points it at another server (the tests use the
mock). Without arguments it transcribes the bundled sample to ``sample.srt``.
"""

from __future__ import annotations

import os
import sys

import scribe_sync
from scribe_sync.audio import sample_path


def main(source: str, destination: str) -> None:
    transcript = scribe_sync.transcribe(
        source,
        base_url=os.environ.get("SCRIBE_SYNC_BASE_URL", scribe_sync.DEFAULT_BASE_URL),
        include_timestamps=True,  # subtitles are timed from word timestamps
        speed=None,  # a file need not be sent at real time
    )
    transcript.write(destination)  # the suffix picks the format: .srt, .vtt, .json, .txt
    print(f"{len(transcript)} segments, {len(transcript.words)} words -> {destination}")


if __name__ == "__main__":
    args = sys.argv[1:] or [str(sample_path()), "sample.srt"]
    main(*args)
