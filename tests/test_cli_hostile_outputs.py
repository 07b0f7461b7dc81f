"""Outputs the command cannot write, found before any session starts (exit 6, one line), and a
batch ended by a signal that says which one ended it.

Permission tests run the command without the capabilities that let root write anywhere when
the suite runs as root, and are skipped when root cannot give them up.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence

import pytest

from mock_server import MockServer
from scribe_sync.cli import EXIT_OUTPUT
from tests.test_cli import KEY, SAMPLE, TIMEOUT, _cli, _env, one_error_line
from tests.test_cli_terminate import PROGRESS, assert_ended_by, finish, read_until

OLD = "an older summary, which a refused or unfinished run must not touch\n"


@pytest.fixture
def unprivileged(work: pathlib.Path) -> list[str]:
    """What to put before the command so that file permissions bind it: as root, ``setpriv``
    dropping the capabilities that override them (root stays the owner of the checkout, which
    may sit in a private folder: CI clones into ``mktemp -d``, where ``nobody`` could not run
    the code and these tests were skipped); nothing otherwise."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions would not bind")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    locked = work / "probe"
    locked.mkdir(mode=0o555)
    try:
        probe = subprocess.run(
            [*prefix, sys.executable, "-c",
             f"import os, scribe_sync.cli; os.mkdir({str(locked / 'x')!r})"],
            cwd=work, env=_env(HOME=str(work)), capture_output=True, timeout=TIMEOUT,
            check=False)
    finally:
        locked.chmod(0o755)
        shutil.rmtree(locked)
    if b"PermissionError" not in probe.stderr:
        pytest.skip(f"root cannot give up its file permissions here: {probe.stderr[-200:]!r}")
    return prefix


@pytest.fixture
def work() -> Iterator[pathlib.Path]:
    """A folder anyone may use, holding ``in.flac``: pytest's own tmp_path is private to its
    owner, so ``nobody`` could not even reach it."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="scribe-outputs-"))
    try:
        folder.chmod(0o777)
        shutil.copyfile(SAMPLE, folder / "in.flac")
        (folder / "in.flac").chmod(0o644)
        yield folder
    finally:
        for path in folder.rglob("*"):  # a read-only folder must not stop the cleanup
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder)


def _run(work: pathlib.Path, *args: str, prefix: Sequence[str] = (),
         ) -> tuple[subprocess.CompletedProcess[str], int]:
    """The command in ``work`` against a mock server; the result and the sessions it opened."""
    with MockServer() as server:
        proc = subprocess.run(
            [*prefix, *_cli("transcribe", "in.flac", "--base-url", server.base_url,
                            "--api-key", KEY, "--fast", *args)],
            cwd=work, env=_env(HOME=str(work)), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=TIMEOUT, check=False)
        return proc, len(server.sessions())


def _contents(folder: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# =============================================================================================
# -o DIR/ that cannot be created


def test_an_output_folder_in_a_read_only_folder_is_exit_6_not_a_usage_error(
    work: pathlib.Path, unprivileged: list[str],
) -> None:
    """-o rodir/sub/ where rodir may not be written: exit 6 (output) with one line, before any
    session (it was exit 2, as if the command line were wrong)."""
    (work / "rodir").mkdir()
    (work / "rodir").chmod(0o555)
    proc, sessions = _run(work, "-o", "rodir/sub/", prefix=unprivileged)
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert one_error_line(proc.stderr) == (
        "scribe-sync: error: cannot create -o rodir/sub/: Permission denied")
    assert sessions == 0
    assert _contents(work) == ["in.flac", "rodir"]


def test_an_output_folder_named_like_a_file_says_it_is_not_a_directory(
    work: pathlib.Path,
) -> None:
    """-o notes/ where notes is a file: exit 6 and "notes is not a directory" (it was exit 2
    and "File exists", which sends the user looking for a folder that is not there)."""
    (work / "notes").write_text("not a folder\n", encoding="utf-8")
    proc, sessions = _run(work, "-o", "notes/")
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert one_error_line(proc.stderr) == (
        "scribe-sync: error: cannot create -o notes/: notes is not a directory")
    assert sessions == 0
    assert (work / "notes").read_text(encoding="utf-8") == "not a folder\n"


# =============================================================================================
# --summary that could not be written at the end


@pytest.mark.parametrize(("outdir", "summary", "reason", "left"), [
    ("out/", "nosuch/s.json", "No such file or directory", []),
    ("a/b/c/", "notes/s.json", "Not a directory", []),
    ("kept/new/", "kept/new", "Is a directory", ["kept"]),
    ("out/", "out/", "Is a directory", []),
], ids=["new-folder", "new-parents", "existing-parent", "the-folder-itself"])
def test_a_refused_summary_leaves_no_output_folder_behind(
    work: pathlib.Path, outdir: str, summary: str, reason: str, left: list[str],
) -> None:
    """-o DIR/ is created before --summary is checked (the summary may be a file in it); a
    refused summary left the empty folders it had made. Now they are removed again, and only
    those: a folder that was there before stays."""
    (work / "notes").write_text("not a folder\n", encoding="utf-8")
    if left:
        (work / left[0]).mkdir()
    before = _contents(work)
    proc, sessions = _run(work, "-o", outdir, "--summary", summary)
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert one_error_line(proc.stderr) == (
        f"scribe-sync: error: cannot write --summary {summary}: {reason}")
    assert sessions == 0
    assert _contents(work) == before


def test_a_summary_inside_a_new_output_folder_is_accepted(work: pathlib.Path) -> None:
    """The other side of the removal above: --summary naming a file in the -o folder the run
    creates is checked once that folder exists, and the run writes both."""
    proc, sessions = _run(work, "-o", "out/", "--summary", "out/s.json")
    assert proc.returncode == 0, proc.stderr
    assert sessions == 1
    assert json.loads((work / "out" / "s.json").read_text(encoding="utf-8"))
    assert sorted(p.name for p in (work / "out").iterdir()) == ["in.txt", "s.json"]


@pytest.mark.parametrize(("summary", "reason"), [
    ("nosuch/s.json", "No such file or directory"),
    ("folder", "Is a directory"),
    ("notes/s.json", "Not a directory"),
], ids=["missing-folder", "a-directory", "under-a-file"])
def test_a_summary_that_cannot_be_written_is_refused_before_any_session(
    work: pathlib.Path, summary: str, reason: str,
) -> None:
    """--summary is written after the whole run; one that cannot be was found only then (the
    run wasted, the transcript written, exit 6 at the end). Now: exit 6 at once, one line, no
    session, nothing created."""
    (work / "folder").mkdir()
    (work / "notes").write_text("not a folder\n", encoding="utf-8")
    before = _contents(work)
    proc, sessions = _run(work, "-o", "out.txt", "--summary", summary)
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert one_error_line(proc.stderr) == (
        f"scribe-sync: error: cannot write --summary {summary}: {reason}")
    assert sessions == 0
    assert _contents(work) == before


@pytest.mark.parametrize("where", ["read-only-file", "read-only-folder"])
def test_a_summary_one_may_not_write_is_refused_and_left_untouched(
    work: pathlib.Path, unprivileged: list[str], where: str,
) -> None:
    """An existing summary one may not replace (the file, or its folder, read-only): refused
    before any session, and its bytes are the old ones (it is not opened, so not truncated)."""
    folder = work / "sums" if where == "read-only-folder" else work
    folder.mkdir(exist_ok=True)
    summary = folder / "s.json"
    summary.write_text(OLD, encoding="utf-8")
    summary.chmod(0o444 if where == "read-only-file" else 0o666)
    if where == "read-only-folder":
        folder.chmod(0o555)
    name = str(summary.relative_to(work))
    proc, sessions = _run(work, "-o", "out.txt", "--summary", name, prefix=unprivileged)
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert one_error_line(proc.stderr) == (
        f"scribe-sync: error: cannot write --summary {name}: Permission denied")
    assert sessions == 0
    assert summary.read_text(encoding="utf-8") == OLD
    assert not (work / "out.txt").exists()
    assert stat.S_IMODE(summary.stat().st_mode) == (0o444 if where == "read-only-file"
                                                    else 0o666)


# =============================================================================================
# A batch ended by a signal


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_a_signal_on_a_batch_is_named_and_promises_no_finish(
    work: pathlib.Path, sig: signal.Signals,
) -> None:
    """SIGTERM (SIGHUP) abandons the files in flight at once. The message used to promise to
    finish them ("finishing 2 in flight (Ctrl+C again ...)") and every file said "Ctrl+C", in
    the summary too: now the signal is named, and nothing is promised. The old summary stays
    untouched while the run goes on (written once, at the end); no .part file is left."""
    for name in ("b.flac", "c.flac"):
        shutil.copyfile(SAMPLE, work / name)
    summary = work / "s.json"
    summary.write_text(OLD, encoding="utf-8")
    proc = subprocess.Popen(
        _cli("transcribe", "in.flac", "b.flac", "c.flac", "--mock", "--realtime", "--jobs", "2",
             "-o", "out/", "--summary", "s.json", *PROGRESS),
        cwd=work, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    seen = bytearray()
    try:
        read_until(proc, rb"in flight; audio 0:0[1-9]", seen)
        assert summary.read_text(encoding="utf-8") == OLD
        proc.send_signal(sig)
    finally:
        code = finish(proc, seen)
    assert_ended_by(sig, code, seen)
    err = seen.decode(errors="replace")
    assert f"terminated ({sig.name}): no new file" in err
    assert "finishing" not in err and "Ctrl+C" not in err
    document = json.loads(summary.read_text(encoding="utf-8"))
    reasons = [f["error"] for f in document["files"] if f["status"] == "interrupted"]
    assert f"abandoned ({sig.name})" in reasons, document
    assert set(reasons) <= {f"abandoned ({sig.name})", f"not started ({sig.name})"}, document
    assert document["exit_code"] == 128 + sig
    assert not [p for p in work.rglob("*") if p.name.endswith(".part")], _contents(work)
