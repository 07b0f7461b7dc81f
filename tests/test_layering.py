"""The repository's structure rules, checked from the source text (docs/architecture.md):

- imports go one way: no cycle in the import graph of ``scribe_sync`` or ``mock_server``, counting
  every import (module level, ``TYPE_CHECKING`` and the lazy ones inside functions alike: a lazy
  import that points back up is still a second way);
- every file has one job: none is over 400 lines;
- the code never cites a file outside the repository (the protocol reference is docs/protocol.md).
"""

from __future__ import annotations

import ast
import fnmatch
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("scribe_sync", "mock_server")
MAX_LINES = 400


def _modules(package: str) -> dict[str, pathlib.Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: pathlib.Path, known: dict[str, pathlib.Path]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports, wherever the import stands."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                # `from . import x` imports the submodule x when there is one, else a name that
                # the module (or package) `module` defines.
                sub = f"{module}.{alias.name}"
                targets.add(sub if sub in known else module)
    edges = set()
    for target in targets:
        # `import a.b.c` imports a.b.c itself; the packages above it are only loaded.
        if target in known and target != name:
            edges.add(target)
    return edges


def _graph(package: str) -> dict[str, set[str]]:
    known = _modules(package)
    return {name: _imports(name, path, known) for name, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_the_import_graph_has_no_cycle(package: str) -> None:
    """Imports go one way inside each package: no two modules reach each other."""
    assert _cycles(_graph(package)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above could fail: a two-module loop and a three-module loop are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": set()}
    assert sorted(_cycles(graph)) == [["a", "b"], ["c", "d", "e"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_file_is_over_400_lines(package: str) -> None:
    """Every file has one job: a file over 400 lines holds a concern with no owner."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in _modules(package).values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_code_cites_no_file_outside_the_repository() -> None:
    """Comments cite docs/protocol.md, the project's own reference, never notes kept elsewhere."""
    citing = []
    for folder in (*PACKAGES, "benchmarks", "tests", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == pathlib.Path(__file__).resolve():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                # A test asserting that a text does *not* cite them is no citation.
                if ("PROTOCOL.md" in line or "../shared" in line) and " not in " not in line:
                    citing.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert citing == []


# -- the layers table of docs/architecture.md ---------------------------------------------------

_FILE_TOKEN = re.compile(r"`([\w*]+\.py|\w+/)`")


def _layers() -> list[list[str]]:
    """The file patterns of each row of the "Layers" table, in the table's order."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines()
            if line.startswith("| ") and not line.startswith(("| layer", "|---"))]
    return [_FILE_TOKEN.findall(row.split(" | ")[1]) for row in rows]


def _layer_of(module: str, layers: list[list[str]]) -> list[int]:
    """The rows a module of scribe_sync is in (a package's modules by ``name/``)."""
    known = _modules("scribe_sync")
    relative = (known[module].relative_to(ROOT / "scribe_sync").as_posix() if module in known
                else module.replace(".", "/").removeprefix("scribe_sync/") + ".py")
    return [i for i, patterns in enumerate(layers)
            if any(relative.startswith(p) if p.endswith("/") else fnmatch.fnmatch(relative, p)
                   for p in patterns)]


def test_every_module_is_in_exactly_one_layer_of_the_architecture_page() -> None:
    layers = _layers()
    assert len(layers) >= 10, layers
    placed = {name: _layer_of(name, layers) for name in _modules("scribe_sync")}
    assert {name: rows for name, rows in placed.items() if len(rows) != 1} == {}


def test_imports_go_only_to_the_same_or_an_earlier_layer() -> None:
    """docs/architecture.md: a module imports only from its own layer and those before it."""
    layers = _layers()
    graph = _graph("scribe_sync")
    upward = sorted(
        f"{name} (layer {_layer_of(name, layers)[0]}) imports {target} "
        f"(layer {_layer_of(target, layers)[0]})"
        for name, targets in graph.items() for target in targets
        if _layer_of(target, layers)[0] > _layer_of(name, layers)[0]
    )
    assert upward == []


def test_the_layer_check_could_fail() -> None:
    """The table's reader places modules as the checks above assume."""
    layers = [["messages.py"], ["audio/", "_cli_*.py"]]
    assert _layer_of("scribe_sync.messages", layers) == [0]
    assert _layer_of("scribe_sync.audio._mic", layers) == [1]
    assert _layer_of("scribe_sync._cli_run", layers) == [1]
    assert _layer_of("scribe_sync.session", layers) == []
