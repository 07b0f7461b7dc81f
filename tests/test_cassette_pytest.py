"""The scribe_cassette fixture under pytest: its record modes, where cassettes go, and the
one-line failures (a missing cassette, a key-less recording, a strict difference, a bad mode)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from mock_server import MockServer
from mock_server.cassette import load
from tests.cassette_clients import KEY, SCRIPT

REPO = pathlib.Path(__file__).resolve().parent.parent
TIMEOUT = 120

TEST_FILE = '''
import os
import pytest
import scribe_sync
from mock_server.testing import silence, speech

SECONDS = float(os.environ.get("TALK_SECONDS", "1.2"))


@pytest.mark.scribe_cassette("talk", strict=True)
def test_talk(scribe_cassette):
    client = scribe_sync.ScribeClient(scribe_cassette.api_key, base_url=scribe_cassette.base_url)
    with client.connect() as session:
        session.send_audio(speech(SECONDS) + silence(0.2))
    print("RECORDING" if scribe_cassette.recording else "REPLAYING", session.transcript)


def test_default_name(scribe_cassette):
    client = scribe_sync.ScribeClient(scribe_cassette.api_key, base_url=scribe_cassette.base_url)
    with client.connect() as session:
        session.send_audio(speech(1.2) + silence(0.2))
'''


@pytest.fixture
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "test_app.py").write_text(TEST_FILE)
    return tmp_path


def _pytest(cwd: pathlib.Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k != "ELEVENLABS_API_KEY" and not k.startswith("SCRIBE_")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def test_once_records_beside_the_test_then_replays(project: pathlib.Path) -> None:
    """Mode once with a key records cassettes/<name>.jsonl (or the test's name); a second run
    in the default mode, without a key, replays them and never reaches the service."""
    with MockServer(api_keys=[KEY], transcript=SCRIPT, timing="live") as service:
        first = _pytest(project, "test_app.py", "--scribe-record-mode=once",
                        ELEVENLABS_API_KEY=KEY, SCRIBE_UPSTREAM_URL=service.base_url)
        assert first.returncode == 0, first.stdout[-3000:]
        assert "RECORDING hello there" in first.stdout
        assert sorted(p.name for p in (project / "cassettes").iterdir()) == [
            "talk.jsonl", "test_default_name.jsonl"]
        second = _pytest(project, "test_app.py", SCRIBE_UPSTREAM_URL=service.base_url)
        assert second.returncode == 0, second.stdout[-3000:]
        assert "REPLAYING hello there" in second.stdout
        assert len(service.sessions()) == 2  # the replays never reached it
    assert KEY not in (project / "cassettes" / "talk.jsonl").read_text()


def test_all_records_again_from_the_environment_variable(project: pathlib.Path) -> None:
    """SCRIBE_RECORD_MODE=all records even when the cassette exists."""
    with MockServer(api_keys=[KEY], transcript=SCRIPT) as service:
        for _ in range(2):
            proc = _pytest(project, "test_app.py", "-k", "talk", SCRIBE_RECORD_MODE="all",
                           ELEVENLABS_API_KEY=KEY, SCRIBE_UPSTREAM_URL=service.base_url)
            assert proc.returncode == 0, proc.stdout[-3000:]
        assert len(service.sessions()) == 2
    assert len(load(project / "cassettes" / "talk.jsonl").sessions) == 1


def test_one_line_failures(project: pathlib.Path) -> None:
    """A missing cassette (mode none), recording without a key and a bad mode each fail in
    one line, without a traceback of the fixture."""
    missing = _pytest(project, "test_app.py", "-k", "talk")
    assert missing.returncode == 1
    assert "no cassette " in missing.stdout and "--scribe-record-mode=once" in missing.stdout
    assert "Traceback" not in missing.stdout
    keyless = _pytest(project, "test_app.py", "-k", "talk", "--scribe-record-mode=all")
    assert "recording talk.jsonl needs ELEVENLABS_API_KEY" in keyless.stdout
    bad = _pytest(project, "test_app.py", SCRIBE_RECORD_MODE="sometimes")
    assert bad.returncode == 4  # a usage error
    assert "SCRIBE_RECORD_MODE must be one of none, once, all, not 'sometimes'" in bad.stderr


def test_a_strict_difference_fails_the_test_naming_it(project: pathlib.Path) -> None:
    """Other audio than recorded, under strict=True: the test fails with the difference."""
    with MockServer(api_keys=[KEY], transcript=SCRIPT) as service:
        recorded = _pytest(project, "test_app.py", "-k", "talk", "--scribe-record-mode=once",
                           ELEVENLABS_API_KEY=KEY, SCRIBE_UPSTREAM_URL=service.base_url)
        assert recorded.returncode == 0, recorded.stdout[-3000:]
    changed = _pytest(project, "test_app.py", "-k", "talk", TALK_SECONDS="1.5")
    assert changed.returncode == 1
    assert "cassette mismatch at client frame 2 (audio 1.00 s): length" in changed.stdout


def test_a_recording_that_cannot_be_written_fails_the_test(project: pathlib.Path) -> None:
    """The cassette path is a FIFO: the session is answered, not written, and the test fails
    saying so (it passed before, leaving no cassette)."""
    (project / "cassettes").mkdir()
    os.mkfifo(project / "cassettes" / "talk.jsonl")
    with MockServer(api_keys=[KEY], transcript=SCRIPT) as service:
        proc = _pytest(project, "test_app.py", "-k", "talk", "--scribe-record-mode=all",
                       ELEVENLABS_API_KEY=KEY, SCRIBE_UPSTREAM_URL=service.base_url)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "session 1 was not written" in proc.stdout and "not a regular file" in proc.stdout
    assert KEY not in proc.stdout + proc.stderr


def test_the_fixture_value_does_not_show_the_key() -> None:
    from mock_server._pytest_cassette import CassetteUse

    use = CassetteUse("http://127.0.0.1:1", KEY, pathlib.Path("c.jsonl"), True)
    assert KEY not in repr(use) and KEY not in str(use)


MARKERS = '''
import pytest
import scribe_sync
from mock_server.testing import silence, speech


@pytest.mark.scribe_cassette("typo", stirct=True)
def test_typo(scribe_cassette):
    pass


@pytest.mark.scribe_cassette("other", cassette="other.jsonl")
def test_cassette_given(scribe_cassette):
    pass


@pytest.mark.parametrize("x", ["a b", "a,b"])
def test_ids(scribe_cassette, x):
    client = scribe_sync.ScribeClient(scribe_cassette.api_key, base_url=scribe_cassette.base_url)
    with client.connect(language_code="en" if x == "a b" else "fr") as session:
        session.send_audio(speech(1.2) + silence(0.2))
    print("CASSETTE", scribe_cassette.path.name)
'''


@pytest.mark.parametrize("mode", ["all", "none"])
def test_bad_marker_arguments_fail_in_one_line_recording_or_not(tmp_path: pathlib.Path,
                                                                mode: str) -> None:
    """A typo'd setting, or ``cassette=``, fails the test before it runs, naming the argument
    and the allowed ones: recording never hands the settings to a server, so it passed."""
    (tmp_path / "test_markers.py").write_text(MARKERS)
    proc = _pytest(tmp_path, "test_markers.py", "-k", "typo or given", "-rE",
                   SCRIBE_RECORD_MODE=mode, ELEVENLABS_API_KEY=KEY,
                   SCRIBE_UPSTREAM_URL="http://127.0.0.1:9")
    assert proc.returncode == 1 and "2 error" in proc.stdout, proc.stdout[-3000:]
    assert "unknown setting 'stirct'" in proc.stdout and "strict, " in proc.stdout
    assert "'cassette' cannot be given" in proc.stdout
    assert "Traceback" not in proc.stdout and "TypeError" not in proc.stdout
    assert not (tmp_path / "cassettes").exists()


def test_a_bad_upstream_url_fails_in_one_line(tmp_path: pathlib.Path) -> None:
    (tmp_path / "test_markers.py").write_text(MARKERS)
    proc = _pytest(tmp_path, "test_markers.py", "-k", "test_ids", "-rE",
                   SCRIBE_RECORD_MODE="all", ELEVENLABS_API_KEY=KEY,
                   SCRIBE_UPSTREAM_URL="ftp://nowhere")
    assert proc.returncode == 1 and "2 error" in proc.stdout, proc.stdout[-3000:]
    assert "SCRIBE_UPSTREAM_URL" in proc.stdout and "'ftp://nowhere'" in proc.stdout
    assert "Traceback" not in proc.stdout and "ValueError" not in proc.stdout


def test_ids_that_clean_to_the_same_name_get_their_own_cassettes() -> None:
    from mock_server._pytest_cassette import file_stem

    assert file_stem("talk") == "talk" and file_stem("t-1.x_y") == "t-1.x_y"
    stems = {file_stem(name) for name in ("test_p[a b]", "test_p[a,b]", "test_p[a_b]",
                                          "test_p_a_b_", "test_p[a\udcff]")}
    assert len(stems) == 5
    assert all(stem.startswith("test_p_a_") and "/" not in stem for stem in stems)


def test_parametrized_tests_record_and_replay_their_own_cassettes(tmp_path: pathlib.Path
                                                                  ) -> None:
    (tmp_path / "test_markers.py").write_text(MARKERS)
    with MockServer(api_keys=[KEY], transcript=SCRIPT) as service:
        recorded = _pytest(tmp_path, "test_markers.py", "-k", "test_ids",
                           "--scribe-record-mode=once", ELEVENLABS_API_KEY=KEY,
                           SCRIBE_UPSTREAM_URL=service.base_url)
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    names = sorted(p.name for p in (tmp_path / "cassettes").iterdir())
    assert len(names) == 2
    assert sorted(re.findall(r"CASSETTE (\S+)", recorded.stdout)) == names
    # Each cassette holds its own test's session (the options differ), and replays it.
    languages = {load(tmp_path / "cassettes" / name).sessions[0].query["language_code"][0]
                 for name in names}
    assert languages == {"en", "fr"}
    replayed = _pytest(tmp_path, "test_markers.py", "-k", "test_ids")
    assert replayed.returncode == 0, replayed.stdout[-3000:]
