"""Live captions from the microphone: the partial transcript redrawn in place, committed lines
scrolling above it, until Ctrl+C (or ``--seconds N``).

    python examples/mic_captions.py [--seconds 30]

Needs the mic extra (``pip install 'scribe-sync[mic]'``, which needs PortAudio) and an API key
in ``ELEVENLABS_API_KEY``; ``SCRIBE_SYNC_BASE_URL`` points it at another server.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

import scribe_sync
from scribe_sync import CommittedTranscript, PartialTranscript
from scribe_sync.audio import MicrophoneSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args()

    base_url = os.environ.get("SCRIBE_SYNC_BASE_URL", scribe_sync.DEFAULT_BASE_URL)
    # The service commits at pauses (VAD): a microphone has pauses and no end.
    with scribe_sync.connect(base_url=base_url, commit_strategy="vad") as session:
        mic = MicrophoneSource()  # the default input device, 16 kHz mono, 100 ms chunks
        chunks = mic if args.seconds is None else itertools.islice(mic, int(args.seconds * 10))
        handle = session.stream(chunks)  # a background thread; finishes at the end of chunks
        committed = ""
        try:
            for event in session:
                # The service repeats each committed text as a partial: skip that echo.
                if isinstance(event, PartialTranscript) and event.text != committed:
                    sys.stdout.write("\r\x1b[K" + event.text)  # redraw the line in place
                elif isinstance(event, CommittedTranscript) and event.text:
                    committed = event.text
                    sys.stdout.write("\r\x1b[K" + committed + "\n")
                sys.stdout.flush()
        except KeyboardInterrupt:
            handle.stop()  # leaving the block finishes: the tail is committed and printed
        finally:
            mic.close()


if __name__ == "__main__":
    main()
