"""The scribe-sync command end to end: subprocesses against the mock server, under a
pseudo-terminal and piped, subtitles and JSONL, error exits, the fake microphone and Ctrl+C."""

from __future__ import annotations

import json
import os
import pathlib
import pty
import re
import select
import signal
import subprocess
import sys
import time

import attrs
import pytest

from mock_server import MockServer
from mock_server.testing import silence, speech
from scribe_sync import SessionOptions
from scribe_sync.audio import sample_path, sample_transcript
from scribe_sync.audio._sample import sample_sentences
from scribe_sync.cli import (
    EXIT_AUDIO,
    EXIT_AUTH,
    EXIT_INTERRUPTED,
    EXIT_SERVER,
    EXIT_USAGE,
    build_parser,
)
from scribe_sync.protocol import decode
from tests.fakemic import fake_mic_home

REPO = pathlib.Path(__file__).resolve().parent.parent

KEY = "cli-test-key-0123456789"
SAMPLE = str(sample_path())
SAMPLE_TEXT = sample_transcript()
TIMEOUT = 60.0

# Anything a terminal would interpret: C0 controls except newline, DEL, C1 (ESC [ is CSI).
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
SRT_TIME = re.compile(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)")
VTT_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)")

def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ELEVENLABS_API_KEY", "SCRIBE_SYNC_BASE_URL", "COLUMNS")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "scribe_sync.cli", *args]


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
        cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI piped: stdout and stderr are pipes, not terminals."""
    proc = subprocess.run(
        _cli(*args), input=stdin, env=env or _env(), cwd=cwd, capture_output=True,
        timeout=TIMEOUT, check=False,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    )


class PtyRun:
    """The CLI with stdout (and optionally stderr) on a pseudo-terminal, the rest piped."""

    def __init__(self, *args: str, stderr_tty: bool = False, stdout_tty: bool = True,
                 env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            _cli(*args),
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout_tty else subprocess.PIPE,
            stderr=slave if stderr_tty else subprocess.PIPE,
            env=env or _env(),
        )
        os.close(slave)
        self.tty = b""
        self.pipe = b""
        self._pipe_fd = (self.proc.stderr if stdout_tty else self.proc.stdout)
        assert self._pipe_fd is not None
        self._open = {self.master, self._pipe_fd.fileno()}

    def _pump(self, deadline: float) -> bool:
        """Read what is available; False once both streams reached their end."""
        if not self._open:
            return False
        ready, _, _ = select.select(list(self._open), [], [], max(0.0, deadline - time.monotonic()))
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal's last reference
                data = b""
            if not data:
                self._open.discard(fd)
            elif fd == self.master:
                self.tty += data
            else:
                self.pipe += data
        return bool(self._open)

    def read_until(self, marker: bytes, timeout: float = TIMEOUT) -> None:
        """Read until ``marker`` appears on the terminal (bounded)."""
        deadline = time.monotonic() + timeout
        while marker not in self.tty:
            assert time.monotonic() < deadline, f"no {marker!r} in {self.tty[-500:]!r}"
            assert self._pump(deadline), f"ended before {marker!r}: {self.tty[-500:]!r}"

    def finish(self, timeout: float = TIMEOUT) -> int:
        """Read both streams to their end and return the exit status."""
        deadline = time.monotonic() + timeout
        while self._pump(deadline):
            assert time.monotonic() < deadline, "the command did not end"
        os.close(self.master)
        assert self._pipe_fd is not None
        self._pipe_fd.close()
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))


def committed_lines_on_tty(output: bytes) -> list[str]:
    """The committed lines of a live view: what each redrawn line showed when it ended."""
    lines = []
    # The terminal turns "\n" into "\r\n" (onlcr); each line's final text follows its last
    # clear-line, "\r\x1b[K".
    for line in output.decode("utf-8").split("\r\n")[:-1]:
        lines.append(line.split("\r\x1b[K")[-1])
    return lines


def fake_microphone(tmp_path: pathlib.Path, audio: bytes) -> dict[str, str]:
    """An environment whose default ALSA capture device plays ``audio`` (16 kHz PCM)."""
    pytest.importorskip("pyaudio", reason="PyAudio (the mic extra) is not installed")
    if not any(pathlib.Path(p).exists() for p in (
        "/usr/lib/x86_64-linux-gnu/libasound.so.2", "/usr/lib/aarch64-linux-gnu/libasound.so.2",
        "/usr/lib/libasound.so.2", "/usr/lib64/libasound.so.2",
    )):
        pytest.skip("the fake microphone needs Linux with ALSA (libasound2)")
    return _env(HOME=str(fake_mic_home(tmp_path, audio)))


def seconds(match: re.Match[str], first: int) -> float:
    h, m, s, ms = (int(match.group(i)) for i in range(first, first + 4))
    return h * 3600 + m * 60 + s + ms / 1000


def parse_cues(text: str, pattern: re.Pattern[str]) -> list[tuple[float, float, str]]:
    """(start, end, text) of every cue of an SRT or WebVTT document."""
    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        for index, line in enumerate(lines):
            match = pattern.fullmatch(line)
            if match:
                cues.append((seconds(match, 1), seconds(match, 5), " ".join(lines[index + 1:])))
                break
    return cues


def timed_words(server: MockServer) -> list[tuple[str, float, float]]:
    """Every word the mock sent with times, across its sessions."""
    words = []
    for record in server.sessions():
        for message in record.sent("committed_transcript_with_timestamps"):
            for word in message["words"]:
                if word.get("type", "word") == "word":
                    words.append((word["text"], word["start"], word["end"]))
    return words


def one_error_line(stderr: str) -> str:
    """The single line an expected failure prints, after checking it is alone and clean."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("scribe-sync: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# =============================================================================================
# Parsing


def test_every_session_option_has_a_flag() -> None:
    """Each SessionOptions field is a flag, so the CLI cannot drift from the library."""
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    assert subcommands is not None
    for command in ("transcribe", "listen", "demo"):
        flags = {flag for action in subcommands[command]._actions
                 for flag in action.option_strings}
        for field in attrs.fields(SessionOptions):
            assert "--" + field.name.replace("_", "-") in flags, (command, field.name)


def test_session_option_flags_reach_the_server(tmp_path: pathlib.Path) -> None:
    """Typed, repeated, comma-separated and boolean flags become the session's query."""
    with MockServer(transcript="hello world") as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "--language-code", "en", "--secondary-languages", "de,fr",
                   "--keyterms", "scribe sync", "--keyterms", "mock", "--no-verbatim",
                   "--vad-threshold", "0.5", "--commit-strategy", "vad",
                   "--include-language-detection")
        record = server.wait_idle()[0]
    assert proc.returncode == 0, proc.stderr
    query = record.query
    assert query["language_code"] == ["en"]
    assert query["secondary_languages"] == ["de", "fr"]
    assert query["keyterms"] == ["scribe sync", "mock"]
    assert query["no_verbatim"] == ["true"]
    assert query["vad_threshold"] == ["0.5"]
    assert query["commit_strategy"] == ["vad"]
    assert query["include_language_detection"] == ["true"]
    assert "enable_logging" not in query  # not given: left to the server's default


# =============================================================================================
# Terminal and pipes


def test_demo_on_a_terminal_redraws_partials_and_scrolls_committed_lines() -> None:
    """On a TTY, partials are redrawn in place and each committed line ends with a newline."""
    run_ = PtyRun("demo", "--fast")
    assert run_.finish() == 0, run_.pipe
    output = run_.tty
    lines = committed_lines_on_tty(output)
    assert " ".join(lines) == SAMPLE_TEXT
    assert len(lines) >= 3
    # Redraws: a clear-line followed by a partial that a later clear-line overwrites, not a
    # newline. There are many more redraws than committed lines.
    redraws = re.findall(rb"\r\x1b\[K[^\r\n]+(?=\r\x1b\[K)", output)
    assert len(redraws) > len(lines)
    assert output.endswith(b"\r\n")
    assert b"segments" in run_.pipe  # the summary went to stderr, not to the live view


def test_piped_output_is_committed_text_only() -> None:
    """Piped, stdout holds exactly the committed lines: no partials, no control characters."""
    with MockServer(transcript=sample_sentences()) as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "--commit-every", "3")
    assert proc.returncode == 0, proc.stderr
    assert not CONTROL.search(proc.stdout)
    lines = proc.stdout.splitlines()
    assert len(lines) >= 3
    spoken = " ".join(lines).split()
    assert spoken == SAMPLE_TEXT.split()[: len(spoken)]
    assert len(proc.stderr.splitlines()) == 1  # the summary line, nothing else
    assert "segments" in proc.stderr


def test_progress_is_drawn_on_a_terminal_stderr_when_stdout_is_piped() -> None:
    """Piped stdout with stderr on a TTY: a redrawn progress line on stderr, clean stdout."""
    with MockServer(transcript=sample_sentences()) as server:
        run_ = PtyRun("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                      "--speed", "8", stdout_tty=False, stderr_tty=True)
        assert run_.finish() == 0, run_.tty
    progress = run_.tty.decode()
    assert re.search(r"\r\x1b\[Ksample\.flac: \d+\.\d s of 14\.\d s \(\d+%\)", progress)
    assert "(100%)" in progress
    stdout = run_.pipe.decode()
    assert stdout.strip() and not CONTROL.search(stdout)


def test_demo_piped_prints_the_sample_transcript() -> None:
    """demo --fast, piped, prints the bundled sample's transcript as committed lines."""
    proc = run("demo", "--fast")
    assert proc.returncode == 0, proc.stderr
    assert " ".join(proc.stdout.splitlines()) == SAMPLE_TEXT
    assert not CONTROL.search(proc.stdout)


def test_stdin_raw_pcm_is_transcribed() -> None:
    """'-' reads raw 16 kHz PCM from stdin."""
    audio = speech(1.2, seed=3) + silence(0.5)
    with MockServer(transcript="from standard input") as server:
        proc = run("transcribe", "-", "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", stdin=audio)
        record = server.wait_idle()[0]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "from standard input\n"
    assert record.audio_bytes == len(audio)


# =============================================================================================
# Formats


@pytest.mark.parametrize(("fmt", "pattern"), [("srt", SRT_TIME), ("vtt", VTT_TIME)])
def test_subtitles_parse_and_their_times_match_the_words(
    tmp_path: pathlib.Path, fmt: str, pattern: re.Pattern[str]
) -> None:
    """--format srt/vtt turn timestamps on; every cue spans exactly its words' times."""
    out = tmp_path / f"talk.{fmt}"
    with MockServer(transcript=sample_sentences()) as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "--commit-every", "3", "-o", str(out))
        server.wait_idle()
        words = timed_words(server)
        assert server.sessions()[0].query["include_timestamps"] == ["true"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # the result is in the file; a pipe gets nothing more
    document = out.read_text(encoding="utf-8")
    if fmt == "vtt":
        assert document.startswith("WEBVTT\n")
    cues = parse_cues(document, pattern)
    assert len(cues) >= 3
    position = 0
    for start, end, text in cues:
        cue_words = text.split()
        assert [w[0] for w in words[position:position + len(cue_words)]] == cue_words
        assert start == pytest.approx(words[position][1], abs=0.0011)
        assert end == pytest.approx(words[position + len(cue_words) - 1][2], abs=0.0011)
        assert start < end
        position += len(cue_words)
    assert position == len(words)


def test_jsonl_lines_each_parse_and_carry_the_committed_transcripts() -> None:
    """--format jsonl: one wire-format JSON object per event, committed texts included."""
    with MockServer(transcript=sample_sentences()) as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "--commit-every", "3", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert not CONTROL.search(proc.stdout)
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    assert objects[0]["message_type"] == "session_started"
    for line in proc.stdout.splitlines():
        decode(line)  # the codec reads every line back
    committed = [o["text"] for o in objects if o["message_type"] == "committed_transcript"]
    assert len(committed) >= 3
    spoken = " ".join(committed).split()
    assert spoken == SAMPLE_TEXT.split()[: len(spoken)]
    assert any(o["message_type"] == "partial_transcript" for o in objects)


def test_the_output_suffix_picks_the_format(tmp_path: pathlib.Path) -> None:
    """-o talk.json writes the Transcript's JSON document."""
    out = tmp_path / "talk.json"
    proc = run("demo", "--fast", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["text"] == SAMPLE_TEXT


# =============================================================================================
# Failures


def test_a_bad_key_is_one_line_and_exit_3() -> None:
    """A refused key: one error line naming auth_error, exit 3, the key never printed."""
    with MockServer(api_keys=["the-right-key"]) as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url,
                   "--api-key", "wrong-secret-key-42", "--fast")
    assert proc.returncode == EXIT_AUTH
    assert "auth_error" in one_error_line(proc.stderr)
    assert "wrong-secret-key-42" not in proc.stderr + proc.stdout


def test_no_key_suggests_the_variable_and_mock() -> None:
    """Without any key: one line naming ELEVENLABS_API_KEY and --mock, exit 3."""
    proc = run("transcribe", SAMPLE, "--fast")
    line = one_error_line(proc.stderr)
    assert proc.returncode == EXIT_AUTH
    assert "ELEVENLABS_API_KEY" in line and "--mock" in line


def test_a_missing_file_is_one_line_and_exit_4() -> None:
    """A missing file: one line naming it, exit 4, no connection attempted."""
    with MockServer() as server:
        proc = run("transcribe", "no-such-talk.wav", "--base-url", server.base_url,
                   "--api-key", KEY)
        assert server.sessions() == []
    assert proc.returncode == EXIT_AUDIO
    assert "no-such-talk.wav" in one_error_line(proc.stderr)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--vad-threshold", "2"], "--vad-threshold"),
        (["--vad-threshold", "loud"], "--vad-threshold"),
        (["--language-code", "en-US"], "--language-code"),
        (["--format", "srt", "--no-include-timestamps"], "timestamps"),
        (["--chunk-ms", "5"], "--chunk-ms"),
        (["--audio-format", "pcm_12345"], "--audio-format"),
    ],
)
def test_an_invalid_option_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    """Invalid option values: one line naming the option, exit 2, nothing sent."""
    with MockServer() as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   *args)
        assert server.sessions() == []
    assert proc.returncode == EXIT_USAGE
    assert expected in one_error_line(proc.stderr)


def test_a_server_error_mid_session_is_exit_5_and_keeps_the_transcript(
    tmp_path: pathlib.Path,
) -> None:
    """A server error after the first commit: exit 5, one line, the first segment kept."""
    scenario = {"faults": [{"action": "error", "when": "commit", "count": 1,
                            "error_type": "transcriber_error"}]}
    out = tmp_path / "partial.txt"
    with MockServer(transcript=sample_sentences(), scenario=scenario) as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "--commit-every", "3", "-o", str(out))
    assert proc.returncode == EXIT_SERVER
    assert "transcriber_error" in one_error_line(proc.stderr)
    kept = out.read_text(encoding="utf-8").split()
    assert kept and kept == SAMPLE_TEXT.split()[: len(kept)]


def test_an_unreachable_server_is_exit_5() -> None:
    """Nothing listening at the base URL: one line, exit 5."""
    with MockServer() as server:
        url = server.base_url
    proc = run("transcribe", SAMPLE, "--base-url", url, "--api-key", KEY, "--fast")
    assert proc.returncode == EXIT_SERVER
    assert "connect" in one_error_line(proc.stderr)


# =============================================================================================
# Secrets and tokens


def test_token_prints_only_the_token() -> None:
    """token prints one single-use token that the server accepts for a session."""
    with MockServer(api_keys=[KEY]) as server:
        proc = run("token", "--base-url", server.base_url, "--api-key", KEY)
        assert proc.returncode == 0, proc.stderr
        token = proc.stdout.strip()
        assert proc.stdout == token + "\n" and token and KEY not in token
        from scribe_sync import ScribeClient  # the token opens a session without the key

        session = ScribeClient(base_url=server.base_url).connect(token=token)
        session.close()


def test_verbose_logs_never_show_the_key() -> None:
    """-vv debug logging of a whole run does not contain the API key."""
    with MockServer(transcript="hello world") as server:
        proc = run("transcribe", SAMPLE, "--base-url", server.base_url, "--api-key", KEY,
                   "--fast", "-vv")
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG" in proc.stderr
    assert KEY not in proc.stderr + proc.stdout


# =============================================================================================
# Microphone (fake ALSA device) and Ctrl+C


def test_devices_lists_the_fake_microphone(tmp_path: pathlib.Path) -> None:
    """devices lists the ALSA fake microphone with its input channels."""
    env = fake_microphone(tmp_path, silence(1.0))
    proc = run("devices", env=env)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"fakemic\s+\d+ ch, \d+ Hz", proc.stdout)
    assert "ALSA lib" not in proc.stderr  # PortAudio's probing noise is kept off the screen


def test_listen_transcribes_the_microphone_for_a_bounded_time(tmp_path: pathlib.Path) -> None:
    """listen --duration sends that much microphone audio and prints the transcript."""
    audio = speech(1.6, seed=9) + silence(2.0)  # 4 words at the mock's 400 ms per word
    env = fake_microphone(tmp_path, audio)
    with MockServer(transcript="hello from the microphone") as server:
        proc = run("listen", "--duration", "2", "--base-url", server.base_url,
                   "--api-key", KEY, env=env)
        record = server.wait_idle()[0]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from the microphone\n"
    assert record.audio_bytes == 2 * 32000  # exactly --duration of 16 kHz PCM
    assert record.query["commit_strategy"] == ["vad"]


def test_ctrl_c_keeps_what_was_transcribed(tmp_path: pathlib.Path) -> None:
    """SIGINT after the first committed line: exit 130, the tail committed, SRT written."""
    out = tmp_path / "so-far.srt"
    run_ = PtyRun("demo", "-o", str(out))  # real time: about 14 s if not interrupted
    run_.read_until(b"\n")
    first = committed_lines_on_tty(run_.tty)[0]
    started = time.monotonic()
    run_.proc.send_signal(signal.SIGINT)
    assert run_.finish() == EXIT_INTERRUPTED, run_.pipe
    assert time.monotonic() - started < 10
    assert b"Traceback" not in run_.pipe
    cues = parse_cues(out.read_text(encoding="utf-8"), SRT_TIME)
    kept = " ".join(text for _, _, text in cues)
    assert kept.startswith(first)
    assert kept.split() == SAMPLE_TEXT.split()[: len(kept.split())]
    assert len(kept.split()) < len(SAMPLE_TEXT.split())  # it really stopped early


def test_python_dash_m_scribe_sync_runs_the_command() -> None:
    """python -m scribe_sync is the same command (version and help)."""
    proc = subprocess.run([sys.executable, "-m", "scribe_sync", "--version"], env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("scribe-sync ")
