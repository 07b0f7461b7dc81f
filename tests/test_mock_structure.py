"""The mock's shape: imports go one way, no module reaches into another's privates, files stay
small, and a session's source of answers is pluggable."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from mock_server import MockServer
from mock_server.actions import Action, Close, Send
from mock_server.context import AnswerSource, SessionSetup
from mock_server.testing import Peer, chunk

PACKAGE = Path(__file__).resolve().parent.parent / "mock_server"
MAX_LINES = 400


def _imports() -> dict[str, set[str]]:
    """module -> the package modules it imports (relative imports, TYPE_CHECKING included)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(alias.name for alias in node.names)
        graph[path.stem] = deps
    return {name: {d for d in deps if d in graph} for name, deps in graph.items()}


def test_the_import_graph_has_no_cycle() -> None:
    """No chain of mock_server modules imports back into itself."""
    graph = _imports()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_module_touches_another_objects_privates() -> None:
    """``x._name`` appears only with ``self``/``cls`` (and dunders); private names are not
    imported from another module (private modules of the package may be)."""
    offences: list[str] = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                if node.attr.startswith("__") and node.attr.endswith("__"):
                    continue
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                offences.append(f"{path.name}:{node.lineno} .{node.attr}")
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                # (``from . import _module`` imports a module of the package: allowed.)
                offences.extend(
                    f"{path.name}:{node.lineno} import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                )
    assert offences == []


def test_no_file_is_over_the_size_limit() -> None:
    """Every module of the mock has at most MAX_LINES lines."""
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


class _Canned:
    """An answer source that says "canned" to every frame and closes on the third."""

    def __init__(self, setup: SessionSetup) -> None:
        self.setup = setup
        self.frames = 0
        self.closed = False
        self.stalled = False

    def start(self, now: float) -> Sequence[Action]:
        return [Send({"message_type": "session_started", "session_id": "canned", "config": {}})]

    def receive(self, data: str | bytes, now: float) -> Sequence[Action]:
        self.frames += 1
        if self.frames == 3:
            self.closed = True
            return [Close(1000, "")]
        return [Send({"message_type": "partial_transcript", "text": f"canned {self.frames}"})]

    def deadline(self) -> float | None:
        return None

    def tick(self, now: float) -> Sequence[Action]:
        return []


def test_a_session_takes_its_answers_from_the_context_source() -> None:
    """MockServer(sources=...) replaces the engine; the session driver executes its actions."""
    made: list[SessionSetup] = []

    def factory(setup: SessionSetup) -> AnswerSource:
        made.append(setup)
        return _Canned(setup)

    with MockServer(sources=factory) as server:
        with Peer(server) as peer:
            assert peer.recv_until("session_started")["session_id"] == "canned"
            peer.send(chunk(b"\0\0"))
            assert peer.recv_until("partial_transcript")["text"] == "canned 1"
            peer.send(chunk(b"\0\0"))
            assert peer.recv_until("partial_transcript")["text"] == "canned 2"
            peer.send(chunk(b"\0\0"))
        record = server.wait_idle()[-1]
    assert record.close_code == 1000
    assert [setup.index for setup in made] == [1]
    assert made[0].params.model_id == "scribe_v2_realtime"
    assert "test-key" not in repr(made[0])
