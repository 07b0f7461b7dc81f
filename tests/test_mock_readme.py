"""The mock's reference page (docs/mock-reference.md) names every scribe-mock option and runs
its embedding example; tests/test_doc_examples.py runs every block of the page, its
``scribe-mock`` commands included."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "mock-reference.md"


def test_reference_documents_the_mock_options() -> None:
    """Every scribe-mock option is named in the mock's reference page."""
    from mock_server.__main__ import build_parser

    text = REFERENCE.read_text(encoding="utf-8")
    options = [o for action in build_parser()._actions for o in action.option_strings
               if o.startswith("--") and o != "--help"]
    missing = [o for o in options if o not in text]
    assert missing == []
    servers = re.findall(r"^```sh\n(scribe-mock [^\n]*)\n```$", text, flags=re.M)
    assert len(servers) >= 2, servers
