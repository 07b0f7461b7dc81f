"""No credential in what the mock keeps or logs, however the client spells or places it: the
access log masks percent-encoded parameter names, the journal redacts a session's known key and
token wherever they appear in stored frames and echoed errors."""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Iterator

import pytest
import websocket

from mock_server import MockServer

WAIT = 30.0  # generous bound on waiting for the mock to act; never a timing assertion


class _Lines(logging.Handler):
    """Collects formatted records; ``wait_for`` returns once one holds a text."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.lines.append(record.getMessage())
            self.changed.notify_all()

    def wait_for(self, text: str) -> str:
        with self.changed:
            assert self.changed.wait_for(
                lambda: any(text in line for line in self.lines), WAIT
            ), self.lines
            return next(line for line in self.lines if text in line)


@pytest.fixture
def access_log() -> Iterator[_Lines]:
    logger = logging.getLogger("mock_server.access")
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_the_access_log_masks_percent_encoded_parameter_names(access_log: _Lines) -> None:
    """``?%74oken=`` is ``token`` to the mock's query parser (the session starts with it), so
    the access log masks it too; likewise ``xi%5Fapi%5Fkey`` and ``API%2DKEY``."""
    with MockServer() as server:
        token = server.mint_token("k-test-1234")
        ws = websocket.create_connection(
            f"{server.ws_url}?model_id=scribe_v2_realtime&%74oken={token}", timeout=WAIT)
        try:
            assert '"session_started"' in ws.recv()
        finally:
            ws.close()
        line = access_log.wait_for("/v1/speech-to-text/realtime")
        url = f"{server.base_url}/_mock/health?xi%5Fapi%5Fkey=SECRETKEY1&API%2DKEY=SECRETKEY2&a=b"
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            assert response.status == 200
        health = access_log.wait_for("/_mock/health")
    assert token not in line
    assert "%74oken=<redacted>" in line
    assert "SECRETKEY" not in health
    assert "xi%5Fapi%5Fkey=<redacted>&API%2DKEY=<redacted>&a=b" in health
