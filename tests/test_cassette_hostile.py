"""Hostile cassette files: each is refused with one line naming the file and the line
(`CassetteError`), and `scribe-mock cassette show|diff` exit 2 with that line, never a
traceback, a hang or unbounded memory."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from mock_server import cassette as cassette_module
from mock_server._cassette_cli import main as cassette_main
from mock_server.cassette import CassetteError, load
from mock_server.replay import Replayer

HEADER = {"kind": "cassette", "format": "scribe-cassette", "keep_audio": False, "version": 1}
SESSION = {"kind": "session", "auth": "api_key", "n": 1, "path": "/v1/speech-to-text/realtime",
           "query": {"model_id": ["scribe_v2_realtime"]}}
SERVER = {"kind": "server", "t": 0.01, "audio_s": 0.0, "commits": 0, "after": 0,
          "frame": {"message_type": "session_started", "session_id": "x"}}
CLIENT = {"kind": "client", "t": 0.1, "audio_s": 1.0, "commits": 0, "message_type":
          "input_audio_chunk", "samples": 16000, "sha256": "ab" * 32, "commit": False,
          "sample_rate": None, "previous_text": None}
CLOSE = {"kind": "close", "t": 0.2, "audio_s": 1.0, "commits": 0, "after": 1, "by": "client",
         "code": 1000, "reason": ""}  # the last line of every session


def _text(*lines: object) -> str:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)


def _refused(path: pathlib.Path, capsys: pytest.CaptureFixture[str], *where: str) -> str:
    """The load error's text; `show` and `diff` exit 2 with it as their one line."""
    with pytest.raises(CassetteError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for part in where:
        assert part in message
    for argv in (["cassette", "show", str(path)], ["cassette", "diff", str(path), str(path)]):
        assert cassette_main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    return message


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: pathlib.Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    assert "not a regular file" in _refused(fifo, capsys)


def test_a_device_is_refused_without_reading_it() -> None:
    with pytest.raises(CassetteError, match="not a regular file"):
        load("/dev/zero")


def test_a_line_over_the_limit_is_refused_by_number(tmp_path: pathlib.Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit is lowered here so as not to write 100 MB; the reading is the same."""
    monkeypatch.setattr(cassette_module, "MAX_LINE", 4096)
    path = tmp_path / "long.jsonl"
    path.write_text(_text(HEADER, SESSION, '{"kind": "server", "x": "' + "a" * 10000 + '"}'))
    assert "longer than" in _refused(path, capsys, ":3:")


def test_a_file_over_the_limit_is_refused(tmp_path: pathlib.Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cassette_module, "MAX_FILE", 4096)
    path = tmp_path / "big.jsonl"
    path.write_text(_text(HEADER, SESSION, *[SERVER] * 100))
    with pytest.raises(CassetteError, match="larger than"):
        load(path)


def test_invalid_utf8_names_its_line(tmp_path: pathlib.Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(_text(HEADER, SESSION).encode() + b'{"kind": "\xff\xfe"}\n')
    assert "UTF-8" in _refused(path, capsys, ":3:")


def test_deeply_nested_json_is_one_line(tmp_path: pathlib.Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(_text(HEADER, SESSION, "[" * 200000 + "]" * 200000))
    _refused(path, capsys, ":3:")


def test_a_bom_and_crlf_line_ends_are_read(tmp_path: pathlib.Path) -> None:
    """What a Windows editor saves is still the same cassette."""
    path = tmp_path / "win.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _text(HEADER, SESSION, SERVER, CLOSE).replace(
        "\n", "\r\n").encode())
    (session,) = load(path).sessions
    assert session.server_frames() == [SERVER["frame"]]


@pytest.mark.parametrize(("field", "value"), [
    ("t", "NaN"), ("t", "Infinity"), ("t", "-1"), ("audio_s", "NaN"), ("audio_s", "-0.5"),
    ("audio_s", "1e400"), ("t", "1e300"), ("commits", "-1"), ("after", "1" + "0" * 4000),
])
def test_bad_times_and_positions_are_refused(tmp_path: pathlib.Path,
                                             capsys: pytest.CaptureFixture[str],
                                             field: str, value: str) -> None:
    """NaN would never be reached by a replaying client (a silent stall); a huge time would
    make a `recorded` replay wait for ever; a huge integer overflows `show`."""
    line = json.dumps(SERVER).replace(f'"{field}": {json.dumps(SERVER[field])}',
                                      f'"{field}": {value}')
    assert value in line
    path = tmp_path / "times.jsonl"
    path.write_text(_text(HEADER, SESSION, line))
    assert repr(field) in _refused(path, capsys, ":3:")


def test_huge_sample_counts_are_refused(tmp_path: pathlib.Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text(_text(HEADER, SESSION, {**CLIENT, "samples": 10 ** 4000}))
    assert "'samples'" in _refused(path, capsys, ":3:")


@pytest.mark.parametrize(("field", "line"), [
    ("binary", {**{k: v for k, v in SERVER.items() if k != "frame"}, "binary": "not base64!"}),
    ("audio", {**CLIENT, "audio": "%%%"}),
    ("sha256", {**CLIENT, "sha256": "not a digest"}),
])
def test_undecodable_base64_and_digests_are_refused(tmp_path: pathlib.Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    field: str, line: object) -> None:
    """Found on load, not as a `binascii.Error` in the middle of a replay."""
    path = tmp_path / "b64.jsonl"
    path.write_text(_text(HEADER, SESSION, line))
    assert repr(field) in _refused(path, capsys, ":3:")


def test_kept_audio_that_does_not_match_its_digest_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "digest.jsonl"
    path.write_text(_text(HEADER, SESSION, {**CLIENT, "samples": 1, "audio": "AAA="}))
    with pytest.raises(CassetteError, match=r":3: .*sha256"):
        load(path)


@pytest.mark.parametrize("version", [0, -1])
def test_a_version_older_than_the_first_is_refused(tmp_path: pathlib.Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   version: int) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(_text({**HEADER, "version": version}, SESSION))
    assert "version" in _refused(path, capsys, ":1:")


def test_a_future_version_against_a_current_one_in_diff(tmp_path: pathlib.Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text(_text(HEADER, SESSION, SERVER, CLOSE))
    new = tmp_path / "new.jsonl"
    new.write_text(_text({**HEADER, "version": 2}, SESSION, SERVER, CLOSE))
    assert cassette_main(["cassette", "diff", str(old), str(new)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and str(new) in err and "newer" in err and err.count("\n") == 1


@pytest.mark.parametrize("audio_format", ["pcm_0", "pcm_", "pcm_00"])
def test_a_zero_sample_rate_does_not_divide_by_zero(tmp_path: pathlib.Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    audio_format: str) -> None:
    path = tmp_path / "rate.jsonl"
    session = {**SESSION, "query": {"audio_format": [audio_format]}}
    path.write_text(_text(HEADER, session, CLIENT, SERVER, CLOSE))
    assert cassette_main(["cassette", "show", str(path)]) == 0
    replayer = Replayer(load(path).sessions[0])
    replayer.start(0.0)
    assert replayer.audio_secs == 0.0


def test_a_symlink_loop_is_one_line(tmp_path: pathlib.Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(tmp_path / "loop.jsonl")
    _refused(loop, capsys)


def test_a_directory_of_many_files_and_one_bad_names_the_bad_one(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(2000):
        text = _text(HEADER, {**SESSION, "n": n + 1}, SERVER, CLOSE)
        (tmp_path / f"session-{n:04d}.jsonl").write_text(text)
    assert len(load(tmp_path).sessions) == 2000
    os.mkfifo(tmp_path / "session-1000x.jsonl")
    assert "session-1000x.jsonl" in _refused(tmp_path, capsys)


def test_a_file_truncated_while_read_ends_on_a_clear_line(tmp_path: pathlib.Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """A recording cut off mid-line (the proxy killed, a copy still running)."""
    path = tmp_path / "cut.jsonl"
    path.write_text(_text(HEADER, SESSION, SERVER, CLOSE)[:-20])
    _refused(path, capsys, ":4:")


@pytest.mark.parametrize("lines", [
    (HEADER, SESSION, SERVER),  # cut at a line end: the session's close line is missing
    (HEADER, SESSION, SERVER, {**SESSION, "n": 2}, SERVER, CLOSE),  # an earlier session cut
    (HEADER, SESSION),  # nothing after the session line
])
def test_a_cassette_cut_at_a_line_end_is_refused_naming_the_session(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
        lines: tuple[object, ...]) -> None:
    """Without its close or refused line a session is incomplete: a lenient replay of it would
    leave the client waiting for frames that were never recorded."""
    path = tmp_path / "cut.jsonl"
    path.write_text(_text(*lines))
    assert "session 1 has no close or refused line" in _refused(path, capsys)


def test_a_line_after_a_session_ended_is_refused(tmp_path: pathlib.Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "after.jsonl"
    path.write_text(_text(HEADER, SESSION, SERVER, CLOSE, SERVER))
    assert "a server line after session 1 ended" in _refused(path, capsys, ":5:")


def test_a_transcript_with_unicode_line_separators_reads_back(tmp_path: pathlib.Path) -> None:
    """Frames are written unescaped (ensure_ascii=False): U+2028, U+0085 or a form feed in a
    transcript are inside one line, not line ends (str.splitlines would cut the line there)."""
    from mock_server.cassette import CassetteWriter, SessionTape

    text = "one\u2028two\x85three\x0cfour\x1cfive"
    tape = SessionTape(1, "/v1/speech-to-text/realtime", {}, auth="api_key", start=0.0)
    tape.server(json.dumps({"message_type": "committed_transcript", "text": text},
                           ensure_ascii=False), 0.5)
    path = tmp_path / "sep.jsonl"
    tape.close("client", 1000, "", 0.3)
    CassetteWriter(path).write(tape)
    (session,) = load(path).sessions
    assert session.server_frames() == [{"message_type": "committed_transcript", "text": text}]


def test_show_and_diff_print_no_terminal_control_characters(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A hostile cassette's strings (an option, the auth, a frame, a close reason) reach a
    terminal: escape sequences (ESC, the C1 CSI) are printed escaped, not obeyed."""
    evil = "\x1b]0;owned\x07\x1b[2J\x9b31m"
    session = {**SESSION, "auth": evil, "query": {"model_id": [evil]}}
    frame = {**SERVER, "frame": {"message_type": evil, "text": evil}}
    close = {"kind": "close", "t": 0.2, "audio_s": 0.0, "commits": 0, "after": 0,
             "by": "server", "code": 1000, "reason": evil}
    path = tmp_path / "evil.jsonl"
    path.write_text(_text(HEADER, session, frame, close), encoding="utf-8")
    plain = tmp_path / "plain.jsonl"
    plain.write_text(_text(HEADER, SESSION, SERVER, CLOSE))
    assert cassette_main(["cassette", "show", str(path)]) == 0
    assert cassette_main(["cassette", "diff", str(plain), str(path)]) == 1
    out = capsys.readouterr().out
    assert "owned" in out
    assert not any(c in out for c in "\x1b\x07\x9b")


@pytest.mark.parametrize("line", [
    {**SERVER, "t": "x" * 1_000_000},
    {**SERVER, "kind": "y" * 1_000_000},
    {**SERVER, "z" * 1_000_000: 1},
    {**SERVER, "t": [[0] * 100_000]},
])
def test_an_error_naming_a_huge_value_stays_short(tmp_path: pathlib.Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  line: object) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_text(_text(HEADER, SESSION, line))
    assert len(_refused(path, capsys, ":3:")) < 300


def test_a_huge_format_name_stays_short(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "format.jsonl"
    path.write_text(_text({**HEADER, "format": "f" * 1_000_000}))
    with pytest.raises(CassetteError, match="not a scribe cassette") as caught:
        load(path)
    assert len(str(caught.value)) < 300


def test_a_file_name_with_a_newline_and_an_escape_is_one_plain_line(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil\n\x1b[2Jname.jsonl"
    path.write_text("not json\n")
    assert cassette_main(["cassette", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "evil\\x0a\\x1b[2Jname" in err


def test_a_diff_of_very_long_sessions_is_positional(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: pathlib.Path) -> None:
    """A unified diff's matching grows faster than linearly (two 100k-frame sessions took
    11 s of CPU, 20k took 0.8 s): past a bound, lines are compared at the same positions."""
    from mock_server import cassette_view

    monkeypatch.setattr(cassette_view, "MAX_DIFF_LINES", 4)

    def frame(text: str) -> dict[str, object]:
        return {**SERVER, "frame": {"message_type": "committed_transcript", "text": text}}

    a = tmp_path / "a.jsonl"
    a.write_text(_text(HEADER, SESSION, frame("one"), frame("two"), frame("three"), CLOSE))
    b = tmp_path / "b.jsonl"
    b.write_text(_text(HEADER, SESSION, frame("one"), frame("2"), frame("three"), frame("4"),
                       CLOSE))
    out = cassette_view.diff(load(a), load(b))
    assert [line[:12] for line in out[2:]] == ["@@ line 3 @@", '-<- after co', '+<- after co',
                                               "@@ line 5 @@", "-close by cl", '+<- after co',
                                               "@@ line 6 @@", "+close by cl"]
    assert '"two"' in out[3] and '"2"' in out[4] and '"4"' in out[7]


def test_a_session_number_twice_in_a_file_is_refused(tmp_path: pathlib.Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A replay hands sessions out by number: two sessions 1 cannot both be the first."""
    path = tmp_path / "twice.jsonl"
    path.write_text(_text(HEADER, SESSION, SERVER, CLOSE, SESSION, SERVER, CLOSE))
    assert "session 1 again (first at line 2)" in _refused(path, capsys, ":5:")


def test_a_session_number_in_two_files_of_a_directory_is_refused(tmp_path: pathlib.Path
                                                                 ) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(_text(HEADER, SESSION, SERVER, CLOSE))
    with pytest.raises(CassetteError, match=r"b\.jsonl: session 1 again \(also in a\.jsonl\)"):
        load(tmp_path)
