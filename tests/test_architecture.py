"""The layout holds: no import cycles (function-level imports included), nothing imports upwards, only the
entry points import the simulator, and modules stay small. docs/architecture.md explains the rooms."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ksef_local"

# Rooms from the bottom up; a module may import only from its own rank or below (docs/architecture.md).
RANKS = [
    ("ksef_local", "ksef_local.version", "ksef_local.errors", "ksef_local.config", "ksef_local.clock",
     "ksef_local.formats", "ksef_local.disk"),
    ("ksef_local.core",),
    ("ksef_local.fa3", "ksef_local.ksef", "ksef_local.forms"),
    ("ksef_local.store",),
    ("ksef_local.services", "ksef_local.credentials"),
    ("ksef_local.sending", "ksef_local.printing", "ksef_local.accounting", "ksef_local.web", "ksef_local.simulator"),
    ("ksef_local.app", "ksef_local.cli", "ksef_local.desktop", "ksef_local.__main__"),
]
ENTRY_POINTS = ("ksef_local.cli", "ksef_local.desktop")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """Every ksef_local module this module imports, anywhere in it (also inside functions)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            # `from pkg import mod` imports the submodule; `from mod import name` imports mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def rank(name: str) -> int:
    for level, rooms in enumerate(RANKS):
        if any(name == room or name.startswith(room + ".") for room in rooms if room != "ksef_local") \
                or name in rooms:
            return level
    raise AssertionError(f"{name} is in no room of RANKS: add it to the table and to docs/architecture.md")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_there_are_no_import_cycles():
    assert cycles(GRAPH) == []


def test_every_module_has_a_room():
    for name in MODULES:
        rank(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_nothing_imports_upwards(name):
    upward = sorted(target for target in GRAPH[name] if rank(target) > rank(name))
    assert upward == [], f"{name} (rank {rank(name)}) imports from a higher room: {upward}"


def test_only_the_entry_points_import_the_simulator():
    importers = sorted(name for name, targets in GRAPH.items()
                       if not name.startswith("ksef_local.simulator")
                       and any(t == "ksef_local.simulator" or t.startswith("ksef_local.simulator.") for t in targets))
    assert importers and all(name.startswith(ENTRY_POINTS) for name in importers), importers


def test_only_the_store_holds_sql():
    """All SQL lives in store/ (the simulator keeps its own storage in simulator/store.py)."""
    holders = sorted(name for name, path in MODULES.items()
                     if not name.startswith(("ksef_local.store", "ksef_local.simulator"))
                     and any(word in path.read_text(encoding="utf-8") for word in ("db.execute(", "db.query(")))
    assert holders == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by responsibility"
