"""Swapping threadloom's primitives into the ``threading`` module.

``threading.Lock`` & co. are looked up at call time by everything built on them
(``queue.Queue``, ``concurrent.futures``, ``logging`` handlers, threading's own Event
in ``Thread``), so replacing the module attributes instruments all of it.
``_thread.allocate_lock`` is left alone on purpose: threading uses it for its private
locks (thread state locks, Condition waiter locks), which are not program locks.
``Thread.join()`` without a timeout is wrapped so a thread waiting for another thread is
part of the wait-for graph.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadloom.sync import _state
from threadloom.sync._barrier import Barrier
from threadloom.sync._condition import Condition
from threadloom.sync._event import Event
from threadloom.sync._lock import Lock, RLock
from threadloom.sync._semaphore import BoundedSemaphore, Semaphore
from threadloom.sync._state import ThreadState, WaitRecord

_REPLACEMENTS: dict[str, object] = {
    "Lock": Lock,
    "RLock": RLock,
    "Condition": Condition,
    "Semaphore": Semaphore,
    "BoundedSemaphore": BoundedSemaphore,
    "Event": Event,
    "Barrier": Barrier,
}

_original_join = threading.Thread.join
_saved: dict[str, object] = {}
_depth = 0
_patch_lock = _state.allocate_lock()


class _JoinTarget:
    """A thread being joined, as a node of the wait-for graph: its owner is that thread."""

    __slots__ = ("_thread",)

    # Only the joined thread's own progress ends the wait: a cycle through it is certain.
    _strict = True
    _site: _state.Site = ("<join>", 0, True)

    def __init__(self, thread: threading.Thread) -> None:
        self._thread = thread

    def _wait_owner(self) -> ThreadState | None:
        ident = self._thread.ident
        if ident is None or not self._thread.is_alive():
            return None
        return _state.states.get(ident)

    def _describe(self) -> str:
        return f"thread {self._thread.name!r}"

    def _holder(self) -> str:
        return ""

    def _wait_records(self) -> list[WaitRecord]:
        return []


def _join(self: threading.Thread, timeout: float | None = None) -> None:
    if timeout is not None:
        _original_join(self, timeout)
        return
    state = _state.current_state()
    # Not None when a signal handler joins inside another wait of the thread.
    outer = state.waiting
    state.waiting = WaitRecord(state, _JoinTarget(self), False, "joining")
    try:
        _original_join(self)
    finally:
        state.waiting = outer


def instrument() -> None:
    """Replace threading's Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event and
    Barrier by threadloom's, and make ``Thread.join()`` visible to the deadlock detector.

    Affects primitives created afterwards. Calls nest: the originals come back after as
    many :func:`uninstrument` calls.
    """
    global _depth
    with _patch_lock:
        _depth += 1
        if _depth > 1:
            return
        for name, replacement in _REPLACEMENTS.items():
            _saved[name] = getattr(threading, name)
            setattr(threading, name, replacement)
        threading.Thread.join = _join  # type: ignore[method-assign]


def unreached_modules() -> list[str]:
    """Modules outside the standard library that bound one of threading's original
    primitives (``from threading import RLock``, ``Lock = threading.Lock``) before
    :func:`instrument`: the locks they create stay plain and unchecked.

    threadloom's own modules are left out: they choose their plain locks on purpose.
    Empty when not instrumented. Scans ``sys.modules`` once (a few milliseconds).
    """
    own = os.path.dirname(_state.PKG_DIR.rstrip(os.sep)) + os.sep
    with _patch_lock:
        originals = list(_saved.values())
    found = []
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str) or filename.startswith(own):
            continue
        if _state.is_stdlib(filename):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for value in list(namespace.values()):
            if any(value is original for original in originals):
                found.append(name)
                break
    return sorted(found)


def uninstrument() -> None:
    """Undo one :func:`instrument` (the last one restores threading's originals)."""
    global _depth
    with _patch_lock:
        if _depth == 0:
            return
        _depth -= 1
        if _depth:
            return
        for name, original in _saved.items():
            setattr(threading, name, original)
        _saved.clear()
        threading.Thread.join = _original_join  # type: ignore[method-assign]


@contextmanager
def instrumented() -> Iterator[None]:
    """``with instrumented():`` :func:`instrument` for the duration of the block."""
    instrument()
    try:
        yield
    finally:
        uninstrument()
