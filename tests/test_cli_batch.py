"""Many inputs against the mock: good, corrupt and missing files and a server fault in one
batch, the summary (stderr and JSON), --skip-existing, and Ctrl+C once and twice."""

from __future__ import annotations

import json
import pathlib
import re
import select
import shutil
import signal
import subprocess
import time
from typing import Any

import numpy as np
import soundfile

from mock_server import MockServer
from scribe_sync.audio._sample import sample_sentences
from scribe_sync.cli import EXIT_AUDIO, EXIT_INTERRUPTED, EXIT_OK
from tests.test_cli import KEY, SAMPLE, SAMPLE_TEXT, TIMEOUT, _cli, _env, run

# Ends a session once it has received 20 s of audio: only the 28 s file reaches it. A request
# error, which the reconnect policy never retries (the same request would fail the same way).
FAULT = {"faults": [{"action": "error", "when": "audio", "seconds": 20.0,
                     "error_type": "invalid_request"}]}


def _inputs(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """good1/good2 (the 14 s sample), long (28 s), corrupt (a cut FLAC); missing is absent."""
    folder.mkdir()
    data, rate = soundfile.read(SAMPLE, dtype="int16")
    files = {name: folder / f"{name}.flac" for name in
             ("good1", "corrupt", "good2", "long", "missing")}
    shutil.copyfile(SAMPLE, files["good1"])
    shutil.copyfile(SAMPLE, files["good2"])
    soundfile.write(files["long"], np.concatenate([data, data]), rate)
    files["corrupt"].write_bytes(pathlib.Path(SAMPLE).read_bytes()[:2000])
    return files


def _words_ok(path: pathlib.Path) -> bool:
    words = path.read_text(encoding="utf-8").split()
    return bool(words) and words == SAMPLE_TEXT.split()[: len(words)]


def test_a_mixed_batch_writes_the_good_files_and_reports_each_failure(
    tmp_path: pathlib.Path,
) -> None:
    """Good files are written; corrupt, missing and server-failed ones are reported, one line
    each; the exit code is the first failure's (the corrupt file: 4); nothing half-written."""
    files = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    summary = tmp_path / "summary.json"
    with MockServer(transcript=sample_sentences(), scenario=FAULT) as server:
        proc = run("transcribe", *map(str, files.values()), "--base-url", server.base_url,
                   "--api-key", KEY, "--fast", "-o", str(out) + "/", "--jobs", "3",
                   "--summary", str(summary))
    assert proc.returncode == EXIT_AUDIO, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["good1.txt", "good2.txt"]
    assert _words_ok(out / "good1.txt") and _words_ok(out / "good2.txt")
    report = json.loads(summary.read_text(encoding="utf-8"))
    by_name = {pathlib.Path(f["input"]).stem: f for f in report["files"]}
    assert [pathlib.Path(f["input"]).stem for f in report["files"]] == list(files)
    assert {k: v["status"] for k, v in by_name.items()} == {
        "good1": "ok", "corrupt": "failed", "good2": "ok", "long": "failed",
        "missing": "failed"}
    assert by_name["long"]["exit_code"] == 5 and "invalid_request" in by_name["long"]["error"]
    assert by_name["long"]["audio_seconds"] >= 20.0
    assert by_name["missing"]["exit_code"] == 4 and "no such file" in by_name["missing"]["error"]
    assert by_name["corrupt"]["exit_code"] == 4
    assert 14.0 < by_name["good1"]["audio_seconds"] < 15.0
    assert by_name["good1"]["segments"] >= 1 and by_name["good1"]["wall_seconds"] > 0
    assert report["totals"]["ok"] == 2 and report["totals"]["failed"] == 3
    assert report["exit_code"] == EXIT_AUDIO
    # stderr: one line per file and the totals, each failure with its reason.
    lines = proc.stderr.splitlines()
    for name, status in (("good1", "ok"), ("corrupt", "failed"), ("long", "failed")):
        assert any(line.startswith(status) and f"{name}.flac" in line for line in lines), name
    assert "5 files: 2 ok, 3 failed" in lines[-1]


def test_skip_existing_resumes_a_batch(tmp_path: pathlib.Path) -> None:
    """--skip-existing leaves an existing output alone and transcribes the rest; exit 0."""
    files = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / "good1.srt").write_text("kept\n")
    with MockServer(transcript=sample_sentences()) as server:
        proc = run("transcribe", str(files["good1"]), str(files["good2"]), "--base-url",
                   server.base_url, "--api-key", KEY, "--fast", "-o", str(out),
                   "--format", "srt", "--skip-existing")
        assert len(server.sessions()) == 1
    assert proc.returncode == EXIT_OK, proc.stderr
    assert (out / "good1.srt").read_text() == "kept\n"
    assert "-->" in (out / "good2.srt").read_text()
    assert re.search(r"^skipped\s+\S*good1\.flac", proc.stderr, flags=re.MULTILINE)


class _Batch:
    """The command on many files, stderr read line by line to synchronise with it."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(_cli(*args), env=_env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err = b""

    def read_until(self, pattern: str) -> None:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + TIMEOUT
        while not re.search(pattern.encode(), self.err):
            left = deadline - time.monotonic()
            assert left > 0, self.err[-2000:]
            ready, _, _ = select.select([self.proc.stderr], [], [], left)
            chunk = self.proc.stderr.read1(65536) if ready else b""  # type: ignore[attr-defined]
            assert chunk or not ready, f"ended before {pattern!r}: {self.err[-2000:]!r}"
            self.err += chunk

    def finish(self) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, (self.err + err).decode()


def _copies(folder: pathlib.Path, n: int) -> list[str]:
    folder.mkdir()
    names = []
    for i in range(n):
        shutil.copyfile(SAMPLE, folder / f"part{i}.flac")
        names.append(str(folder / f"part{i}.flac"))
    return names


def _statuses(summary: pathlib.Path) -> list[dict[str, Any]]:
    return list(json.loads(summary.read_text(encoding="utf-8"))["files"])


def test_one_ctrl_c_starts_no_new_file_and_finishes_those_in_flight(
    tmp_path: pathlib.Path,
) -> None:
    """After the first file is done, SIGINT: the files in flight finish and are written, no
    new file starts, the summary says so, exit 130; no temporary file is left."""
    names = _copies(tmp_path / "in", 6)
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    with MockServer(transcript=sample_sentences()) as server:
        batch = _Batch("transcribe", *names, "--base-url", server.base_url, "--api-key", KEY,
                       "--speed", "6", "--jobs", "2", "-o", str(out), "--summary",
                       str(summary), "-v")
        batch.read_until(r"done: \S+part\d\.flac")
        batch.read_until(r"started: \S+part[2-5]\.flac")  # a file in flight
        batch.proc.send_signal(signal.SIGINT)
        code, err = batch.finish()
    assert code == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "finishing" in err
    files = _statuses(summary)
    done = [f for f in files if f["status"] == "ok"]
    assert len(done) >= 3  # the first, and the ones in flight at the Ctrl+C
    assert any(f["error"] == "not started (Ctrl+C)" for f in files)
    assert {f["status"] for f in files} <= {"ok", "interrupted"}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        pathlib.Path(f["output"]).name for f in done)
    assert all(_words_ok(pathlib.Path(f["output"])) for f in done)


def test_a_second_ctrl_c_abandons_the_files_in_flight_and_keeps_the_completed_ones(
    tmp_path: pathlib.Path,
) -> None:
    """SIGINT twice: the files in flight are abandoned (no output for them), every completed
    output is kept, exit 130, no temporary file left."""
    names = _copies(tmp_path / "in", 5)
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    with MockServer(transcript=sample_sentences()) as server:
        batch = _Batch("transcribe", *names, "--base-url", server.base_url, "--api-key", KEY,
                       "--speed", "6", "--jobs", "2", "-o", str(out), "--summary",
                       str(summary), "-v")
        batch.read_until(r"done: \S+part\d\.flac")
        batch.read_until(r"started: \S+part[2-4]\.flac")
        batch.proc.send_signal(signal.SIGINT)
        batch.read_until("Ctrl\\+C again to abandon")
        batch.proc.send_signal(signal.SIGINT)
        code, err = batch.finish()
    assert code == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    files = _statuses(summary)
    done = [f for f in files if f["status"] == "ok"]
    assert done and any(f["error"] == "abandoned (Ctrl+C)" for f in files)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        pathlib.Path(f["output"]).name for f in done)


def test_the_batch_benchmark_runs_small() -> None:
    """`python -m benchmarks.batch` at a small size: every figure reported, and the batch's
    transcripts are the one-by-one runs' (never a timing)."""
    from benchmarks.batch import run as run_benchmark

    result = run_benchmark(files=2, seconds=3.0, jobs=2)
    assert result["same_transcripts"] is True
    for way in ("batch", "one_by_one"):
        assert result[way]["wall_secs"] > 0 and result[way]["cpu_secs_per_audio_hour"] > 0
    assert {"wall_ratio", "cpu_ratio", "cpu_ratio_without_startups"} <= set(result)


def test_a_dropped_connection_is_retried_for_that_file_only(tmp_path: pathlib.Path) -> None:
    """The mock drops the first session's connection after 5 s of audio: the reconnect policy
    resumes that file on a new connection, and every file is written; exit 0."""
    names = _copies(tmp_path / "in", 2)
    scenario = {"faults": [{"action": "drop", "when": "audio", "seconds": 5.0, "session": 1}]}
    out = tmp_path / "out"
    with MockServer(transcript=sample_sentences(), scenario=scenario) as server:
        proc = run("transcribe", *names, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "--jobs", "1", "-o", str(out))
        sessions = server.wait_idle(count=3)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert len(sessions) == 3  # two files, one of them on two connections
    assert all(_words_ok(out / f"part{i}.txt") for i in range(2))
