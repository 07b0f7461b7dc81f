"""FfmpegSource: URLs served on 127.0.0.1, error reporting, and the subprocess's lifetime."""

from __future__ import annotations

import functools
import gc
import http.server
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile

from scribe_sync.audio import (
    AudioDependencyError,
    AudioSourceError,
    FfmpegSource,
    find_ffmpeg,
    ulaw_encode,
)

REPO = pathlib.Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")

# An endless test tone generated inside ffmpeg: a stream that never ends on its own.
ENDLESS = ("sine=frequency=440:sample_rate=16000", ["-f", "lavfi"])


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: pathlib.Path) -> Iterator[tuple[pathlib.Path, str]]:
    """A directory served over HTTP on 127.0.0.1, and its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    # A single-threaded server: every request is handled on the one named thread below.
    server = http.server.HTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, name="test-http-server")
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    assert not thread.is_alive()


def _alive(pid: int) -> bool:
    """True while the process exists, zombies included (a reaped process is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _peak_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spectrum))])


def test_url_audio_equals_the_served_file(http_root: tuple[pathlib.Path, str]) -> None:
    """A 16 kHz mono WAV fetched over HTTP comes out as exactly its PCM samples."""
    root, base = http_root
    rng = np.random.default_rng(3)
    samples = rng.integers(-20000, 20000, 16000 * 2 + 500, dtype=np.int16)
    soundfile.write(root / "speech.wav", samples, 16000, subtype="PCM_16")
    with FfmpegSource(f"{base}/speech.wav", chunk_ms=100) as source:
        chunks = list(source)
        assert not source.live
    assert [len(c) for c in chunks] == [3200] * 20 + [1000]
    assert b"".join(chunks) == samples.astype("<i2").tobytes()


def test_url_is_resampled_and_mixed_down(http_root: tuple[pathlib.Path, str]) -> None:
    """A 44.1 kHz stereo file becomes 16 kHz mono, sine frequency kept, length scaled."""
    root, base = http_root
    t = np.arange(44100 * 2) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    soundfile.write(root / "tone.flac", np.stack([tone, tone], axis=1), 44100)
    pcm = b"".join(FfmpegSource(f"{base}/tone.flac"))
    assert abs(len(pcm) / 2 - 32000) <= 2
    assert abs(_peak_hz(pcm, 16000) - 1000) < 1.0


def test_url_to_mulaw(http_root: tuple[pathlib.Path, str]) -> None:
    """With ulaw_8000, ffmpeg's output is the mu-law encoding of the 8 kHz samples."""
    root, base = http_root
    samples = (np.sin(np.arange(8000) / 5) * 12000).astype(np.int16)
    soundfile.write(root / "tone.wav", samples, 8000, subtype="PCM_16")
    data = b"".join(FfmpegSource(f"{base}/tone.wav", format="ulaw_8000", chunk_ms=50))
    assert len(data) == 8000
    ours = np.frombuffer(ulaw_encode(samples), dtype=np.uint8).astype(int)
    # ffmpeg's encoder rounds segment boundaries differently (see test_audio_convert).
    assert np.all(np.abs(np.frombuffer(data, dtype=np.uint8).astype(int) - ours) <= 1)


def test_http_error_is_reported_without_secrets(http_root: tuple[pathlib.Path, str]) -> None:
    """A 404 raises AudioSourceError quoting ffmpeg, with the URL's query redacted."""
    _, base = http_root
    source = FfmpegSource(f"{base}/missing.wav?token=s3cret")
    with pytest.raises(AudioSourceError, match="404") as caught:
        list(source)
    assert "s3cret" not in str(caught.value)
    assert caught.value.source == f"{base}/missing.wav?***"
    assert source.closed
    assert not _alive(source.pid)


def test_no_audio_stream_is_an_error(tmp_path: pathlib.Path) -> None:
    """A file ffmpeg cannot read gives an error naming the file."""
    path = tmp_path / "junk.bin"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(AudioSourceError, match="ffmpeg failed") as caught:
        list(FfmpegSource(path))
    assert caught.value.source == str(path)


def test_close_mid_stream_kills_and_reaps_ffmpeg() -> None:
    """Closing an endless stream kills ffmpeg and reaps it (no zombie)."""
    source = FfmpegSource(ENDLESS[0], input_options=ENDLESS[1])
    assert len(next(source)) == 3200
    assert _alive(source.pid)
    source.close()
    source.close()
    assert not _alive(source.pid)
    assert list(source) == []


def test_error_in_consumer_kills_ffmpeg_via_context_manager() -> None:
    """An exception in the with-block ends the subprocess."""
    pids = []

    def consume() -> None:
        with FfmpegSource(ENDLESS[0], input_options=ENDLESS[1]) as source:
            pids.append(source.pid)
            next(source)
            raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        consume()
    assert not _alive(pids[0])


def test_garbage_collection_kills_ffmpeg() -> None:
    """A source dropped without close() does not leave ffmpeg running."""
    source = FfmpegSource(ENDLESS[0], input_options=ENDLESS[1])
    next(source)
    pid = source.pid
    del source
    gc.collect()
    assert not _alive(pid)


def test_interpreter_exit_kills_ffmpeg() -> None:
    """A process that exits with an open source takes ffmpeg with it."""
    child = (
        "from scribe_sync.audio import FfmpegSource\n"
        f"s = FfmpegSource({ENDLESS[0]!r}, input_options={ENDLESS[1]!r})\n"
        "next(s)\n"
        "print(s.pid, flush=True)\n"
        "keep = s\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
        timeout=60,
    )
    assert not _alive(int(proc.stdout.strip()))


def test_live_is_guessed_from_the_protocol() -> None:
    """Streaming protocols and capture devices are live; files and http(s) are not."""
    true = shutil.which("true")
    if true is None:
        pytest.skip("no 'true' executable to stand in for ffmpeg")
    cases = [
        ("rtsp://camera.local/stream", [], True),
        ("srt://127.0.0.1:9000", [], True),
        ("default", ["-f", "alsa"], True),
        ("https://example.com/talk.mp3", [], False),
        ("/tmp/talk.mp4", [], False),
    ]
    for location, options, live in cases:
        with FfmpegSource(location, input_options=options, ffmpeg=true) as source:
            assert source.live is live, location
    with FfmpegSource("rtsp://x", live=False, ffmpeg=true) as source:
        assert source.live is False


def test_ffmpeg_from_imageio_when_not_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ffmpeg on PATH, imageio-ffmpeg's binary is used when installed."""
    real = shutil.which("ffmpeg")
    fake = types.ModuleType("imageio_ffmpeg")
    fake.get_ffmpeg_exe = lambda: real  # type: ignore[attr-defined]
    monkeypatch.setenv("PATH", "")
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", fake)
    assert find_ffmpeg() == real
    with FfmpegSource(ENDLESS[0], input_options=ENDLESS[1]) as source:
        assert source.command[0] == real
        assert len(next(source)) == 3200


def test_no_ffmpeg_at_all_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither PATH nor imageio-ffmpeg: AudioDependencyError says how to install ffmpeg."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(AudioDependencyError, match="imageio-ffmpeg"):
        FfmpegSource("anything.mp3")
