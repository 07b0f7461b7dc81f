"""The README's mock-server example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_embedding_example_runs() -> None:
    """The 'In tests, embed it' example of the Mock server section runs."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Mock server") :]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    example = next(block for block in blocks if "MockServer(" in block)
    exec(compile(example, str(README), "exec"), {})
