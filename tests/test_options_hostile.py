"""Hostile client settings: every one is refused by ``ScribeClient(...)`` or ``connect()`` with a
:class:`ConfigError` naming it, before any thread or connection, never with a ``ValueError``,
``TypeError``, ``AttributeError`` or ``OverflowError`` from deeper down, now or mid-session.
"""

from __future__ import annotations

import math
import os
import pathlib
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scribe_sync
from mock_server import MockServer
from scribe_sync import ConfigError, ScribeClient, ServerError
from scribe_sync.audio import sample_path
from scribe_sync.reconnect import ReconnectPolicy

KEY = "hostile-key-0123456789"
SECRET = "pa55word-hostile"
REPO = pathlib.Path(__file__).resolve().parent.parent
DAY = 86400

#: The numeric settings of ScribeClient with the largest value documented for each; the ones
#: whose documentation gives None a meaning keep it legal.
CLIENT_NUMBERS = {
    "open_timeout": DAY, "close_timeout": DAY, "finish_timeout": DAY, "io_timeout": DAY,
    "keepalive_interval": DAY, "max_queue": 1_000_000_000, "max_message_size": 2**30,
}
NONE_LEGAL = {"keepalive_interval", "max_queue", "max_message_size"}
INTEGERS = {"max_queue", "max_message_size", "max_attempts"}
#: ReconnectPolicy's numbers and their documented largest values.
POLICY_NUMBERS = {
    "max_attempts": 300, "initial_delay": DAY, "max_delay": DAY, "multiplier": 10,
    "budget": DAY, "rate_limited_factor": 100, "buffer_seconds": DAY, "answer_timeout": DAY,
}
SESSION_NUMBERS = ("vad_silence_threshold_secs", "vad_threshold", "min_speech_duration_ms",
                   "min_silence_duration_ms")

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
NON_NUMBERS = st.one_of(
    st.booleans(), st.text(max_size=4), st.binary(max_size=4),
    st.sampled_from(["10", "5", "inf", "nan", [], {}, (1,), 1j, object()]),
)


def huge(high: float) -> st.SearchStrategy[Any]:
    """Numbers above ``high``: floats up to infinity and ints beyond the float range and
    beyond the interpreter's digit limit for ``repr``."""
    return st.one_of(
        st.floats(min_value=high, exclude_min=True),
        st.integers(min_value=int(high) + 1),
        st.sampled_from([1e300, 10**400, 10**5000]),
    )


def not_positive() -> st.SearchStrategy[Any]:
    return st.one_of(st.floats(max_value=0.0, allow_nan=False), st.integers(max_value=0))


def refused(option: str, call: Any) -> ConfigError:
    """The ConfigError ``call()`` raises, after checking it names ``option``."""
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.option == option
    assert option in str(info.value)
    return info.value


@pytest.fixture(scope="module")
def unreachable() -> Iterator[str]:
    """A base URL whose port is bound but not listening: a connect attempt there would be
    refused (a ConnectError), so a ConfigError proves nothing was attempted."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def threads_started_since(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in set(threading.enumerate()) - before if t.is_alive()]


# --- URLs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]:80", "https://[::1]:99999",
                                 "ws://[not-v6]/"])
def test_an_unparsable_base_url_is_a_config_error_naming_it(url: str) -> None:
    """An unclosed or non-IPv6 bracketed host fails ScribeClient() and connect() up front."""
    refused("base_url", lambda: ScribeClient(KEY, base_url=url))
    refused("base_url", lambda: scribe_sync.connect(api_key=KEY, base_url=url))


@pytest.mark.parametrize("url", [f"http://user:{SECRET}@127.0.0.1:1", "https://user@api.io",
                                 f"wss://:{SECRET}@h", f"http://u:{SECRET}@[::1"])
def test_a_base_url_with_a_user_or_password_is_refused_without_showing_it(url: str) -> None:
    """A password in base_url reached exception text ("could not connect to user:...@host");
    the service takes no user information, so base_url refuses any, masking the password."""
    for make in (lambda: ScribeClient(KEY, base_url=url),
                 lambda: scribe_sync.connect(api_key=KEY, base_url=url)):
        error = refused("base_url", make)
        assert SECRET not in str(error) and SECRET not in repr(error)


@pytest.mark.parametrize("proxy", [
    f"http://u:{SECRET}@[::1", f"http://u:{SECRET}@127.0.0.1:99999",
    f"http://u:{SECRET}@[zz]:3128", f"http://u:{SECRET}@127.0.0.1:0", f"socks5://u:{SECRET}@h:x",
    5, b"http://proxy:3128", ["http://proxy:3128"],
])
def test_a_bad_proxy_is_a_config_error_that_never_shows_its_password(
        proxy: Any, unreachable: str) -> None:
    error = refused("proxy", lambda: ScribeClient(KEY, base_url=unreachable, proxy=proxy))
    assert SECRET not in str(error)


def test_a_good_proxy_is_still_accepted(unreachable: str) -> None:
    ScribeClient(KEY, base_url=unreachable, proxy=f"http://u:{SECRET}@127.0.0.1:3128")
    ScribeClient(KEY, base_url=unreachable, proxy="socks5://[::1]:1080")


# --- client settings -----------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "value"), [
    ("open_timeout", "10"), ("open_timeout", None), ("keepalive_interval", "5"),
    ("max_queue", "x"), ("max_queue", 2.5), ("max_message_size", True), ("ca_file", 123),
    ("ca_file", b"/etc/ssl/cert.pem"), ("ca_file", ""), ("verify", "no"), ("verify", None),
    ("ssl_context", "context"),
])
def test_a_mistyped_client_setting_is_a_config_error_naming_it(
        option: str, value: Any, unreachable: str) -> None:
    refused(option, lambda: ScribeClient(KEY, base_url=unreachable, **{option: value}))


@given(data=st.data(), option=st.sampled_from(sorted(CLIENT_NUMBERS)))
def test_any_non_number_or_non_finite_client_number_is_a_config_error(
        data: st.DataObject, option: str) -> None:
    """Bools, strings, containers, NaN, ±inf, and None where None means nothing."""
    values = NON_FINITE | NON_NUMBERS
    if option not in NONE_LEGAL:
        values |= st.none()
    value = data.draw(values)
    refused(option, lambda: ScribeClient(KEY, base_url="http://127.0.0.1:9", **{option: value}))


@given(data=st.data(), option=st.sampled_from(sorted(CLIENT_NUMBERS)))
def test_any_client_number_out_of_its_documented_range_is_a_config_error(
        data: st.DataObject, option: str) -> None:
    value = data.draw(not_positive() | huge(CLIENT_NUMBERS[option]))
    refused(option, lambda: ScribeClient(KEY, base_url="http://127.0.0.1:9", **{option: value}))


def test_none_stays_legal_where_it_is_documented_and_the_bounds_are_accepted() -> None:
    ScribeClient(KEY, keepalive_interval=None, max_queue=None, max_message_size=None)
    ScribeClient(KEY, **CLIENT_NUMBERS)
    ScribeClient(KEY, ca_file=pathlib.Path("ca.pem"), verify=False)


@pytest.mark.parametrize("setting", [
    {"open_timeout": math.inf}, {"io_timeout": math.inf}, {"close_timeout": math.inf},
    {"finish_timeout": math.inf}, {"max_queue": math.nan}, {"keepalive_interval": 1e300},
])
def test_non_finite_settings_fail_before_any_thread_or_connection(
        setting: dict[str, float], scribe_mock: MockServer) -> None:
    """These used to connect, then fail with OverflowError or ValueError (close_timeout=inf
    on leaving the ``with`` block, leaving the reader thread running)."""
    [option] = setting
    before = set(threading.enumerate())
    refused(option, lambda: ScribeClient(KEY, base_url=scribe_mock.base_url, **setting))
    assert scribe_mock.sessions() == []
    assert threads_started_since(before) == []


def test_a_session_with_every_setting_at_its_largest_value_runs_and_closes(
        scribe_mock: MockServer) -> None:
    """The documented bounds are safe: nothing overflows when they reach the waits."""
    before = set(threading.enumerate())
    client = ScribeClient(KEY, base_url=scribe_mock.base_url, **CLIENT_NUMBERS)
    with client.connect(reconnect=ReconnectPolicy(**POLICY_NUMBERS)) as session:
        session.send_audio(bytes(3200))
        session.finish()
    assert session.closed
    assert len(scribe_mock.sessions()) == 1
    assert threads_started_since(before) == []


# --- connect(): reconnect policy and session options ---------------------------------------------

@given(data=st.data(), option=st.sampled_from(sorted(POLICY_NUMBERS)))
def test_a_hostile_reconnect_number_is_refused_before_connecting(
        data: st.DataObject, option: str, unreachable: str) -> None:
    """Values ReconnectPolicy itself lets through (infinities, huge, bools, a fractional
    max_attempts) are refused by connect(), by name, not with an OverflowError mid-session."""
    values = st.sampled_from([math.inf, True]) | huge(POLICY_NUMBERS[option])
    if option in INTEGERS:
        values |= st.floats(min_value=1.5, max_value=299.5).filter(lambda v: v != int(v))
    value = data.draw(values)
    client = ScribeClient(KEY, base_url=unreachable)

    def call() -> None:
        client.connect(reconnect=ReconnectPolicy(**{option: value}))

    refused(option, call)


@pytest.mark.parametrize("reconnect", ["yes", 1, 0.5, object()])
def test_reconnect_must_be_a_bool_none_or_a_policy(reconnect: Any, unreachable: str) -> None:
    client = ScribeClient(KEY, base_url=unreachable)
    refused("reconnect", lambda: client.connect(reconnect=reconnect))


@given(max_attempts=st.integers(1, 300), initial_delay=st.floats(1e-3, DAY),
       max_delay=st.floats(1e-3, DAY), multiplier=st.floats(1e-3, 10),
       rate_limited_factor=st.floats(1e-3, 100), jitter=st.floats(0, 0.999))
def test_every_delay_of_a_policy_within_the_bounds_is_a_valid_wait(**fields: Any) -> None:
    """The bounds that connect() enforces keep every delay finite and a valid timeout."""
    policy = ReconnectPolicy(**fields)
    limited = ServerError("slow down", error_type="rate_limited")
    for attempt in (1, policy.max_attempts // 2 + 1, policy.max_attempts):
        delay = policy.delay(attempt, limited, random.Random(attempt))
        assert 0 <= delay <= threading.TIMEOUT_MAX


@given(data=st.data(), option=st.sampled_from(SESSION_NUMBERS))
def test_a_hostile_session_number_is_refused_by_connect(
        data: st.DataObject, option: str, unreachable: str) -> None:
    value = data.draw(NON_FINITE | NON_NUMBERS | huge(2000) | not_positive())
    client = ScribeClient(KEY, base_url=unreachable)
    refused(option, lambda: client.connect(**{option: value}))


# --- the CLI -----------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]:80"])
def test_the_cli_reports_an_unparsable_base_url_in_one_line_with_exit_2(url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ELEVENLABS_API_KEY"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "scribe_sync.cli", "transcribe", str(sample_path()),
               "--api-key", KEY, "--base-url", url]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("scribe-sync: error: ")
    assert "base_url" in lines[0] or "--base-url" in lines[0]
