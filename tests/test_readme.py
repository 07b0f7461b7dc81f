"""The README's promises: short, every extra listed, the fresh-machine commands, live links.

Its code blocks run in tests/test_doc_examples.py, with the guide's (conventions in
tests/docblocks.py).
"""

from __future__ import annotations

import configparser
import pathlib
import re

from tests.docblocks import REPO, blocks_of

README_PATH = REPO / "README.md"
README = README_PATH.read_text(encoding="utf-8")


def blocks(language: str, text: str = README) -> list[str]:
    """The bodies of the fenced code blocks of one language, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def section(title: str, text: str = README) -> str:
    """The text of one ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text,
                      flags=re.MULTILINE | re.DOTALL)
    assert match, f"no '## {title}' section"
    return match.group(1)


def test_readme_is_short() -> None:
    """The README stays a README: at most about 200 lines; reference material is in docs/."""
    assert len(README.splitlines()) <= 200


def test_readme_lists_every_extra() -> None:
    """Every extra of setup.cfg is named in the install section, and the SDK's version."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg", encoding="utf-8")
    extras = list(config["options.extras_require"])
    install = section("Install")
    missing = [extra for extra in extras if f"`{extra}`" not in install]
    assert missing == []
    pinned = re.search(r"elevenlabs==([\d.]+)", config["options.extras_require"]["test"])
    assert pinned and f"**{pinned.group(1)}**" in install


def test_the_test_extra_holds_every_extra_but_ffmpeg() -> None:
    """The README says the ``test`` extra is all the others but ``ffmpeg``."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg", encoding="utf-8")
    extras = config["options.extras_require"]

    def names(extra: str) -> set[str]:
        return {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
                for line in extras[extra].splitlines()
                if line.strip() and not line.strip().startswith("#")}

    others = set().union(*(names(e) for e in extras if e not in ("test", "all", "ffmpeg")))
    assert others - names("test") == set()
    assert "imageio-ffmpeg" not in names("test")
    assert "all of the above but `ffmpeg`" in section("Install")


def test_first_example_needs_only_the_commands_above_it() -> None:
    """The first example starts the mock and exports both variables right above the code."""
    first = section("A first example, offline")
    (setup,) = blocks("sh", first)
    assert "scribe-mock --port 8765" in setup and setup.count("&") == 1
    assert "export SCRIBE_SYNC_BASE_URL=http://127.0.0.1:8765" in setup
    assert "ELEVENLABS_API_KEY=" in setup
    start = README.count("\n", 0, README.index(first)) + 1
    readme_blocks = [b for b in blocks_of(README_PATH) if b.line > start and
                     b.language == "python"]
    assert readme_blocks and readme_blocks[0].output, "the first example shows its output"


def test_readme_links_resolve() -> None:
    """Every relative link of the README names a file of the repository."""
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (REPO / target).exists(), target


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    """.ci/run runs exactly the test command of the README's 'On a fresh machine' section."""
    fresh = blocks("sh", section("On a fresh machine"))
    test_commands = [line for block in fresh for line in block.splitlines() if "pytest" in line]
    assert len(test_commands) == 1, fresh
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    marker = next(i for i, line in enumerate(ci)
                  if "The line below is the README's test command" in line)
    assert ci[marker + 1] == test_commands[0]


def test_fresh_machine_starts_with_the_main_job() -> None:
    """The first command on a fresh machine installs the package and runs scribe-sync demo."""
    first = blocks("sh", section("On a fresh machine"))[0].splitlines()[0]
    assert first.startswith("pip install")
    assert first.endswith("scribe-sync demo")


def test_readme_shows_the_main_commands() -> None:
    """The README shows the CLI's main commands and the mock's, which the harness runs."""
    commands = "\n".join(blocks("sh"))
    for needed in ("scribe-sync demo", "scribe-sync transcribe", "https://",
                   "scribe-sync listen", "scribe-sync token", "scribe-mock --port"):
        assert needed in commands, needed


def test_readme_cites_nothing_outside_the_repository() -> None:
    """No pointer to notes users never see (the protocol is docs/protocol.md)."""
    assert "PROTOCOL.md" not in README and "../shared" not in README
    assert "closing notes" not in README
    assert pathlib.Path(REPO / "docs" / "protocol.md").exists()
