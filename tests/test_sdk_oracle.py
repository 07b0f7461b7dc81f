"""The official ``elevenlabs`` 2.78.0 SDK as an oracle for URL building and handshake headers."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from elevenlabs.realtime.scribe import ScribeRealtime
from hypothesis import example, given
from hypothesis import strategies as st

from scribe_sync.errors import ConfigError
from scribe_sync.messages import AudioFormat, CommitStrategy
from scribe_sync.protocol import (
    SessionOptions,
    auth_headers,
    build_url,
    query_params,
    redact_url,
)
from tests import strategies as sst

hosts = st.sampled_from(
    ["api.elevenlabs.io", "api.eu.residency.elevenlabs.io", "127.0.0.1", "localhost", "[::1]"]
) | st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)
ports = st.none() | st.integers(1, 65535)
# Base paths as users write them: none, "/", nested segments, with or without a trailing slash,
# including characters that need no escaping and some that do.
segments = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_characters="/?#;\\", exclude_categories=["Cs", "Cc"]
    ),
    min_size=1,
    max_size=8,
)
base_paths = st.one_of(
    st.just(""),
    st.just("/"),
    st.lists(segments, min_size=1, max_size=3).map(lambda s: "/" + "/".join(s)),
    st.lists(segments, min_size=1, max_size=3).map(lambda s: "/" + "/".join(s) + "/"),
)


@st.composite
def base_urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "ws", "wss"]))
    port = draw(ports)
    host = draw(hosts) + ("" if port is None else f":{port}")
    # Not ending in whitespace: a base URL with spaces around it is refused as a paste error
    # (tests/test_cli_hostile_inputs.py), which the SDK would take as it is.
    path = draw(base_paths.filter(lambda path: path == path.rstrip()))
    return f"{scheme}://{host}{path}"


tokens = st.none() | st.just("sutkn_123") | st.text(min_size=1)


def sdk_kwargs(options: SessionOptions) -> dict[str, Any]:
    """Our options as the SDK's ``_build_websocket_url`` keyword arguments."""
    kwargs: dict[str, Any] = {}
    for name in (
        "vad_silence_threshold_secs",
        "vad_threshold",
        "min_speech_duration_ms",
        "min_silence_duration_ms",
        "language_code",
        "secondary_languages",
        "include_timestamps",
        "include_language_detection",
        "keyterms",
        "no_verbatim",
        "entity_detection",
        "entity_redaction",
        "entity_redaction_mode",
        "transcript_edit",
        "filter_background_audio",
        "enable_logging",
    ):
        value = getattr(options, name)
        kwargs[name] = list(value) if isinstance(value, tuple) else value
    return {
        "model_id": options.model_id,
        "audio_format": options.audio_format.value,
        "commit_strategy": options.commit_strategy.value,
        **kwargs,
    }


@given(base=base_urls(), options=sst.session_options(), token=tokens)
@example(base="https://api.elevenlabs.io", options=SessionOptions(), token=None)
@example(base="wss://api.elevenlabs.io", options=SessionOptions(), token="sutkn_123")
@example(
    base="http://localhost:8080/proxy/",
    options=SessionOptions(keyterms=["a b", "ü&="]),
    token="t/+=",
)
def test_build_url_equals_the_sdks(base: str, options: SessionOptions, token: str | None) -> None:
    """build_url() gives byte-for-byte the URL the official SDK builds for the same options."""
    expected = ScribeRealtime(api_key="k", base_url=base)._build_websocket_url(
        **sdk_kwargs(options), token=token
    )
    assert build_url(base, options, token=token) == expected


# Credentials without control characters: with CR or LF the SDK writes them raw into the
# upgrade request (header injection); we refuse them (tests/test_config_validation.py).
credentials = st.text(st.characters(blacklist_categories=("Cc",)), min_size=1)


@given(api_key=credentials, token=st.none() | credentials)
def test_auth_headers_equal_the_sdks(api_key: str, token: str | None) -> None:
    """auth_headers() matches the SDK's _connection_headers: a token means no key header."""
    expected = ScribeRealtime(api_key=api_key)._connection_headers({"token": token})  # type: ignore[typeddict-item]
    assert auth_headers(api_key, token) == expected
    if token is not None:
        assert auth_headers(None, token) == {}


def test_empty_api_key_is_refused_like_the_sdk() -> None:
    """An empty API key with no token is refused (the SDK raises ValueError; ours is one)."""
    with pytest.raises(ValueError, match="api_key"):
        ScribeRealtime(api_key="")._connection_headers({})
    with pytest.raises(ConfigError, match="api_key") as info:
        auth_headers("", None)
    assert info.value.option == "api_key"


def test_missing_credentials_are_refused() -> None:
    """No key and no token is a ConfigError naming the ways to authenticate."""
    with pytest.raises(ConfigError, match="token"):
        auth_headers(None, None)


def test_empty_token_is_refused() -> None:
    """An empty token is a ConfigError (the SDK would send it and the key both; see report)."""
    with pytest.raises(ConfigError) as info:
        auth_headers("sk_secret_123", "")
    assert info.value.option == "token"
    assert "sk_secret_123" not in str(info.value)


def test_url_for_a_typical_session_is_pinned() -> None:
    """A worked example: repeated keys, lowercase booleans, %20, fixed path, token last."""
    options = SessionOptions(
        commit_strategy="vad",
        vad_silence_threshold_secs=0.5,
        language_code="en",
        keyterms=["Eleven Labs", "Scribe"],
        include_language_detection=True,
        enable_logging=False,
    )
    assert build_url("https://api.elevenlabs.io", options, token="sutkn_1") == (
        "wss://api.elevenlabs.io/v1/speech-to-text/realtime?model_id=scribe_v2_realtime"
        "&audio_format=pcm_16000&commit_strategy=vad&vad_silence_threshold_secs=0.5"
        "&language_code=en&include_timestamps=false&include_language_detection=true"
        "&keyterms=Eleven%20Labs&keyterms=Scribe&enable_logging=false&token=sutkn_1"
    )


@given(sst.session_options())
def test_query_always_carries_the_four_sdk_defaults(options: SessionOptions) -> None:
    """model_id, audio_format, commit_strategy and include_timestamps are always sent, first."""
    params = query_params(options)
    assert [k for k, _ in params[:3]] == ["model_id", "audio_format", "commit_strategy"]
    assert ("include_timestamps", str(options.include_timestamps).lower()) in params
    assert all(v in ("true", "false") for k, v in params if k == "include_timestamps")
    assert AudioFormat(dict(params)["audio_format"]) is options.audio_format
    assert CommitStrategy(dict(params)["commit_strategy"]) is options.commit_strategy


@pytest.mark.parametrize("base", ["ftp://api.elevenlabs.io", "api.elevenlabs.io", "https://", ""])
def test_build_url_refuses_non_http_bases(base: str) -> None:
    """A base URL that is not http(s)/ws(s) with a host is a ConfigError naming base_url."""
    with pytest.raises(ConfigError) as info:
        build_url(base, SessionOptions())
    assert info.value.option == "base_url"


@given(base=base_urls(), options=sst.session_options(), token=st.text(min_size=1))
def test_redact_url_hides_the_token(base: str, options: SessionOptions, token: str) -> None:
    """redact_url() replaces the token's value and changes nothing else in the query."""
    url = build_url(base, options, token=token)
    redacted = redact_url(url)
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(redacted).query, keep_blank_values=True)
    assert query[-1] == ("token", "***")
    assert query[:-1] == query_params(options)
    assert redacted.startswith(url.split("?")[0] + "?")


@pytest.mark.parametrize("name", ["token", "TOKEN", "xi-api-key", "api_key"])
def test_redact_url_hides_any_secret_parameter(name: str) -> None:
    """Keys and tokens anywhere in a query are replaced, whatever their case."""
    url = f"wss://h/p?a=1&{name}=s3cret&b=2"
    assert redact_url(url) == f"wss://h/p?a=1&{name}=***&b=2"
