"""A download that breaks off (a body shorter than its Content-Length, a server that stops
sending) is a failed input, not the end of the audio: ffmpeg exits 0 after either, so its status
alone made half a file look like a whole one."""

from __future__ import annotations

import http.server
import io
import math
import pathlib
import shutil
import struct
import subprocess
import threading
import wave
from collections.abc import Iterator

import pytest

from scribe_sync.audio import AudioSourceError, FfmpegSource
from scribe_sync.cli import EXIT_AUDIO
from tests.test_cli import TIMEOUT, _cli, _env, one_error_line

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def _wav(seconds: float = 4.0, rate: int = 16000) -> bytes:
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(i / 8)))
                      for i in range(int(seconds * rate)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


WAV = _wav()


@pytest.fixture
def server() -> Iterator[str]:
    """/short.wav promises all of WAV and sends half; /stall sends 1000 bytes and then nothing
    until the test ends; /whole-with-length.wav and /whole-to-close.wav send all of it, the
    second with no Content-Length (HTTP/1.0: the body ends with the connection)."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            if self.path == "/short.wav":
                self.send_header("Content-Length", str(len(WAV)))
                self.end_headers()
                self.wfile.write(WAV[: len(WAV) // 2])
                return
            if self.path.startswith("/whole"):  # all of it, its end the connection's or not
                if self.path == "/whole-with-length.wav":
                    self.send_header("Content-Length", str(len(WAV)))
                self.end_headers()
                self.wfile.write(WAV)
                return
            self.end_headers()
            self.wfile.write(WAV[:1000])
            self.wfile.flush()
            release.wait()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="test-download-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        release.set()
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()


def _drain(source: FfmpegSource) -> int:
    with source:
        return sum(len(chunk) for chunk in source)


def test_a_body_shorter_than_its_content_length_is_an_error(server: str) -> None:
    with pytest.raises(AudioSourceError, match="broke off"):
        _drain(FfmpegSource(server + "/short.wav"))


def test_a_download_that_stalls_is_an_error_not_the_end(server: str) -> None:
    with pytest.raises(AudioSourceError, match="broke off"):
        _drain(FfmpegSource(server + "/stall", timeout=1))


@pytest.mark.parametrize("path", ["/whole-with-length.wav", "/whole-to-close.wav"])
def test_a_whole_download_ends_normally_with_or_without_a_length(server: str,
                                                                 path: str) -> None:
    """Without a Content-Length, ffmpeg 5 logs "Stream ends prematurely at N, should be
    18446744073709551615" (its unknown length) at the end of every whole body: that is no
    break."""
    assert _drain(FfmpegSource(server + path)) == (len(WAV) - 44)


def test_a_whole_download_still_ends_normally(tmp_path: pathlib.Path) -> None:
    """The check looks at ffmpeg's log of a network read only: a file read is untouched."""
    path = tmp_path / "whole.wav"
    path.write_bytes(WAV)
    assert _drain(FfmpegSource(str(path))) > 0


def test_the_cli_exits_4_and_keeps_what_was_transcribed(server: str,
                                                        tmp_path: pathlib.Path) -> None:
    """It was exit 0 with half the audio and no word of warning, even with -v."""
    out = tmp_path / "t.txt"
    proc = subprocess.run(
        _cli("transcribe", server + "/short.wav", "--mock", "--fast", "-q", "-o", str(out)),
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_AUDIO, proc.stderr
    assert "broke off" in one_error_line(proc.stderr)
    assert out.exists()  # the segments that arrived before the failure, as for any failure
