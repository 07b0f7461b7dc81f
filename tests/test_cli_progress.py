"""Progress: the status line's words, and what a real pseudo-terminal shows (redrawn lines with
position, total, speed and ETA; a line per file in a batch), plain lines for CI, nothing when
piped or with -q."""

from __future__ import annotations

import os
import pathlib
import pty
import re
import select
import shutil
import subprocess
import time

from mock_server import MockServer
from scribe_sync._cli_progress import Rate, clock, status
from scribe_sync.audio._sample import sample_sentences
from tests.test_cli import KEY, SAMPLE, TIMEOUT, PtyRun, _cli, _env, run

STATUS = re.compile(r"sample\.flac: (\d+\.\d) s of (14\.\d) s \((\d+)%\)(?:, [\d.]+x)?"
                    r"(?:, ETA (\d+):(\d\d))?")


def test_clock_reads_as_minutes_or_hours() -> None:
    """Durations print as m:ss, and h:mm:ss from an hour."""
    assert [clock(s) for s in (0, 59.6, 75, 3725, -3)] == ["0:00", "1:00", "1:15", "1:02:05",
                                                          "0:00"]


def test_a_paced_eta_is_the_remaining_audio_at_that_pace() -> None:
    """With --realtime (pace 1) the ETA is the audio left; with --speed 4 a quarter of it."""
    assert Rate(1.0).eta(20.0, 60.0) == 40.0
    assert Rate(4.0).eta(20.0, 60.0) == 10.0
    assert Rate(None).eta(20.0, None) is None
    assert "ETA 0:40" in status("a.wav", 20.0, 60.0, Rate(1.0))


def test_a_stream_shows_elapsed_audio_only() -> None:
    """Without a known length: the elapsed audio, no percentage, no ETA."""
    line = status("<stdin>", 12.34, None, Rate(None))
    assert line == "<stdin>: 12.3 s"


def test_the_terminal_shows_position_total_speed_and_an_exact_eta(tmp_path: pathlib.Path) -> None:
    """stderr on a pty, --speed 4: redrawn lines with the position against the total, the
    speed, and an ETA equal to the audio left at that pace; cleared at the end."""
    with MockServer(transcript=sample_sentences()) as server:
        run_ = PtyRun("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                      "--speed", "4", stdout_tty=False, stderr_tty=True)
        assert run_.finish() == 0, run_.tty
    shown = run_.tty.decode()
    matches = list(STATUS.finditer(shown))
    assert len(matches) >= 5, shown
    positions = [float(m.group(1)) for m in matches]
    assert positions == sorted(positions) and positions[-1] > 14.0
    with_eta = [m for m in matches if m.group(4) is not None]
    assert with_eta
    for m in with_eta:
        left = (float(m.group(2)) - float(m.group(1))) / 4
        eta = int(m.group(4)) * 60 + int(m.group(5))
        assert abs(eta - left) <= 1.0, m.group(0)
    assert re.search(r", \d+\.\dx", shown)  # the speed, once measured
    assert "\r\x1b[J" in shown  # redrawn in place, and cleared before the summary
    assert shown.rstrip().splitlines()[-1].split("\x1b[J")[-1].startswith("scribe-sync: 14.")


def test_with_the_live_view_the_status_leads_the_partial_line() -> None:
    """stdout and stderr on the terminal: the status sits before the partial on the live line,
    and committed lines scroll above without it."""
    with MockServer(transcript=sample_sentences()) as server:
        code, shown = _on_one_terminal("transcribe", SAMPLE, "--base-url", server.base_url,
                                       "--api-key", KEY, "--speed", "4", "--commit-every", "3")
    assert code == 0, shown
    assert re.search(r"\r\x1b\[K\[sample\.flac: \d+\.\d s of 14\.\d s \(\d+%\)[^\]]*\] \w",
                     shown), shown[-2000:]
    committed = [line.split("\r\x1b[K")[-1] for line in shown.split("\r\n")[:-1]]
    assert committed and not any(line.startswith("[sample") for line in committed[:-1])


def _on_one_terminal(*args: str) -> tuple[int, str]:
    """Run the command with stdout and stderr on one pseudo-terminal; its code and output."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(_cli(*args), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=_env())
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            try:
                data = os.read(master, 65536) if ready else b""
            except OSError:  # EIO: the child closed the terminal's last reference
                data = b""
            if not data:
                break
            shown += data
    finally:
        os.close(master)
    return proc.wait(timeout=TIMEOUT), shown.decode()


def test_a_batch_on_a_terminal_shows_overall_progress_and_one_line_per_file(
    tmp_path: pathlib.Path,
) -> None:
    """Many inputs, stderr on a pty: an overall line (files done, in flight, audio, ETA) and
    a status line per file in flight; then the summary."""
    inputs = []
    for i in range(4):
        shutil.copyfile(SAMPLE, tmp_path / f"part{i}.flac")
        inputs.append(str(tmp_path / f"part{i}.flac"))
    with MockServer(transcript=sample_sentences()) as server:
        run_ = PtyRun("transcribe", *inputs, "--base-url", server.base_url, "--api-key", KEY,
                      "--speed", "8", "--jobs", "2", "-o", str(tmp_path / "out"),
                      stdout_tty=False, stderr_tty=True)
        assert run_.finish() == 0, run_.tty
    shown = run_.tty.decode()
    overall = re.findall(r"(\d)/4 done, (\d) in flight; audio (\d+:\d\d)/~?(\d+:\d\d) (\d+)%",
                         shown)
    assert overall, shown[-2000:]
    assert {flying for _, flying, _, _, _ in overall} <= {"0", "1", "2"}
    assert re.search(r"\n  part\d\.flac: \d+\.\d s of 14\.\d s \(\d+%\)", shown.replace(
        "\r\n", "\n"))
    assert re.search(r"ETA \d+:\d\d", shown)
    assert "4 files: 4 ok" in shown


def test_plain_progress_is_a_line_now_and_then_for_logs() -> None:
    """--progress plain with stderr piped: whole lines, no control characters."""
    with MockServer(transcript=sample_sentences()) as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--speed", "8", "--progress", "plain", "--progress-every", "0.3")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if STATUS.search(line)]
    assert len(lines) >= 2, proc.stderr
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr


def test_piped_stderr_gets_no_progress_and_q_silences_a_terminal(tmp_path: pathlib.Path) -> None:
    """auto with stderr piped: only the summary line; -q on a terminal: nothing at all."""
    with MockServer(transcript=sample_sentences()) as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--speed", "8")
        quiet = PtyRun("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                       "--speed", "8", "-q", "-o", str(tmp_path / "q.txt"),
                       stdout_tty=False, stderr_tty=True)
        assert quiet.finish() == 0
    assert proc.returncode == 0
    assert len(proc.stderr.splitlines()) == 1 and not STATUS.search(proc.stderr)
    assert quiet.tty == b""


def test_a_stream_on_stdin_shows_elapsed_audio(tmp_path: pathlib.Path) -> None:
    """Raw audio on stdin (no known length): the status is the audio sent so far."""
    import soundfile

    data, _ = soundfile.read(SAMPLE, dtype="int16")
    with MockServer(transcript=sample_sentences()) as server:
        proc = subprocess.run(
            _cli("transcribe", "-", "--base-url", server.base_url, "--api-key", KEY,
                 "--speed", "8", "--progress", "plain", "--progress-every", "0.3"),
            input=data.tobytes(), env=_env(), capture_output=True, timeout=TIMEOUT,
            check=False)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert re.search(r"^<stdin>: \d+\.\d s(, [\d.]+x)?, \d+ segments?$", err, re.MULTILINE), err
