"""The cassette format: written diff-friendly, checked on load with one clear line per problem,
and read back by `scribe-mock cassette show|diff`."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys

import pytest

from mock_server._cassette_cli import main as cassette_main
from mock_server.cassette import CassetteError, CassetteWriter, SessionTape, load
from mock_server.cassette_view import diff, normalised, timeline

KEY = "sk_secret_key_0123456789"
TOKEN = "sutkn_abcdef0123456789"
HEADER = {"kind": "cassette", "format": "scribe-cassette", "keep_audio": False, "version": 1}
SESSION = {"kind": "session", "auth": "api_key", "n": 1, "path": "/v1/speech-to-text/realtime",
           "query": {"model_id": ["scribe_v2_realtime"]}}


def _chunk(audio: bytes, **extra: object) -> str:
    return json.dumps({"message_type": "input_audio_chunk",
                       "audio_base_64": base64.b64encode(audio).decode(), **extra})


def _tape(session_id: str = "abc", *, start: float = 100.0, keep_audio: bool = False
          ) -> SessionTape:
    query = {"model_id": ["scribe_v2_realtime"], "token": [TOKEN], "include_timestamps": ["true"]}
    tape = SessionTape(1, "/v1/speech-to-text/realtime", query, auth="token",
                       secrets=[KEY, TOKEN], keep_audio=keep_audio, start=start)
    tape.server(json.dumps({"message_type": "session_started", "session_id": session_id}),
                start + 0.01)
    tape.client(_chunk(b"\x01\x00" * 16000, sample_rate=16000), start + 0.1)
    tape.client(_chunk(b"", commit=True), start + 0.2)
    tape.server('{"message_type":"committed_transcript","text":"hello"}', start + 0.5)
    tape.close("client", 1000, "bye", start + 0.6)
    return tape


def _write(path: pathlib.Path, *lines: object) -> pathlib.Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_a_written_session_reads_back_with_its_progress_points(tmp_path: pathlib.Path) -> None:
    """Each frame is one line with its time and the client's audio position and commits."""
    path = tmp_path / "a.jsonl"
    CassetteWriter(path).write(_tape())
    cassette = load(path)
    (session,) = cassette.sessions
    assert session.auth == "token"
    assert "token" not in session.query  # credentials are never kept
    client = session.of("client")
    assert [c["samples"] for c in client] == [16000, 0]
    assert [c["commit"] for c in client] == [False, True]
    committed = session.of("server")[1]
    assert (committed["t"], committed["audio_s"], committed["commits"], committed["after"]) == (
        0.5, 1.0, 1, 2)
    assert committed["frame"] == {"message_type": "committed_transcript", "text": "hello"}
    assert "raw" not in committed  # the compact JSON re-encodes to the text received


def test_lines_have_a_stable_key_order_and_no_secret(tmp_path: pathlib.Path) -> None:
    """`kind` first, then sorted keys: two recordings of the same thing are the same bytes
    apart from ids and times; neither the key nor the token appears anywhere."""
    path = tmp_path / "a.jsonl"
    CassetteWriter(path).write(_tape())
    text = path.read_text()
    for line in text.splitlines():
        keys = list(json.loads(line))
        assert keys[0] == "kind" and keys[1:] == sorted(keys[1:])
    assert KEY not in text and TOKEN not in text and "token=" not in text


def test_a_secret_echoed_by_the_server_is_scrubbed(tmp_path: pathlib.Path) -> None:
    """Even a frame that quotes the key is written with the key replaced."""
    tape = _tape()
    tape.server(json.dumps({"message_type": "error", "error": f"bad key {KEY}"}), 100.7)
    path = tmp_path / "a.jsonl"
    CassetteWriter(path).write(tape)
    assert KEY not in path.read_text()
    assert "<redacted>" in path.read_text()


def test_audio_is_kept_only_on_request(tmp_path: pathlib.Path) -> None:
    """keep_audio adds each chunk's base64 audio; without it only digest and count."""
    CassetteWriter(tmp_path / "a.jsonl").write(_tape())
    CassetteWriter(tmp_path / "b.jsonl", keep_audio=True).write(_tape(keep_audio=True))
    plain, kept = load(tmp_path / "a.jsonl"), load(tmp_path / "b.jsonl")
    assert "audio" not in plain.sessions[0].of("client")[0]
    assert base64.b64decode(kept.sessions[0].of("client")[0]["audio"]) == b"\x01\x00" * 16000
    assert kept.keep_audio and not plain.keep_audio


def test_a_directory_gets_one_file_per_session(tmp_path: pathlib.Path) -> None:
    """Written to a directory, each session is its own file; loading it reads them in order."""
    writer = CassetteWriter(tmp_path)
    writer.write(_tape())
    second = _tape("def")
    second.n = 2
    writer.write(second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session-001.jsonl",
                                                         "session-002.jsonl"]
    assert [s.n for s in load(tmp_path).sessions] == [1, 2]


def test_recording_again_into_a_directory_replaces_the_older_recording(tmp_path: pathlib.Path
                                                                       ) -> None:
    """Three sessions, then one recorded into the same directory: it holds the new one alone
    (not the old sessions 2 and 3 beside it), and files the writer never names stay."""
    old = CassetteWriter(tmp_path)
    for n in (1, 2, 3):
        tape = _tape(f"old{n}")
        tape.n = n
        old.write(tape)
    keep = ["notes.txt", "session-2.jsonl", "session-0004.jsonl", "other.jsonl.bak"]
    for name in keep:
        (tmp_path / name).write_text("mine")
    (tmp_path / "session-005.jsonl").mkdir()
    CassetteWriter(tmp_path).write(_tape("new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["session-001.jsonl", "session-005.jsonl", *keep])
    for name in keep:
        assert (tmp_path / name).read_text() == "mine"
    (tmp_path / "session-005.jsonl").rmdir()
    for name in ("session-2.jsonl", "session-0004.jsonl"):
        (tmp_path / name).unlink()
    (session,) = load(tmp_path).sessions
    assert session.server_frames()[0]["session_id"] == "new"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([HEADER, SESSION, "{not json"], ":3: not valid JSON"),
        ([HEADER, SESSION, {"kind": "client", "t": 0}], ":3: client line lacks the field"),
        ([HEADER, SESSION, {"kind": "warp"}], ":3: unknown kind 'warp'"),
        ([{**HEADER, "version": 2}, SESSION], ":1: cassette version 2 is newer than this"),
        ([{**HEADER, "format": "vcr"}], ":1: not a scribe cassette"),
        ([SESSION], ":1: the first line, and only it, must be the cassette line"),
        ([HEADER, {**SESSION, "n": "one"}], ":2: session line: 'n' must be integer"),
        ([HEADER, {**SESSION, "query": {"a": "b"}}], ":2: session line: every 'query' value"),
        ([HEADER, {"kind": "close", "t": 0, "audio_s": 0, "commits": 0, "after": 0,
                   "by": "server", "code": 1000, "reason": ""}], ":2: a close line before"),
        ([HEADER, SESSION, {**_tape().lines[0], "extra": 1}], ":3: server line has an unknown"),
    ],
)
def test_a_damaged_cassette_names_the_line(tmp_path: pathlib.Path, lines: list[object],
                                           expected: str) -> None:
    """Each kind of damage is one CassetteError naming the file, the line and the problem."""
    path = _write(tmp_path / "bad.jsonl", *lines)
    with pytest.raises(CassetteError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and expected in message
    assert "\n" not in message


def test_missing_and_empty_cassettes_are_one_line(tmp_path: pathlib.Path) -> None:
    """No file, an empty file, a directory without cassettes: one line each."""
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "nothing").mkdir()
    for path, expected in [(tmp_path / "none.jsonl", "no such cassette"),
                           (tmp_path / "empty.jsonl", "the cassette is empty"),
                           (tmp_path / "nothing", r"no \*\.jsonl cassette")]:
        with pytest.raises(CassetteError, match=expected):
            load(path)


@pytest.mark.parametrize("text", ["\n", "\n\n\n", " \t\n\n", "\r\n\r\n", "\ufeff\n\n"])
def test_a_file_of_blank_lines_is_refused_as_empty(tmp_path: pathlib.Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   text: str) -> None:
    """As an empty file is: it loaded as a cassette of no session, and `show` exited 0."""
    path = tmp_path / "blank.jsonl"
    path.write_bytes(text.encode())
    with pytest.raises(CassetteError, match=r"blank\.jsonl: the cassette is empty$"):
        load(path)
    assert cassette_main(["cassette", "show", str(path)]) == 2
    assert "the cassette is empty" in capsys.readouterr().err


def test_the_command_gives_one_line_and_exit_2_on_damage(tmp_path: pathlib.Path) -> None:
    """`scribe-mock cassette show` and `scribe-mock --cassette` on a future-version cassette:
    one line on stderr, exit 2, never a traceback."""
    path = _write(tmp_path / "future.jsonl", {**HEADER, "version": 7}, SESSION)
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1])}
    for args in (["cassette", "show", str(path)], ["--port", "0", "--cassette", str(path)]):
        proc = subprocess.run([sys.executable, "-m", "mock_server", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().count("\n") == 0
        assert "version 7 is newer" in proc.stderr


@pytest.mark.parametrize("port", ["70000", "-5", "http"])
def test_record_refuses_a_port_out_of_range_as_the_server_does(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], port: str) -> None:
    """The server's own ``--port`` check: its line, exit 2 (it was a traceback, exit 1)."""
    with pytest.raises(SystemExit) as exited:
        cassette_main(["record", "--cassette", str(tmp_path / "c.jsonl"), "--port", port])
    assert exited.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error == (f"scribe-mock record: error: argument --port: expected a port from 0 to "
                     f"65535, not {port!r}")
    assert not (tmp_path / "c.jsonl").exists()


def test_show_prints_a_timeline(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
                                ) -> None:
    """The timeline has the time, the audio position and what crossed the wire."""
    path = tmp_path / "a.jsonl"
    CassetteWriter(path).write(_tape())
    assert cassette_main(["cassette", "show", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("session 1 (token): include_timestamps=true "
                      "model_id=scribe_v2_realtime")
    assert "<- session_started" in out[1]
    assert "audio   0.00-1.00s  -> 1 chunk(s), 16000 samples" in out[2]
    assert "-> commit" in out[3]
    assert out[4].endswith('<- committed_transcript "hello"') and "audio   1.00s" in out[4]
    assert out[5].endswith('close by client: 1000 "bye"')
    assert list(timeline(load(path))) == out


def test_diff_ignores_ids_and_timing_but_not_texts(tmp_path: pathlib.Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Another session id and other arrival times: no difference (exit 0); another text:
    the changed frame, exit 1."""
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    CassetteWriter(a).write(_tape("one"))
    CassetteWriter(b).write(_tape("two", start=5.0))
    changed = _tape("three")
    changed.lines[3]["frame"] = {"message_type": "committed_transcript", "text": "yellow"}
    CassetteWriter(c).write(changed)
    assert cassette_main(["cassette", "diff", str(a), str(b)]) == 0
    assert capsys.readouterr().out == ""
    assert cassette_main(["cassette", "diff", str(a), str(c)]) == 1
    out = capsys.readouterr().out
    assert '-<- after commit 1: {"message_type": "committed_transcript", "text": "hello"}' in out
    assert '+<- after commit 1: {"message_type": "committed_transcript", "text": "yellow"}' in out
    assert diff(load(a), load(b)) == []
    assert normalised(load(a).sessions[0])[0] == (
        "session: include_timestamps=true model_id=scribe_v2_realtime")


def test_diff_ignores_which_side_of_a_commit_a_partial_landed(tmp_path: pathlib.Path) -> None:
    """A partial that raced the commit arrives before it in one recording, after it in the
    other: no difference; an answer after another commit count is one."""

    def tape(partial_first: bool, answer_at: float = 100.5) -> SessionTape:
        t = SessionTape(1, "/v1/speech-to-text/realtime", {"model_id": ["scribe_v2_realtime"]},
                        auth="api_key", start=100.0)
        t.server('{"message_type":"session_started","session_id":"x"}', 100.01)
        t.client(_chunk(b"\x01\x00" * 16000), 100.1)
        partial = '{"message_type":"partial_transcript","text":"hel"}'
        if partial_first:
            t.server(partial, 100.15)
        t.client(_chunk(b"", commit=True), 100.2)
        if not partial_first:
            t.server(partial, 100.25)
        t.server('{"message_type":"committed_transcript","text":"hello"}', answer_at)
        t.close("client", 1000, "", 101.0)
        return t

    paths = [tmp_path / f"{n}.jsonl" for n in "abc"]
    CassetteWriter(paths[0]).write(tape(True))
    CassetteWriter(paths[1]).write(tape(False))
    assert diff(load(paths[0]), load(paths[1])) == []
    before_commit = tape(True)
    before_commit.lines.insert(2, before_commit.lines.pop(-2))  # the answer before the commit
    before_commit.lines[2]["commits"] = 0
    CassetteWriter(paths[2]).write(before_commit)
    assert any("after commit 0" in line for line in diff(load(paths[0]), load(paths[2])))


def test_diff_ignores_partials_that_raced_the_close(tmp_path: pathlib.Path) -> None:
    """The echo of the last committed text arrives before the client's close in one recording
    and not in the other: no difference. A partial before the last answer still counts, and a
    session with no answer keeps its partials."""

    def tape(*partials_after: str, commit: bool = True) -> SessionTape:
        t = SessionTape(1, "/v1/speech-to-text/realtime", {"model_id": ["scribe_v2_realtime"]},
                        auth="api_key", start=100.0)
        t.server('{"message_type":"session_started","session_id":"x"}', 100.01)
        t.client(_chunk(b"\x01\x00" * 16000, commit=commit), 100.1)
        if commit:
            t.server('{"message_type":"committed_transcript","text":"hello"}', 100.4)
        for n, text in enumerate(partials_after):
            t.server(json.dumps({"message_type": "partial_transcript", "text": text}),
                     100.45 + n / 100)
        t.close("client", 1000, "", 101.0)
        return t

    paths = [tmp_path / f"{n}.jsonl" for n in "abcd"]
    CassetteWriter(paths[0]).write(tape())
    CassetteWriter(paths[1]).write(tape("hello"))
    assert diff(load(paths[0]), load(paths[1])) == []
    CassetteWriter(paths[2]).write(tape(commit=False))
    CassetteWriter(paths[3]).write(tape("hel", commit=False))
    assert any('"hel"' in line for line in diff(load(paths[2]), load(paths[3])))
