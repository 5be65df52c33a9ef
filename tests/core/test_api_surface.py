"""The public API of threadloom.core: one root exception, names that cannot be confused,
and a core whose modules import each other in one direction only."""

from __future__ import annotations

import ast
import threading
from concurrent.futures import BrokenExecutor
from concurrent.futures.thread import BrokenThreadPool
from pathlib import Path

import threadloom
from threadloom import core
from threadloom.core import (
    BrokenPool,
    CoreError,
    Pool,
    PoolFull,
    RetryLater,
    TaskCancelled,
    TimerHandle,
    cancel_requested,
)

SRC = Path(core.__file__).resolve().parents[1]  # src/threadloom


def test_every_core_exception_has_one_root_and_keeps_its_standard_base() -> None:
    for exc in (PoolFull, BrokenPool, TaskCancelled, RetryLater):
        assert issubclass(exc, CoreError), exc
    assert issubclass(PoolFull, RuntimeError)
    assert issubclass(BrokenPool, BrokenThreadPool)
    assert issubclass(BrokenPool, BrokenExecutor)
    exported = [getattr(core, name) for name in core.__all__]
    own = [x for x in exported if isinstance(x, type) and issubclass(x, BaseException)]
    assert own
    assert all(issubclass(x, CoreError) for x in own)


def test_earlier_names_are_aliases_of_the_new_ones() -> None:
    assert core.cancelled is cancel_requested
    assert core.Timer is TimerHandle
    assert threadloom.cancel_requested is cancel_requested
    with Pool(1) as pool:
        handle = pool.after(3600, print)
        assert isinstance(handle, TimerHandle)
        assert not issubclass(type(handle), threading.Timer)
        handle.cancel()


def test_the_top_level_holds_no_helper_of_sibling_packages() -> None:
    for name in (
        "LeanFuture",
        "span_tracks",
        "IDLE",
        "Timer",
        "EventKind",
        "Listener",
        "KeyGate",
        "Scheduler",
    ):
        assert name not in threadloom.__all__, name
        assert name not in core.__all__, name
        assert hasattr(core, name), name  # still importable where threadloom needs it


def _imports(path: Path, package: str, modules: set[str]) -> set[str]:
    """The threadloom modules ``path`` imports, TYPE_CHECKING blocks included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & modules


def _cycles(root: Path, skip: tuple[str, ...]) -> list[list[str]]:
    files = {}
    for path in root.rglob("*.py"):
        parts = ("threadloom", *path.relative_to(root).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not name.startswith(skip):
            files[name] = path
    modules = set(files)
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = _imports(path, package, modules) - {name}
    # Tarjan's strongly connected components: a component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles_even_behind_type_checking() -> None:
    assert _cycles(SRC, skip=()) == []
