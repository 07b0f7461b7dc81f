"""SIGTERM and SIGHUP (``kill``, a closed terminal) at a moment the run is busy: the documented
code (128 + the signal), no traceback, no ``.part`` file, every output complete or untouched
(one input: what was transcribed so far), no child process left behind."""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

from scribe_sync.cli import build_parser
from tests.test_cli import SAMPLE, SRT_TIME, TIMEOUT, _cli, _env, parse_cues

OLD = "the previous transcript, which a terminated run must not damage\n"
# A plain progress line about audio sent: a session is open and streaming.
STREAMING = rb"\d+\.\d s of 14\.3 s"
PROGRESS = ("--progress", "plain", "--progress-every", "0.1")


def read_until(proc: subprocess.Popen[bytes], pattern: bytes, seen: bytearray) -> None:
    """Read stderr until ``pattern`` shows up (the synchronisation point, never a sleep)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + TIMEOUT
    while not re.search(pattern, seen):
        left = deadline - time.monotonic()
        assert left > 0, bytes(seen[-2000:])
        ready, _, _ = select.select([proc.stderr], [], [], left)
        chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
        assert chunk, f"ended before {pattern!r}: {bytes(seen[-2000:])!r}"
        seen += chunk


def finish(proc: subprocess.Popen[bytes], seen: bytearray) -> int:
    """Wait for the end, reading stderr to its end; the exit code."""
    assert proc.stderr is not None
    try:
        while chunk := proc.stderr.read(65536):
            seen += chunk
        return proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _valid_or_old(path: pathlib.Path) -> None:
    text = path.read_text(encoding="utf-8")
    if text != OLD:
        parse_cues(text, SRT_TIME)  # a complete SRT document (perhaps of no cue)


def assert_ended_by(sig: signal.Signals, code: int, seen: bytearray) -> None:
    """Exit code 128 + the signal, and no traceback on stderr."""
    err = seen.decode(errors="replace")
    assert code == 128 + sig, err
    assert "Traceback" not in err


def assert_output_kept(tmp_path: pathlib.Path, out: pathlib.Path) -> None:
    """Nothing beside ``out`` (no ``.part``), and ``out`` complete or untouched."""
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    _valid_or_old(out)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
                         ids=["TERM", "HUP", "QUIT"])
def test_a_terminated_run_leaves_its_output_complete_and_no_part_file(
    tmp_path: pathlib.Path, sig: signal.Signals,
) -> None:
    """Mid-session, SIGTERM/SIGHUP is exit 128+N, with -o complete or untouched (it used to kill
    the process on the spot: exit by the signal, and a .part file left beside the output)."""
    out, code, seen = _signal_once(tmp_path, sig, STREAMING)
    assert_ended_by(sig, code, seen)
    assert_output_kept(tmp_path, out)


def _signal_once(tmp_path: pathlib.Path, sig: signal.Signals, when: bytes,
                 ) -> tuple[pathlib.Path, int, bytearray]:
    """A real-time run into ``-o`` (an older file there), sent ``sig`` once its stderr shows
    ``when``: the output's path, the exit code and all of stderr."""
    out = tmp_path / "out.srt"
    out.write_text(OLD, encoding="utf-8")
    proc = subprocess.Popen(
        _cli("transcribe", SAMPLE, "--mock", "--realtime", "-o", str(out), *PROGRESS),
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = bytearray()
    try:
        read_until(proc, when, seen)
        proc.send_signal(sig)
    finally:
        code = finish(proc, seen)
    return out, code, seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_signal_before_the_first_segment_leaves_the_old_output_as_it_was(
    tmp_path: pathlib.Path, sig: signal.Signals,
) -> None:
    """A session open and streaming, no segment yet (the sample's first word ends at 1.7 s):
    Ctrl+C or SIGTERM keeps -o's old file byte for byte, as the docs promise, and the last line
    says so. It used to be replaced by an empty SRT document, "written to" it."""
    out, code, seen = _signal_once(tmp_path, sig, rb"0\.\d s of 14\.3 s.*\b0 segments")
    assert_ended_by(sig, code, seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    assert out.read_text(encoding="utf-8") == OLD
    last = seen.decode().strip().splitlines()[-1]
    assert ", 0 segments, 0 words in " in last and last.endswith(f"; {out} left as it was"), last


def _transcribe_help() -> str:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return " ".join(sub.choices["transcribe"].format_help().split())


def test_sigterm_on_one_input_writes_what_was_transcribed_as_the_help_says(
    tmp_path: pathlib.Path,
) -> None:
    """One input, -o FILE, SIGTERM once a segment came: exit 143, and the file is replaced with
    what was transcribed so far (a complete SRT of the segments received, not the whole audio),
    as after Ctrl+C; no .part. The help used to promise "outputs are complete or untouched"
    (read: the old file kept) for every terminated run."""
    out = tmp_path / "out.srt"
    out.write_text(OLD, encoding="utf-8")
    proc = subprocess.Popen(
        _cli("transcribe", SAMPLE, "--mock", "--realtime", "--commit-every", "2", "-o", str(out),
             *PROGRESS),
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = bytearray()
    try:
        read_until(proc, rb"of 14\.3 s.*, [1-9]\d* segments?\b", seen)  # a segment arrived
        proc.send_signal(signal.SIGTERM)
    finally:
        code = finish(proc, seen)
    assert_ended_by(signal.SIGTERM, code, seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    text = out.read_text(encoding="utf-8")
    assert text != OLD
    cues = parse_cues(text, SRT_TIME)
    assert cues and cues[-1][1] < 14.0, text  # what came before the signal, not the rest
    assert ("143 terminated (SIGTERM), or 129 for SIGHUP, 131 for SIGQUIT: as a second Ctrl+C. "
            "One input: what was transcribed so far is written at once, replacing the output "
            "file") in _transcribe_help()


def test_a_background_job_ignores_sigint_and_still_ends_cleanly_on_sigterm(
    tmp_path: pathlib.Path,
) -> None:
    """Started with SIGINT ignored (``cmd &`` in a script, nohup): a SIGINT changes nothing,
    and a SIGTERM still ends the run with 143 and -o complete or untouched (it used to take
    over no signal at all, so a kill left a .part file)."""
    out = tmp_path / "out.srt"
    out.write_text(OLD, encoding="utf-8")
    proc = subprocess.Popen(
        _cli("transcribe", SAMPLE, "--mock", "--realtime", "-o", str(out), *PROGRESS),
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    seen = bytearray()
    try:
        read_until(proc, STREAMING, seen)
        proc.send_signal(signal.SIGINT)
        after = bytearray()
        read_until(proc, rb"\b[1-9]\.\d s of 14\.3 s", after)  # still streaming
        seen += after
        proc.send_signal(signal.SIGTERM)
    finally:
        code = finish(proc, seen)
    assert_ended_by(signal.SIGTERM, code, seen)
    assert_output_kept(tmp_path, out)


def test_a_terminated_batch_leaves_no_part_file(tmp_path: pathlib.Path) -> None:
    """SIGTERM on a batch in flight: exit 143, in-flight files abandoned (no .part)."""
    sources = []
    for name in ("a", "b"):
        sources.append(str(tmp_path / f"{name}.flac"))
        shutil.copyfile(SAMPLE, sources[-1])
    outdir = tmp_path / "out"
    proc = subprocess.Popen(
        _cli("transcribe", *sources, "--mock", "--realtime", "--jobs", "2", "-o", str(outdir),
             "--format", "srt", *PROGRESS),
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = bytearray()
    try:
        read_until(proc, rb"in flight; audio 0:0[1-9]", seen)
        proc.send_signal(signal.SIGTERM)
    finally:
        code = finish(proc, seen)
    assert_ended_by(signal.SIGTERM, code, seen)
    for path in outdir.iterdir():
        assert not path.name.endswith(".part"), sorted(outdir.iterdir())
        _valid_or_old(path)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
            found += [int(c) for c in handle.read().split()]
    return found


@pytest.mark.skipif(shutil.which("ffmpeg") is None or not os.path.exists("/proc/self/task"),
                    reason="needs ffmpeg and /proc")
def test_sigquit_on_an_ffmpeg_source_leaves_no_part_file_nor_ffmpeg(
    tmp_path: pathlib.Path,
) -> None:
    """AAC goes through an ffmpeg child. SIGQUIT (Ctrl+\\) used to kill the command on the
    spot: a .part file beside the output and ffmpeg orphaned."""
    audio = tmp_path / "talk.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "quiet", "-y", "-i", SAMPLE, "-c:a", "aac",
                    str(audio)], check=True, timeout=TIMEOUT)
    out = tmp_path / "out.txt"
    proc = subprocess.Popen(
        _cli("transcribe", str(audio), "--mock", "--realtime", "-o", str(out), *PROGRESS),
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = bytearray()
    try:
        read_until(proc, rb"talk\.m4a: [1-9]\.\d s", seen)  # length unknown
        children = _children(proc.pid)
        proc.send_signal(signal.SIGQUIT)
    finally:
        code = finish(proc, seen)
    assert_ended_by(signal.SIGQUIT, code, seen)
    assert children  # ffmpeg was there
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "talk.m4a"]
