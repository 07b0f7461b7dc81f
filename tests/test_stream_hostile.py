"""Session.stream against bad arguments and sources that fail midway."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mock_server import MockServer
from mock_server.testing import silence
from scribe_sync import ConfigError, ConnectionClosedError, ScribeClient

KEY = "stream-hostile-key"


@pytest.mark.parametrize("bad", ["x", True, float("nan"), float("inf"), 0.5, b"20"])
def test_a_bad_commit_every_is_a_config_error_before_anything_is_sent(bad: object) -> None:
    with MockServer() as server:
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        try:
            with pytest.raises(ConfigError, match=r"commit_every.*at least 1, or None") as info:
                session.stream(iter([silence(0.1)]), speed=None,
                               commit_every=bad)  # type: ignore[arg-type]
            assert info.value.option == "commit_every"
            assert session.stats.audio_seconds_sent == 0
        finally:
            session.close()
        assert server.wait_idle()[0].received("input_audio_chunk") == []


def test_a_source_bug_is_chained_and_logged_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    """A source's own exception is the cause of the ConnectionClosedError iterators raise,
    and the log holds one line for it, no traceback."""
    bug = KeyError("the source's own bug")

    def broken() -> Iterator[bytes]:
        yield silence(0.1)
        raise bug

    with MockServer() as server, caplog.at_level(logging.DEBUG, logger="scribe_sync"):
        session = ScribeClient(KEY, base_url=server.base_url).connect()
        handle = session.stream(broken(), speed=None)
        with pytest.raises(ConnectionClosedError, match="streaming failed") as info:
            list(session)
        assert handle.join(5)
    assert handle.error is bug
    causes = []
    error: BaseException | None = info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__
    assert bug in causes
    failed = [r for r in caplog.records
              if r.levelno >= logging.WARNING and "streaming failed" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].exc_info is None and "\n" not in failed[0].getMessage()
