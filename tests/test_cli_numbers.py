"""Numeric flags whose range the parser states are refused by it, up front (exit 2, one line
naming the range), the same way in every command that has them.

The runs point at a port where nothing listens: a value that got past the checks would end in
exit 5 (a connection failure) instead of 2.
"""

from __future__ import annotations

import pytest

from scribe_sync.cli import EXIT_USAGE
from tests.test_cli import KEY, SAMPLE, one_error_line, run


@pytest.mark.parametrize("value", ["1e-300", "1e-320", "0.001"])
def test_a_speed_too_small_to_pace_is_refused_naming_the_range(dead_url: str,
                                                               value: str) -> None:
    """1e-300 passed "> 0", then overflowed the pacing clock mid-session: exit 5, two lines."""
    proc = run("transcribe", SAMPLE, "--base-url", dead_url, "--api-key", KEY,
               "--speed", value)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    line = one_error_line(proc.stderr)
    assert "--speed" in line and "0.01" in line and "1000" in line


@pytest.mark.parametrize(("command", "value"), [
    ("transcribe", "0.5"), ("transcribe", "inf"), ("transcribe", "1e309"),
    ("transcribe", "1e-320"), ("transcribe", "3601"),
    ("bench", "inf"), ("bench", "1e309"), ("bench", "1e-320"), ("bench", "0"),
    ("bench", "3601"),
])
def test_commit_every_is_refused_by_the_parser_naming_its_range(dead_url: str, command: str,
                                                                value: str) -> None:
    """transcribe passed 0.5 to the session, refused there with another range ("at least 1");
    bench took inf, 1e309 and 1e-320 ("commits at the first pause after inf s")."""
    proc = run(command, SAMPLE, "--base-url", dead_url, "--api-key", KEY,
               "--commit-every", value)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    line = one_error_line(proc.stderr)
    assert "argument --commit-every: must be" in line and "3600" in line


@pytest.mark.parametrize("command", ["transcribe", "bench"])
def test_the_help_states_the_commit_every_range(command: str) -> None:
    proc = run(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "3600" in " ".join(proc.stdout.split()), proc.stdout
