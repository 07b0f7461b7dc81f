"""Credentials and base URLs are validated before any connection, with a typed error.

A key or token holding CR or LF would otherwise be written raw into the upgrade request
(header injection); a base URL with an invalid port would otherwise fail mid-connect with an
untyped ValueError, which the CLI reported as an internal error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scribe_sync import ScribeClient, protocol
from scribe_sync.cli import EXIT_AUTH, EXIT_USAGE
from scribe_sync.errors import ConfigError

SECRET = "sk_0123456789abcdef"
CONTROL = ["\r\nX-Injected: yes", "\n", "\r", "\x00", "\t", "\x1b[31m", "\x7f", "\x85"]
BAD_PORTS = ["http://127.0.0.1:99999", "https://example.com:65536", "http://localhost:abc",
             "wss://example.com:0", "http://example.com:-1", "http://example.com:1.5"]
UNUSED = "http://127.0.0.1:9"  # nothing is ever sent there: every case fails before connecting


@pytest.mark.parametrize("bad", CONTROL, ids=repr)
def test_api_key_with_a_control_character_is_refused_without_echoing_it(bad: str) -> None:
    """ScribeClient(api_key=...) with CR, LF or any control character: ConfigError(api_key)."""
    with pytest.raises(ConfigError) as info:
        ScribeClient(SECRET + bad, base_url=UNUSED)
    assert info.value.option == "api_key"
    assert SECRET not in str(info.value)
    assert "control character" in str(info.value)


def test_api_key_from_the_environment_with_a_trailing_newline_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key read with its trailing newline from the environment fails before connecting."""
    monkeypatch.setenv("ELEVENLABS_API_KEY", SECRET + "\n")
    with pytest.raises(ConfigError, match="newline") as info:
        ScribeClient(base_url=UNUSED)
    assert info.value.option == "api_key"
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("bad", CONTROL, ids=repr)
def test_token_with_a_control_character_is_refused_before_connecting(bad: str) -> None:
    """connect(token=...) with a control character: ConfigError(token), nothing sent."""
    client = ScribeClient(base_url=UNUSED)
    with pytest.raises(ConfigError) as info:
        client.connect(token=SECRET + bad)
    assert info.value.option == "token"
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError) as info:
        client.connect(token=lambda: SECRET + bad)  # a minted token is checked too
    assert info.value.option == "token"


@pytest.mark.parametrize("bad", CONTROL, ids=repr)
def test_auth_headers_refuses_control_characters(bad: str) -> None:
    """The sans-I/O header builder refuses them as well, for callers that skip ScribeClient."""
    with pytest.raises(ConfigError) as info:
        protocol.auth_headers(SECRET + bad, None)
    assert info.value.option == "api_key"
    with pytest.raises(ConfigError) as info:
        protocol.auth_headers(None, SECRET + bad)
    assert info.value.option == "token"
    assert SECRET not in str(info.value)


def test_a_valid_key_still_gives_its_header() -> None:
    """A plain key passes and is sent as xi-api-key (no over-eager refusal)."""
    assert protocol.auth_headers(SECRET, None) == {"xi-api-key": SECRET}
    assert ScribeClient(SECRET, base_url=UNUSED).base_url == UNUSED


@pytest.mark.parametrize("url", BAD_PORTS)
def test_base_url_with_an_invalid_port_is_a_config_error(url: str) -> None:
    """A port out of 1-65535 or not a number: ConfigError(base_url), not a ValueError."""
    with pytest.raises(ConfigError, match="port") as info:
        ScribeClient(SECRET, base_url=url)
    assert info.value.option == "base_url"
    with pytest.raises(ConfigError, match="port") as info:
        protocol.build_url(url, protocol.SessionOptions())
    assert info.value.option == "base_url"


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "https://api.elevenlabs.io:65535/",
                                 "ws://[::1]:8080/base", "https://api.elevenlabs.io"])
def test_base_url_with_a_valid_port_is_accepted(url: str) -> None:
    """Ports 1-65535, IPv6 hosts and no port at all are accepted."""
    ScribeClient(SECRET, base_url=url)
    assert protocol.build_url(url, protocol.SessionOptions()).endswith(
        "/v1/speech-to-text/realtime?model_id=scribe_v2_realtime&audio_format=pcm_16000"
        "&commit_strategy=manual&include_timestamps=false"
    )


@pytest.mark.parametrize("url", ["http://", "http://:80", "ftp://example.com",
                                 "http://exa\r\nmple.com"])
def test_base_url_without_a_host_or_with_control_characters_is_refused(url: str) -> None:
    """No host, another scheme, or a control character: ConfigError(base_url)."""
    with pytest.raises(ConfigError) as info:
        ScribeClient(SECRET, base_url=url)
    assert info.value.option == "base_url"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("ELEVENLABS_API_KEY", "SCRIBE_SYNC_BASE_URL")}
    repo = str(Path(__file__).resolve().parent.parent)
    base["PYTHONPATH"] = repo + os.pathsep + base.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "scribe_sync.cli", *args], env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)


def test_cli_reports_a_bad_port_as_a_usage_error_in_one_line() -> None:
    """The CLI says what is wrong with --base-url and exits 2, not 1 (internal error)."""
    proc = _cli("token", "--base-url", "http://127.0.0.1:99999",
                env={"ELEVENLABS_API_KEY": SECRET})
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "--base-url" in proc.stderr and "port" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_reports_a_key_with_a_newline_without_printing_it() -> None:
    """A key with an embedded newline: the CLI's credential error, the key never printed."""
    proc = _cli("token", "--base-url", UNUSED, env={"ELEVENLABS_API_KEY": SECRET + "\nX: y"})
    assert proc.returncode == EXIT_AUTH, proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
