"""The lock-order graph (lockdep style).

Each tracked lock maps to a :class:`Node` (one per lock, or one per creation site in
``key="site"`` mode).  Acquiring B, blocking and without a timeout, while holding A adds
the edge A -> B, remembered with the stack and thread that first took it.  An edge that
closes a cycle means two code paths take the same locks in opposite orders: a deadlock
waiting for the wrong interleaving.  It is reported before the acquisition blocks.

The hot path only asks ``node in held_node.succ`` (one dict lookup per held lock);
everything here runs once per new edge.
"""

from __future__ import annotations

import itertools
import traceback
import warnings
from collections import deque

from threadloom.sync import _state
from threadloom.sync._config import settings
from threadloom.sync._errors import LockOrderError, LockOrderWarning
from threadloom.sync._findings import Finding, publish
from threadloom.sync._graph import Edge, Node

_STACK_LIMIT = 12


_numbers = itertools.count(1)
_site_nodes: dict[tuple[str, int, str], Node] = {}


def check_order(state: _state.ThreadState, node: Node) -> _state.HeldRef | None:
    """Record held -> ``node`` for every lock ``state``'s thread holds (not yet seen in
    that order), reporting a cycle; the caller is acquiring the lock of ``node``.

    Called only when the thread holds something and lock order is on: a thread that
    holds nothing never gets here, so the uncontended path stays one test.
    Returns the one held lock's entry when the thread holds exactly one lock and its
    edge to ``node`` is now in the graph (edges are never removed): the caller
    remembers it and skips the call while it holds just that lock again, which is what
    a nested pair does on every round. None otherwise.
    """
    _state.prune(state)
    complete = True
    for ref in _state.held_entries(state):
        other = ref()
        if other is None:
            complete = False
            continue  # dropped while held, and freed: it can no longer be in a cycle
        other_node = other._node
        if other_node is not None and other_node is not node and node not in other_node.succ:
            record(state, other_node, node)
            # Not added when the thread was busy or the graph lock's holder stuck.
            complete = complete and node in other_node.succ
    top = state.top
    return top if complete and top is not None and top.prev is None else None


def new_label(kind: str, site: _state.Site) -> str:
    """``Lock#3 (created at app.py:12)``: how reports name a primitive."""
    filename, line, _internal = site
    return f"{kind}#{next(_numbers)} (created at {_state.short_path(filename)}:{line})"


def node_for(kind: str, label: str, site: _state.Site) -> Node | None:
    """The graph node of a new lock; None for locks created by the standard library."""
    filename, line, internal = site
    if internal:
        return None
    if settings.key == "site":
        key = (filename, line, kind)
        node = _site_nodes.get(key)
        if node is None:
            # setdefault is atomic (the key hashes in C), so two threads creating the
            # first locks of a site share one node without taking the graph lock.
            node = _site_nodes.setdefault(
                key,
                Node(f"{kind}s created at {_state.short_path(filename)}:{line}", (filename, line)),
            )
        return node
    return Node(label, (filename, line))


def _path(start: Node, goal: Node) -> list[Edge] | None:
    """Edges of a shortest path start ~> goal, or None (breadth-first; graph lock held)."""
    previous: dict[Node, tuple[Node, Edge]] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        if node is goal:
            path: list[Edge] = []
            while node is not start:
                node, edge = previous[node]
                path.append(edge)
            path.reverse()
            return path
        for succ, edge in node.succ.items():
            if succ not in seen:
                seen.add(succ)
                previous[succ] = (node, edge)
                queue.append(succ)
    return None


def record(state: _state.ThreadState, src: Node, dst: Node) -> None:
    """Add src -> dst (dst is being acquired while src is held); report a closed cycle.

    ``state`` is the calling thread's.  In mode ``"raise"`` the edge is not added and
    :class:`LockOrderError` is raised, so the caller's acquisition does not happen; in
    mode ``"warn"`` the edge is added and a :class:`LockOrderWarning` issued once.

    Nothing is recorded (and nothing reported) when the thread is already busy in the
    detectors' bookkeeping, i.e. for an acquisition made by a ``__del__`` or a signal
    handler that runs inside it: such acquisitions are not checked for lock order.
    Nor when another thread holds the graph lock while blocked in such a nested
    acquisition (see :func:`_state.lock_graph`).
    """
    if state.busy:
        return
    raising = settings.level >= 2
    state.busy = True
    try:
        path = _add_edge(state, src, dst, raising)
    finally:
        state.busy = False
    if path is None:
        return
    edge, cycle = path
    finding = _finding([edge, *cycle], edge.thread)
    if not publish(finding):
        # Suppressed: neither warned nor raised. In mode "raise" the edge was left out;
        # add it now, so the same acquisition is not checked (and recorded) again.
        if raising:
            state.busy = True
            try:
                if _state.lock_graph(state):
                    try:
                        src.succ.setdefault(dst, edge)
                    finally:
                        _state.unlock_graph()
            finally:
                state.busy = False
        return
    if raising:
        raise LockOrderError(finding)
    # stacklevel: warn <- record <- acquire <- the caller's frame
    warnings.warn(LockOrderWarning(finding), stacklevel=3)


def _add_edge(
    state: _state.ThreadState, src: Node, dst: Node, raising: bool
) -> tuple[Edge, list[Edge]] | None:
    """Add src -> dst unless ``raising`` and it closes a cycle; (edge, path back) if it does.

    The caller has made ``state`` busy: a ``__del__`` or signal handler run by the
    allocations below skips its own bookkeeping instead of taking the graph lock again.
    """
    frame = _state.caller_frame(1)
    stack = "".join(traceback.format_list(traceback.extract_stack(frame, limit=_STACK_LIMIT)))
    edge = Edge(src.label, dst.label, _state.thread_name(state.ident), stack, (src.site, dst.site))
    if not _state.lock_graph(state):
        return None
    try:
        if dst in src.succ:
            return None
        path = _path(dst, src)
        if path is None or not raising:
            src.succ[dst] = edge
    finally:
        _state.unlock_graph()
    return None if path is None else (edge, path)


def _finding(cycle: list[Edge], thread: str) -> Finding:
    first = cycle[0]
    names = " -> ".join([edge.src for edge in cycle] + [first.src])
    summary = (
        f"lock-order inversion: thread {thread!r} acquires {first.dst} while holding "
        f"{first.src}, but the opposite order was seen before"
    )
    lines = [summary, f"  cycle: {names}"]
    for edge in cycle:
        lines.append(f"  {edge.src} -> {edge.dst}: first taken by thread {edge.thread!r} at")
        lines.extend("    " + line for line in edge.stack.rstrip("\n").splitlines())
    lines.append(
        "  Fix: take these locks in one global order everywhere (or release one before "
        "taking the other)."
    )
    # The code that took each lock: the innermost frame of each edge's stack.
    files = tuple(
        dict.fromkeys(
            [line for line in edge.stack.splitlines() if line.startswith('  File "')][-1].split(
                '"'
            )[1]
            for edge in cycle
            if '  File "' in edge.stack
        )
    )
    sites = tuple(dict.fromkeys(site for edge in cycle for site in edge.sites))
    return Finding("lock-order", summary, "\n".join(lines), thread, sites, files)
