"""Hostile servers, options and environments for FfmpegSource: no hang, no leaked process or fd."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from scribe_sync import ConfigError
from scribe_sync.audio import AudioSourceError, FfmpegSource, open_source

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")

ENDLESS = ("sine=frequency=440:sample_rate=16000", ["-f", "lavfi"])


def _open_fds() -> set[str]:
    """This process's open fds, sockets aside (the test servers' own connections)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the directory's own fd, closed by now
        if not target.startswith("socket:"):
            found.add(f"{fd} -> {target}")
    return found


def _children() -> list[int]:
    """Processes whose parent is this one, zombies included."""
    me, found = str(os.getpid()), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append(int(pid))
    return found


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, name="test-silent-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/stream.wav"
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()
        for conn in accepted:
            conn.close()


def _drain_with_watchdog(source: FfmpegSource, seconds: float = 60) -> BaseException | None:
    """Read the source to its end on a named thread; close it if that takes over ``seconds``
    (the test then fails instead of hanging). Returns what the read raised."""
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            for _ in source:
                pass
            outcome.append(None)
        except BaseException as exc:  # handed to the test, whatever it is
            outcome.append(exc)

    thread = threading.Thread(target=read, name="test-drain")
    thread.start()
    thread.join(seconds)
    hung = thread.is_alive()
    source.close()
    thread.join(10)
    assert not hung, "the read did not end on its own"
    return outcome[0]


def test_a_server_that_never_answers_times_out(silent_server: str) -> None:
    """A URL whose server accepts and then says nothing ends in a typed error after
    ``timeout`` seconds, instead of blocking the reader for ever; ffmpeg is reaped."""
    before = _open_fds()
    source = FfmpegSource(silent_server, timeout=0.5)
    error = _drain_with_watchdog(source)
    assert isinstance(error, AudioSourceError)
    assert "ffmpeg failed" in str(error)
    assert _children() == []
    assert _open_fds() <= before


def test_timeout_goes_only_to_network_inputs() -> None:
    """-rw_timeout is added for http(s) URLs, never for files or lavfi (ffmpeg rejects it there),
    and not when the caller already set a timeout."""
    url = FfmpegSource("https://example.invalid/a.mp3", timeout=2.5)
    url.close()
    assert url.command[url.command.index("-rw_timeout") + 1] == "2500000"
    own = FfmpegSource("http://example.invalid/a", input_options=["-rw_timeout", "7"])
    own.close()
    assert own.command.count("-rw_timeout") == 1
    for source in (FfmpegSource(ENDLESS[0], input_options=ENDLESS[1]),
                   FfmpegSource("/tmp/a.wav"), FfmpegSource("http://x.invalid/", timeout=None)):
        source.close()
        assert "-rw_timeout" not in source.command


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"input_options": "-re"}, "input_options"),
        ({"input_options": [b"-re"]}, "input_options"),
        ({"input_options": ["-f", 3]}, "input_options"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": 1e308}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"live": "no"}, "live"),
        ({"live": 0}, "live"),
        ({"chunk_ms": 0}, "chunk_ms"),
        ({"format": "mp3"}, "audio_format"),
    ],
)
def test_bad_options_are_config_errors_before_ffmpeg_starts(
    options: dict[str, Any], option: str
) -> None:
    """Wrong types and absurd numbers are a ConfigError naming the option; no process starts."""
    with pytest.raises(ConfigError) as caught:
        FfmpegSource(ENDLESS[0], **options)
    assert caught.value.option == option
    assert isinstance(caught.value, ValueError)
    assert _children() == []


def test_ffmpeg_killed_mid_stream_is_an_error_and_reaped() -> None:
    """ffmpeg killed from outside mid-stream: the next read reports it, nothing is left over."""
    before = _open_fds()
    source = FfmpegSource(ENDLESS[0], input_options=ENDLESS[1])
    next(source)
    os.kill(source.pid, signal.SIGKILL)
    error = _drain_with_watchdog(source)
    assert isinstance(error, AudioSourceError)
    assert "exit status -9" in str(error)
    assert _children() == []
    assert _open_fds() <= before


def test_breaking_out_of_an_endless_stream_leaks_nothing() -> None:
    """Leaving a never-ending stream early (the with block) reaps ffmpeg and closes every fd."""
    before = _open_fds()
    with FfmpegSource(ENDLESS[0], input_options=ENDLESS[1]) as source:
        for n, _ in enumerate(source):
            if n == 20:
                break
    assert _children() == []
    assert _open_fds() <= before


@pytest.mark.parametrize("name", ["pipe:0", "concat:a.m4a|b.m4a", "data:,x.m4a"])
def test_a_file_named_like_an_ffmpeg_protocol_is_read_as_a_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """An M4A (which libsndfile cannot read) named "pipe:0" was read by ffmpeg from stdin and
    reported as not audio; "concat:..." was concatenated. Now it is the file itself."""
    monkeypatch.chdir(tmp_path)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=16000:duration=1", "-c:a", "aac", "tone.m4a"],
        check=True, timeout=60,
    )
    os.rename("tone.m4a", name)
    with open_source(name) as source:
        assert source.name == name
        samples = sum(len(chunk) for chunk in source) // 2
    assert abs(samples - 16000) < 1100  # AAC adds priming and padding, never a second copy


def test_a_pipe_of_this_process_is_read_once_by_ffmpeg() -> None:
    """``/dev/fd/N`` of a pipe (a shell's ``<(...)``) holding FLAC: libsndfile cannot decode
    FLAC from a pipe, and ffmpeg, started after it, could not open that descriptor of ours.
    open_source hands the pipe to ffmpeg as its stdin: the whole file is read, no fd leaks."""
    from scribe_sync.audio import sample_path

    data = pathlib.Path(sample_path()).read_bytes()
    before = _open_fds()
    read, write = os.pipe()

    def feed() -> None:
        try:
            with open(write, "wb") as pipe:
                pipe.write(data)
        except BrokenPipeError:
            pass  # the reader gave up; the assertions below say so

    writer = threading.Thread(target=feed, name="test-pipe-writer")
    writer.start()
    try:
        with open_source(f"/dev/fd/{read}") as source:
            assert isinstance(source, FfmpegSource)
            pcm = b"".join(source)
    finally:
        os.close(read)  # a writer still blocked on a full pipe gets EPIPE and ends
        writer.join(10)
    assert len(pcm) > 14 * 32000  # the sample is 14.3 s of speech, at 32000 bytes a second
    assert _open_fds() == before
