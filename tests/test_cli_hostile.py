"""The command under hostile input: -o naming the input, stdout or stderr closed or unwritable,
absurd numbers, directories and missing files. One line, a documented code, never a traceback."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from mock_server import MockServer
from scribe_sync.audio._sample import sample_sentences
from scribe_sync.cli import EXIT_AUDIO, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE
from tests.test_cli import KEY, SAMPLE, SAMPLE_TEXT, TIMEOUT, _cli, _env, one_error_line, run


@pytest.fixture(scope="module")
def server() -> MockServer:
    """One mock server for the module, speaking the sample's transcript."""
    with MockServer(transcript=sample_sentences()) as mock:
        yield mock  # type: ignore[misc]


def _is_transcript(path: pathlib.Path) -> bool:
    """The file holds a finished run's transcript: the sample's words, from the first."""
    words = path.read_text(encoding="utf-8").split()
    return bool(words) and words == SAMPLE_TEXT.split()[: len(words)]


def _audio(tmp_path: pathlib.Path) -> pathlib.Path:
    copy = tmp_path / "talk.flac"
    shutil.copyfile(SAMPLE, copy)
    return copy


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "relative path"])
def test_an_output_that_is_the_input_is_refused_before_any_session(
    tmp_path: pathlib.Path, server: MockServer, how: str,
) -> None:
    """-o naming the input (by path or by file) is exit 2 in one line; the audio is intact."""
    audio = _audio(tmp_path)
    before = audio.read_bytes()
    output = str(audio)
    if how == "symlink":
        (tmp_path / "link.txt").symlink_to(audio)
        output = str(tmp_path / "link.txt")
    elif how == "hard link":
        os.link(audio, tmp_path / "hard.txt")
        output = str(tmp_path / "hard.txt")
    elif how == "relative path":
        output = "./talk.flac"
    sessions = len(server.sessions())
    proc = subprocess.run(
        _cli("transcribe", str(audio), "--base-url", server.base_url, "--api-key", KEY,
             "--fast", "-o", output),
        env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "input" in one_error_line(proc.stderr)
    assert audio.read_bytes() == before
    assert len(server.sessions()) == sessions


def test_with_stdout_closed_the_output_file_is_written_and_the_run_succeeds(
    tmp_path: pathlib.Path, server: MockServer,
) -> None:
    """`>&-` with -o FILE: exit 0 and the file written (no AttributeError, no exit 1)."""
    out = tmp_path / "out.txt"
    proc = subprocess.run(
        _cli("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY, "--fast",
             "-o", str(out)),
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        timeout=TIMEOUT, check=False, pass_fds=(), preexec_fn=lambda: os.close(1))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert _is_transcript(out)


def test_with_stdout_closed_and_no_output_file_the_run_is_exit_6(server: MockServer) -> None:
    """`>&-` without -o: nowhere to write the transcript, one line, exit 6."""
    proc = subprocess.run(
        _cli("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY, "--fast"),
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        timeout=TIMEOUT, check=False, preexec_fn=lambda: os.close(1))
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert "<stdout>" in one_error_line(proc.stderr)


@pytest.mark.parametrize("stderr", ["closed", "full", "broken pipe"])
def test_an_unwritable_stderr_never_changes_the_exit_code(
    tmp_path: pathlib.Path, server: MockServer, stderr: str,
) -> None:
    """stderr closed, on a full disk or a closed pipe: a run that wrote -o exits 0."""
    out = tmp_path / "out.txt"
    args = _cli("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                "--fast", "-o", str(out), "--progress", "plain", "--progress-every", "0.01")
    if stderr == "closed":
        proc = subprocess.run(args, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=TIMEOUT, check=False,
                              preexec_fn=lambda: os.close(2))
    elif stderr == "full":
        with open("/dev/full", "w") as full:
            proc = subprocess.run(args, env=_env(), stdout=subprocess.PIPE, stderr=full,
                                  timeout=TIMEOUT, check=False)
    else:
        read, write = os.pipe()
        os.close(read)  # every write to stderr fails with EPIPE
        try:
            proc = subprocess.run(args, env=_env(), stdout=subprocess.PIPE, stderr=write,
                                  timeout=TIMEOUT, check=False)
        finally:
            os.close(write)
    assert proc.returncode == EXIT_OK
    assert _is_transcript(out)


@pytest.mark.parametrize("where", ["--mock", "--base-url"])
def test_with_stderr_closed_the_transcript_is_printed(server: MockServer, where: str) -> None:
    """`2>&-` without -o: the WebSocket used to take fd 2, and the capture of what decoders
    print on fd 2 replaced it (a hang with --mock, exit 5 against a server)."""
    target = ["--mock"] if where == "--mock" else ["--base-url", server.base_url,
                                                    "--api-key", KEY]
    proc = subprocess.run(
        _cli("transcribe", SAMPLE, *target, "--fast"), env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, timeout=TIMEOUT, check=False, text=True,
        preexec_fn=lambda: os.close(2))
    assert proc.returncode == EXIT_OK
    words = proc.stdout.split()
    assert words  # the embedded mock speaks words of its own; the fixture, the sample's
    assert where == "--mock" or words == SAMPLE_TEXT.split()[: len(words)]


@pytest.mark.parametrize(("args", "expected"), [
    (["--jobs", "0"], "--jobs"),
    (["--jobs", "100000"], "--jobs"),
    (["--jobs", "-3"], "--jobs"),
    (["--jobs", "many"], "--jobs"),
    (["--speed", "nan"], "--speed"),
    (["--speed", "-1"], "--speed"),
    (["--speed", "inf"], "--speed"),
    (["--speed", "0"], "--speed"),
    (["--commit-every", "-5"], "--commit-every"),
    (["--commit-every", "nan"], "--commit-every"),
    (["--chunk-ms", "0"], "--chunk-ms"),
    (["--chunk-ms", "99999999"], "--chunk-ms"),
    (["--progress-every", "0"], "--progress-every"),
    (["--progress", "fancy"], "--progress"),
])
def test_an_absurd_number_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    """Zero, negative, huge, NaN and infinite values: exit 2, one line naming the option."""
    proc = run("transcribe", SAMPLE, "--mock", *args)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert expected in one_error_line(proc.stderr)


@pytest.mark.parametrize("duration", ["0", "-1", "nan", "inf"])
def test_an_absurd_listen_duration_is_exit_2(duration: str) -> None:
    """listen --duration must be a positive finite number of seconds."""
    proc = run("listen", "--mock", "--duration", duration)
    assert proc.returncode == EXIT_USAGE
    assert "--duration" in one_error_line(proc.stderr)


def test_a_directory_as_input_is_one_line_and_exit_4(tmp_path: pathlib.Path) -> None:
    """A directory where a file is expected: exit 4, one line."""
    proc = run("transcribe", str(tmp_path), "--mock", "--fast")
    assert proc.returncode == EXIT_AUDIO, proc.stderr
    assert str(tmp_path) in one_error_line(proc.stderr)


def test_many_inputs_without_an_output_directory_is_exit_2(tmp_path: pathlib.Path) -> None:
    """Many inputs need -o DIRECTORY; an -o that is a file is refused too, before any work."""
    proc = run("transcribe", SAMPLE, SAMPLE, "--mock", "--fast")
    assert proc.returncode == EXIT_USAGE
    assert "-o" in one_error_line(proc.stderr)
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    proc = run("transcribe", SAMPLE, SAMPLE, "--mock", "--fast", "-o", str(afile))
    assert proc.returncode == EXIT_USAGE
    assert "directory" in one_error_line(proc.stderr)


def test_two_inputs_with_one_output_name_are_refused(tmp_path: pathlib.Path) -> None:
    """a/x.wav and b/x.flac would both be out/x.txt: exit 2 before any session."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(SAMPLE, tmp_path / folder / "x.flac")
    proc = run("transcribe", str(tmp_path / "a" / "x.flac"), str(tmp_path / "b" / "x.flac"),
               "--mock", "--fast", "-o", str(tmp_path / "out"))
    assert proc.returncode == EXIT_USAGE
    assert "both" in one_error_line(proc.stderr)
    assert not (tmp_path / "out").exists()


def test_stdin_among_many_inputs_is_refused(tmp_path: pathlib.Path) -> None:
    """- (stdin) is one input only."""
    proc = run("transcribe", SAMPLE, "-", "--mock", "-o", str(tmp_path))
    assert proc.returncode == EXIT_USAGE
    assert "stdin" in one_error_line(proc.stderr)


def test_no_jobs_value_forks_more_workers_than_the_bound() -> None:
    """--jobs is bounded in --help, so no value can open thousands of sessions."""
    proc = subprocess.run([sys.executable, "-m", "scribe_sync.cli", "transcribe", "--help"],
                          env=_env(), capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert proc.returncode == 0
    assert "1 to 32" in " ".join(proc.stdout.split())


def test_one_input_with_summary_or_skip_existing_is_a_batch_of_one(tmp_path: pathlib.Path,
                                                                   server: MockServer) -> None:
    """-o FILE with --summary writes FILE and a one-file summary; --skip-existing then skips
    it; without -o both are refused in one line; --summary naming the input is refused."""
    out, summary = tmp_path / "one.txt", tmp_path / "summary.json"
    common = ["--base-url", server.base_url, "--api-key", KEY, "--fast"]
    proc = run("transcribe", SAMPLE, *common, "-o", str(out), "--summary", str(summary))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert _is_transcript(out)
    assert '"status": "ok"' in summary.read_text(encoding="utf-8")
    again = run("transcribe", SAMPLE, *common, "-o", str(out), "--skip-existing")
    assert again.returncode == EXIT_OK and again.stderr.startswith("skipped")
    bare = run("transcribe", SAMPLE, *common, "--summary", str(summary))
    assert bare.returncode == EXIT_USAGE and "-o" in one_error_line(bare.stderr)
    audio = _audio(tmp_path)
    before = audio.read_bytes()
    clash = run("transcribe", str(audio), *common, "-o", str(out), "--summary", str(audio))
    assert clash.returncode == EXIT_USAGE and "--summary" in one_error_line(clash.stderr)
    assert audio.read_bytes() == before
