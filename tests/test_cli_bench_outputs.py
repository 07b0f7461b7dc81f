"""``scribe-sync bench`` writes by transcribe's rules: --plot takes its format from the name's
suffix, refused up front when matplotlib cannot write it (it failed as an internal error after
the whole run); an unwritable --plot is refused up front; a symlink or a FIFO is written
through, never replaced; a stdout that cannot be written is exit 6 in one line (it was an
internal error).

"Up front" is checked without a clock: the runs point at a port where nothing listens, so a
check made only after the sessions would end in exit 5 instead.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import threading

import pytest

from scribe_sync.cli import EXIT_OK, EXIT_OUTPUT, EXIT_USAGE
from tests.test_cli import KEY, TIMEOUT, _cli, _env, one_error_line, run

pytest.importorskip("matplotlib")


@pytest.mark.parametrize("name", ["plotfile", "latency.txt", "x.wav"])
def test_a_plot_suffix_matplotlib_cannot_write_is_refused_up_front(
    short_wav: pathlib.Path, dead_url: str, name: str,
) -> None:
    proc = run("bench", "--base-url", dead_url, "--api-key", KEY, "-n", "1", str(short_wav),
               "--plot", str(short_wav.with_name(name)))
    assert proc.returncode == EXIT_USAGE, proc.stderr
    line = one_error_line(proc.stderr)
    assert "--plot" in line and ".png" in line and ".svg" in line


def test_a_plot_in_a_missing_folder_is_refused_up_front(short_wav: pathlib.Path,
                                                        dead_url: str) -> None:
    proc = run("bench", "--base-url", dead_url, "--api-key", KEY, "-n", "1", str(short_wav),
               "--plot", str(short_wav.with_name("nodir") / "x.png"))
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert "--plot" in one_error_line(proc.stderr)


def test_the_plot_format_is_the_suffix_and_a_symlink_is_written_through(
    short_wav: pathlib.Path,
) -> None:
    real = short_wav.with_name("real.svg")
    real.write_text("old\n", encoding="utf-8")
    link = short_wav.with_name("link.svg")
    link.symlink_to(real.name)
    proc = run("bench", "--mock", "-q", "-n", "1", str(short_wav), "--plot", str(link))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert link.is_symlink()
    assert b"<svg" in real.read_bytes()
    assert not [p for p in short_wav.parent.iterdir() if p.name.startswith(".")]


def test_a_plot_fifo_is_written_through_not_replaced(short_wav: pathlib.Path) -> None:
    fifo = short_wav.with_name("plot.png")
    os.mkfifo(fifo)
    got: list[bytes] = []
    # A daemon: should the run replace the FIFO, nothing could ever open it to let this go.
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), name="fifo-reader",
                              daemon=True)
    reader.start()
    try:
        proc = run("bench", "--mock", "-q", "-n", "1", str(short_wav), "--plot", str(fifo))
    finally:
        if reader.is_alive() and not got:  # the run never opened it: let the reader go
            with open(fifo, "wb"):
                pass
        reader.join(TIMEOUT)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert fifo.is_fifo()
    assert got and got[0].startswith(b"\x89PNG")


@pytest.mark.parametrize("where", ["full", "closed"])
def test_bench_stdout_that_cannot_be_written_is_exit_6(short_wav: pathlib.Path,
                                                       where: str) -> None:
    if where == "full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full" if where == "full" else os.devnull, "wb") as sink:
        proc = subprocess.run(
            _cli("bench", "--mock", "-n", "1", str(short_wav)), env=_env(), stdout=sink,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False,
            text=True, preexec_fn=(lambda: os.close(1)) if where == "closed" else None)
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert "<stdout>" in one_error_line(proc.stderr)
