"""Transcribe many files at once with a pool of worker threads, one session per file.

    python examples/many_files.py talks/*.mp3

Each worker thread runs a blocking session; one ScribeClient is shared by all of them (it holds
only settings). A failed file is reported and the others go on. Writes ``NAME.txt`` beside each
file. Without arguments it transcribes three copies of the bundled sample in a temporary folder.
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import shutil
import sys
import tempfile

import scribe_sync
from scribe_sync.audio import sample_path

WORKERS = 4


def transcribe_one(client: scribe_sync.ScribeClient, path: pathlib.Path) -> str:
    transcript = scribe_sync.transcribe(path, client=client, speed=None)
    path.with_suffix(".txt").write_text(transcript.to_text(), encoding="utf-8")
    return transcript.text


def main(paths: list[pathlib.Path]) -> int:
    client = scribe_sync.ScribeClient(
        base_url=os.environ.get("SCRIBE_SYNC_BASE_URL", scribe_sync.DEFAULT_BASE_URL)
    )
    failures = 0
    with concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="transcribe") as pool:
        futures = {pool.submit(transcribe_one, client, path): path for path in paths}
        for future in concurrent.futures.as_completed(futures):
            path = futures[future]
            try:
                text = future.result()
            except scribe_sync.ScribeError as exc:  # audio, auth, server: typed, one line
                failures += 1
                print(f"{path.name}: failed: {exc}", file=sys.stderr)
            else:
                print(f"{path.name}: {len(text.split())} words")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:]:
        sys.exit(main([pathlib.Path(arg) for arg in sys.argv[1:]]))
    with tempfile.TemporaryDirectory() as folder:
        copies = []
        for n in range(3):
            copies.append(pathlib.Path(folder) / f"sample-{n}.flac")
            shutil.copy(sample_path(), copies[-1])
        sys.exit(main(copies))
