"""Timing profiles: `scribe-sync bench --record-timing FILE` writes what it measured, and
`scribe-mock --timing FILE` schedules its live delays from it. Delays are asserted as the
engine schedules them, never measured."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import statistics
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import soundfile

from mock_server import Settings
from mock_server.engine import Engine, Send
from mock_server.params import parse_params, parse_query
from mock_server.testing import chunk, silence, speech
from mock_server.timing import LIVE
from mock_server.timing_file import TimingFileError, load_timing
from scribe_sync.cli import EXIT_OK, main

REPO = pathlib.Path(__file__).resolve().parent.parent


def _profile(path: pathlib.Path, **samples: list[float]) -> pathlib.Path:
    path.write_text(json.dumps({"format": "scribe-timing", "version": 1,
                                "samples_s": samples}))
    return path


def _commit_delays(settings: Settings, commits: int) -> list[float]:
    params = parse_params(parse_query("model_id=scribe_v2_realtime"))
    engine = Engine(settings, params, now=0.0)
    engine.start(0.0)
    delays = []
    for k in range(commits):
        for action in engine.receive(chunk(speech(0.4, seed=k), commit=True), k * 0.4):
            if isinstance(action, Send) and isinstance(action.payload, dict) and \
                    action.payload["message_type"] == "committed_transcript":
                delays.append(action.delay)
    return delays


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLI's main() configures logging: undo it for the next tests."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]


def test_bench_records_every_sample_as_a_timing_profile(tmp_path: pathlib.Path,
                                                        capfd: pytest.CaptureFixture[str]
                                                        ) -> None:
    """--record-timing writes the four distributions, every sample, in seconds, and the
    mock reads the file back as a profile within the measured range."""
    wav = tmp_path / "two.wav"
    audio = speech(0.9, seed=3) + silence(0.8) + speech(0.9, seed=4) + silence(0.8)
    soundfile.write(wav, np.frombuffer(audio, dtype="<i2"), 16000, subtype="PCM_16")
    path = tmp_path / "timing.json"
    code = main(["bench", "--mock", str(wav), "-n", "1", "--commit-every", "0.5",
                 "--format", "json", "--record-timing", str(path)])
    report = json.loads(capfd.readouterr().out)
    assert code == EXIT_OK
    data = json.loads(path.read_text())
    assert (data["format"], data["version"]) == ("scribe-timing", 1)
    assert set(data["samples_s"]) == {"connect", "first_partial", "commit", "vad"}
    commits = data["samples_s"]["commit"]
    assert len(commits) == report["latency_ms"]["commit"]["n"] >= 1
    assert max(commits) * 1000 == pytest.approx(report["latency_ms"]["commit"]["max"], abs=0.1)
    profile = load_timing(path)
    assert profile.commit == (min(commits), statistics.median(commits), max(commits))
    assert profile.vad_decision == LIVE.vad_decision  # no VAD samples: the live range


def test_the_mock_schedules_commit_answers_from_the_profile(tmp_path: pathlib.Path) -> None:
    """A profile of commit samples 0.5, 0.6 and 0.9 s: every answer's delay lies in that
    range, VAD keeps the live decision time less its 0.3 s of silence."""
    path = _profile(tmp_path / "t.json", commit=[0.5, 0.6, 0.9], vad=[1.0, 1.1],
                    connect=[0.01], first_partial=[2.1])
    settings = Settings(timing=str(path), idle_timeout_secs=None)
    assert settings.timing_profile.commit == (0.5, 0.6, 0.9)
    assert settings.timing_profile.vad_decision == pytest.approx((0.7, 0.75, 0.8))
    delays = _commit_delays(settings, 50)
    assert len(delays) == 50 and all(0.5 <= d <= 0.9 for d in delays)
    assert len(set(delays)) > 10  # drawn from the range, not a constant


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{", "not valid JSON"),
        ('{"format": "other"}', "not a timing profile"),
        ('{"format": "scribe-timing", "version": 5, "samples_s": {}}', "version 5"),
        ('{"format": "scribe-timing", "version": 1, "samples_s": {"commit": ["x"]}}',
         "samples_s.commit must be a list of seconds"),
    ],
)
def test_a_bad_profile_is_one_line(tmp_path: pathlib.Path, content: str, expected: str
                                   ) -> None:
    """Damaged, foreign or newer files: TimingFileError naming the file; scribe-mock prints
    it in one line and exits 2."""
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TimingFileError, match=expected):
        load_timing(path)
    env: dict[str, Any] = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "mock_server", "--port", "0", "--timing",
                           str(path)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"scribe-mock: error: {path}: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
