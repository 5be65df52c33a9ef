"""Per-thread bookkeeping shared by every instrumented primitive.

A thread's :class:`ThreadState` chains the locks it holds (innermost first, see
:class:`HeldRef`) and names the wait it is blocked in, if any.  Locks point at their
owner's state, and a state points at the primitive it waits for, so the wait-for graph
is followed without any global table on the hot path; ``states`` (ident -> state)
exists only for the watchdog and the "every thread is stuck" check.
"""

from __future__ import annotations

import _thread
import functools
import gc
import os
import sys
import threading
import weakref
from collections.abc import Callable
from time import monotonic
from types import CodeType, FrameType
from typing import Protocol, cast

from threadloom.sync._graph import Node

get_ident = _thread.get_ident
allocate_lock = _thread.allocate_lock

# How long lock_graph() waits before looking at what the graph lock's holder does.
_GRAPH_SLICE = 0.05

# Frames from these files are skipped when deciding "where" something happened.
PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The standard library directory: primitives created by stdlib code (threading's own
# Event in Thread.__init__, queue.Queue's mutex, logging's module lock, Future's
# Condition) are instrumented but stay out of the lock-order graph, so the standard
# library's internal and deliberately unordered locking never shows up as a finding.
_STDLIB_DIR = os.path.dirname(os.path.abspath(threading.__file__)) + os.sep

# Guards every mutation of the lock-order graph and every wait-for check, so that two
# threads closing the same cycle at the same moment cannot both be chosen as victim.
# Taken only through lock_graph()/unlock_graph(), by a thread whose state is busy.
graph_lock = allocate_lock()
# (state, its wait at the time) of the thread holding graph_lock, while one does.
_graph_holder: tuple[ThreadState, WaitRecord | None] | None = None


Site = tuple[str, int, bool]
"""(file, line, internal) where a primitive was created; internal means stdlib code."""


class Waitable(Protocol):
    """What a wait record may point at: anything that can name its owner.

    ``_strict`` is True when only the owner can end a wait on the object (an RLock, a
    thread being joined): a wait-for cycle made of such waits is a certain deadlock.  A
    plain Lock may be released by any thread, so a cycle through one is certain only
    when no thread outside it can still run (see ``_waitfor``).
    """

    _strict: bool
    _site: Site

    def _wait_owner(self) -> ThreadState | None:
        """The thread whose progress alone can end a wait on this object, if known."""
        ...  # pragma: no cover

    def _describe(self) -> str:
        """A short human label, e.g. ``Lock#3 (created at app.py:12)``."""
        ...  # pragma: no cover

    def _holder(self) -> str:
        """``held by 'T1' (acquired at app.py:40)``, or "" for primitives without owner."""
        ...  # pragma: no cover

    def _wait_records(self) -> list[WaitRecord]:
        """The waits currently blocked on this primitive."""
        ...  # pragma: no cover


class Unowned:
    """The :class:`Waitable` view of primitives nobody owns (Condition, Event, Semaphore,
    Barrier): they name no owner, so their waits end no wait-for chain, and the
    watchdog lists them with their waiters."""

    _strict = False
    _label: str
    _records: list[WaitRecord]
    _site: Site

    def _wait_owner(self) -> ThreadState | None:
        return None

    def _describe(self) -> str:
        return self._label

    def _holder(self) -> str:
        return ""

    def _wait_records(self) -> list[WaitRecord]:
        return self._records


class Held(Protocol):
    """What a thread's held chain refers to: a tracked lock and its lock-order node."""

    @property
    def _node(self) -> Node | None: ...  # pragma: no cover


class HeldRef(weakref.ref["Held"]):
    """A lock's entry in its owner's held chain: a weak reference plus the link below it.

    Each lock makes one at creation and pushes that same object whenever it is acquired
    afresh (``prev`` = the owner's innermost entry, then the owner's ``top`` = it), so an
    acquisition allocates nothing and a release innermost-first is one compare and one
    store; a list would cost two method calls, and the chain is what the uncontended
    path could afford (bench_sync.py).  The reference is weak, so a lock dropped while
    held is freed; its dead entry is skipped.

    Why no chain is ever edited in its middle: only the owner pushes, and any thread may
    unlink the innermost entry (a Lock released by another thread, a ``with`` block in a
    generator resumed elsewhere) with a test and a store that no other thread can run
    between (no call between them: the interpreter switches threads only at calls and
    loop ends); for the same reason the owner reads ``top`` for a push with no call
    between that read and the push's two stores (another thread may have unlinked the
    top during any call before).  A lock released while it is not its owner's innermost
    entry leaves its entry in the chain as a *tombstone* (``tomb``: skipped by every walk,
    unlinked once it is innermost, by any acquisition) and makes itself a new one.
    """

    __slots__ = ("prev", "tomb")

    def __init__(self, lock: Held) -> None:
        # weakref.ref.__new__ has made the reference; its __init__ only checks arguments.
        self.prev: HeldRef | None = None
        self.tomb = False


class WaitRecord:
    """One thread blocked in one primitive: set when the wait starts, cleared when it ends."""

    __slots__ = ("kind", "since", "target", "thread", "timed")

    def __init__(self, thread: ThreadState, target: Waitable, timed: bool, kind: str) -> None:
        self.thread = thread
        self.target = target
        self.timed = timed
        self.kind = kind
        self.since = monotonic()


class ThreadState:
    """What one thread holds and waits for.

    ``busy`` is True while the thread runs the detectors' bookkeeping (a lock-order
    record, a wait-for check).  A garbage-collected object's ``__del__`` or a signal
    handler may run in the middle of it, on the same thread, and take locks; those
    nested acquisitions see ``busy`` and skip the bookkeeping (no lock-order edge, no
    wait-for check) instead of waiting for the graph lock their own thread holds.
    """

    __slots__ = ("__weakref__", "busy", "ident", "top", "waiting")

    def __init__(self, ident: int) -> None:
        self.ident = ident
        # The innermost entry of the chain of held locks (see HeldRef), None when the
        # thread holds no tracked lock.
        self.top: HeldRef | None = None
        self.waiting: WaitRecord | None = None
        self.busy = False

    @property
    def name(self) -> str:
        return thread_name(self.ident)


# ident -> state of every thread that ever touched an instrumented primitive.  A new
# thread that reuses an ident replaces the dead thread's entry.
states: dict[int, ThreadState] = {}
# Idents of threadloom's own service threads (the watchdog): never counted as a thread
# that could still make progress when deciding that every thread is stuck.
service_idents: set[int] = set()

local = _thread._local()
_fork_hook_registered = False

current_state: Callable[[], ThreadState]
"""The calling thread's state, created on first use: the first thing every uncontended
acquisition does (see _cstate.c for what it costs)."""
_remember: Callable[[ThreadState], None]


def _current_from_local() -> ThreadState:
    try:
        state: ThreadState = local.state
    except AttributeError:
        return new_state()
    return state


def new_state() -> ThreadState:
    """Create and register the calling thread's state (first use of a primitive)."""
    global _fork_hook_registered
    if not _fork_hook_registered and hasattr(os, "register_at_fork"):
        # Registered on first use rather than at import: importing stays side-effect free.
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_registered = True
    ident = get_ident()
    state = ThreadState(ident)
    _remember(state)
    states[ident] = state
    return state


try:
    from threadloom.sync._cstate import current as _c_current
    from threadloom.sync._cstate import set as _c_set
    from threadloom.sync._cstate import set_factory as _c_set_factory
except ImportError:  # built without a C compiler: a threading.local, slower
    current_state = _current_from_local
    _remember = functools.partial(setattr, local, "state")
else:
    current_state = cast("Callable[[], ThreadState]", _c_current)
    _remember = _c_set
    _c_set_factory(new_state)


def held_entries(state: ThreadState) -> list[HeldRef]:
    """``state``'s held chain, innermost first, tombstones left out (dead entries kept)."""
    entries = []
    entry = state.top
    while entry is not None:
        if not entry.tomb:
            entries.append(entry)
        entry = entry.prev
    return entries


def prune(state: ThreadState) -> None:
    """Unlink the tombstones and dead entries at the top of ``state``'s chain (the
    calling thread's own): each unlink is a test and a store, atomic as HeldRef says."""
    while True:
        top = state.top
        if top is None or not (top.tomb or top() is None):
            return
        if state.top is top:
            state.top = top.prev


def lock_graph(state: ThreadState) -> bool:
    """Take the graph lock for ``state``'s thread (which is busy); False: skip the work.

    The holder may be stuck through no fault of the detectors: a ``__del__`` or signal
    handler run inside its bookkeeping can block on a program lock, and the owner of
    that lock may itself be here, waiting for the graph lock.  ``threading`` would not
    deadlock there, so a thread that waited a slice while the holder is blocked in
    such a nested wait gives up, and its caller skips the bookkeeping.
    """
    global _graph_holder
    while not graph_lock.acquire(True, _GRAPH_SLICE):
        holder = _graph_holder
        if holder is not None:
            holder_state, entry_wait = holder
            # A wait other than the one it was in when it took the lock: a nested one.
            waiting = holder_state.waiting
            if waiting is not None and waiting is not entry_wait:
                return False
    _graph_holder = (state, state.waiting)
    return True


def unlock_graph() -> None:
    """Release the graph lock taken by :func:`lock_graph`."""
    global _graph_holder
    _graph_holder = None
    graph_lock.release()


def thread_name(ident: int) -> str:
    """The name of a thread without creating a dummy Thread object for foreign threads."""
    thread = threading._active.get(ident)  # type: ignore[attr-defined]
    if isinstance(thread, threading.Thread):
        return thread.name
    return f"thread-{ident}"


# CPython 3.11 and older: a garbage collection inside sys._current_frames() (which
# holds the interpreter's thread list lock while it allocates) can run a finalizer that
# gives up the GIL, and a thread that then takes the GIL and wants that lock (a thread
# starting or ending) deadlocks the process (CPython gh-106883, gh-116969; seen with
# Dask's profiler). The fix proposed for CPython, done here: no collection during the
# call. 3.12 and later collect only between bytecodes.
_FRAMES_NEED_NO_GC = sys.version_info < (3, 12)
# One caller at a time turns the collector off and back on: a second one seeing it off
# would skip its own protection and could call after the first turned it on again.
# Reentrant: a signal handler may call in while its thread holds it.
_frames_lock = _thread.RLock()


def thread_frames() -> dict[int, FrameType]:
    """``sys._current_frames()``, without its deadlock on CPython 3.11 and older (the
    collector is off during the call there, and on again after it if it was on)."""
    if not _FRAMES_NEED_NO_GC:
        return sys._current_frames()
    with _frames_lock:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return sys._current_frames()
        finally:
            if enabled:
                gc.enable()


def caller_frame(depth: int = 1) -> FrameType | None:
    """The innermost frame outside this package, starting ``depth`` frames up."""
    try:
        frame: FrameType | None = sys._getframe(depth + 1)
    except ValueError:
        return None
    while frame is not None and frame.f_code.co_filename.startswith(PKG_DIR):
        frame = frame.f_back
    return frame


def creation_site() -> Site:
    """(file, line, internal) of the code creating a primitive; internal means stdlib."""
    frame = caller_frame(2)
    if frame is None:
        return ("<unknown>", 0, True)
    filename = frame.f_code.co_filename
    return (filename, frame.f_lineno, is_stdlib(filename))


def is_stdlib(filename: str) -> bool:
    """Whether ``filename`` is the standard library's (frozen modules included)."""
    return filename.startswith("<frozen") or (
        filename.startswith(_STDLIB_DIR) and "site-packages" not in filename
    )


def code_line(code: CodeType | None, lasti: int) -> str:
    """``file:line`` of a bytecode offset, computed only when somebody asks."""
    if code is None:
        return "<unknown>"
    line = code.co_firstlineno
    for start, end, lineno in code.co_lines():
        if start <= lasti < end and lineno is not None:
            line = lineno
            break
    return f"{short_path(code.co_filename)}:{line}"


def short_path(filename: str) -> str:
    """A file name relative to the working directory when that is shorter."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return relative if len(relative) < len(filename) else filename


def _after_fork_in_child() -> None:
    # Only the forking thread survives a fork: forget the others, and replace the graph
    # lock, which another thread may have held at the moment of the fork.
    global graph_lock, _graph_holder
    graph_lock = allocate_lock()
    _graph_holder = None
    me = get_ident()
    for ident in list(states):
        if ident != me:
            del states[ident]
    service_idents.clear()
