"""The command line's help texts match what each command accepts, and the guide names only
options that exist."""

from __future__ import annotations

import argparse
import re

import pytest

from scribe_sync.cli import build_parser
from tests.docblocks import REPO

OPTION = re.compile(r"(?<![\w/.-])(--?[a-zA-Z][a-zA-Z0-9-]*)")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def accepted(parser: argparse.ArgumentParser) -> set[str]:
    """The option strings a parser takes, those whose help is suppressed included."""
    return {o for action in parser._actions for o in action.option_strings}


def shown(parser: argparse.ArgumentParser) -> set[str]:
    """The options its --help mentions anywhere: usage, option lines, descriptions, epilog
    (``-vv`` is ``-v`` twice)."""
    return {"-v" if re.fullmatch(r"-v+", o) else o for o in OPTION.findall(parser.format_help())}


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_help_shows_every_option_the_command_takes(name: str) -> None:
    """`scribe-sync NAME --help` lists every option NAME accepts."""
    parser = subcommands()[name]
    hidden = {o for action in parser._actions if action.help == argparse.SUPPRESS
              for o in action.option_strings}
    assert accepted(parser) - hidden - shown(parser) == set()


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_help_mentions_only_options_the_command_takes(name: str) -> None:
    """Every option that `scribe-sync NAME --help` mentions is one NAME accepts."""
    parser = subcommands()[name]
    assert shown(parser) - accepted(parser) == set()


def test_demo_help_says_it_always_runs_offline() -> None:
    """demo takes the connection options (shared by every command) but always uses its own
    embedded mock: its help says so rather than offering --base-url as if it applied."""
    text = " ".join(subcommands()["demo"].format_help().split())
    assert "always runs on its embedded mock" in text


def _documented_options() -> dict[str, set[str]]:
    """Each page's ``scribe-sync`` options: those on its command lines and those in its text
    next to a command's name, per page."""
    found: dict[str, set[str]] = {}
    for path in [REPO / "README.md", REPO / "docs" / "cli-reference.md",
                 REPO / "docs" / "getting-started.md", REPO / "docs" / "troubleshooting.md"]:
        text = path.read_text(encoding="utf-8")
        options: set[str] = set()
        for line in text.splitlines():
            if line.lstrip().startswith("scribe-sync "):
                options |= set(OPTION.findall(line.split("#", 1)[0]))
        # Inline code naming a flag: `--fast`, `--language-code en`, `-o FILE`.
        options |= {m.split()[0] for m in re.findall(r"`(--?[a-z][\w-]*(?: [^`]*)?)`", text)}
        found[path.name] = options
    return found


def test_the_guide_names_only_options_that_exist() -> None:
    """Every option the README and the CLI pages name is taken by some scribe-sync command or
    by scribe-mock (the pages mention both)."""
    from mock_server.__main__ import build_parser as mock_parser

    known = set().union(*(accepted(p) for p in subcommands().values()))
    known |= accepted(mock_parser()) | accepted(build_parser())
    unknown = {page: sorted(options - known) for page, options in _documented_options().items()}
    assert {page: options for page, options in unknown.items() if options} == {}


def test_every_command_has_a_help_line() -> None:
    """`scribe-sync --help` lists every command with a sentence."""
    text = build_parser().format_help()
    for name in subcommands():
        assert re.search(rf"^\s+{name}\s+\S", text, flags=re.MULTILINE), name
