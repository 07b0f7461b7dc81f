"""quiet_native_stderr in a hostile environment: no temporary directory, fd 2 closed, errors."""

from __future__ import annotations

import errno
import os
import pathlib
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest
import soundfile

from scribe_sync.audio import FileSource, sample_path
from scribe_sync.audio._quiet import quiet_native_stderr

REPO = pathlib.Path(__file__).resolve().parent.parent


def _fd2_target() -> str:
    return os.readlink("/proc/self/fd/2")


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_no_usable_temporary_directory_means_no_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the temporary directory full, the block runs uncaptured: a FileSource still opens
    (it was reported as 'not an audio file') and no fd leaks."""

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full)
    fds, fd2 = _fds(), _fd2_target()
    with quiet_native_stderr("test"):
        assert _fd2_target() == fd2
    with FileSource(sample_path()) as source:
        assert next(source)
    assert _fds() <= fds
    assert _fd2_target() == fd2


def test_an_error_inside_the_block_restores_fd_2() -> None:
    """An exception from the library call leaves fd 2 where it was and closes the capture."""
    fds, fd2 = _fds(), _fd2_target()
    inside: list[str] = []

    def failing_call() -> None:
        with quiet_native_stderr("test"):
            inside.append(_fd2_target())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_call()
    assert inside and inside[0] != fd2
    assert _fd2_target() == fd2
    assert _fds() <= fds


def test_many_threads_capturing_at_once_leave_fd_2_as_it_was() -> None:
    """Overlapping captures from eight threads, some failing, end with fd 2 restored once."""
    fds, fd2 = _fds(), _fd2_target()
    start = threading.Barrier(8)

    def work(n: int) -> None:
        start.wait()
        for i in range(50):
            try:
                with quiet_native_stderr(f"thread {n}"):
                    if (n + i) % 7 == 0:
                        raise ValueError("a failing call")
            except ValueError:
                pass

    threads = [threading.Thread(target=work, args=(n,), name=f"test-quiet-{n}") for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert _fd2_target() == fd2
    assert _fds() <= fds


def test_a_process_started_with_fd_2_closed_still_reads_audio() -> None:
    """With fd 2 closed from the start, capturing must neither crash nor leave fd 2 open on a
    file of ours, and the audio is read in full."""
    child = (
        "import os\n"
        "from scribe_sync.audio import FileSource, sample_path\n"
        "with FileSource(sample_path()) as s:\n"
        "    n = sum(len(c) for c in s)\n"
        "print(n, os.path.exists('/proc/self/fd/2'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", child], capture_output=False, stdout=subprocess.PIPE,
        stderr=None, preexec_fn=lambda: os.close(2), timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0
    count, fd2_open = proc.stdout.decode().split()
    assert int(count) > 100_000
    assert fd2_open == "False"


def test_a_socket_that_took_a_closed_fd_2_is_left_alone() -> None:
    """Started with fd 2 closed, a process's next socket takes number 2; a capture then pointed
    it at the capture file, and what another thread sent on that socket went there."""
    child = (
        "import socket\n"
        "from scribe_sync.audio._quiet import quiet_native_stderr\n"
        "a, b = socket.socketpair()\n"
        "assert a.fileno() == 2, a.fileno()\n"
        "with quiet_native_stderr('test'):\n"
        "    a.sendall(b'frame')\n"
        "b.settimeout(10)\n"
        "print(b.recv(100).decode())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(2), timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0
    assert proc.stdout.decode().split() == ["frame"]


def test_a_truncated_mp3_decodes_without_writing_to_stderr(tmp_path: pathlib.Path) -> None:
    """A cut-short MP3 makes libmpg123 warn "Xing stream size off by more than 1%": that goes
    to the log with the other decoder noise, not onto the user's terminal."""
    tone = np.sin(np.arange(48000 * 3) / 7).astype(np.float32) * 0.3
    whole = tmp_path / "whole.mp3"
    soundfile.write(whole, tone, 48000, format="MP3", subtype="MPEG_LAYER_III")
    data = whole.read_bytes()
    (tmp_path / "cut.mp3").write_bytes(data[: len(data) * 6 // 10])
    child = (
        "from scribe_sync.audio import FileSource\n"
        f"with FileSource({str(tmp_path / 'cut.mp3')!r}) as s:\n"
        "    print(sum(len(c) for c in s))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert int(proc.stdout) > 0
    assert proc.stderr.decode() == ""
