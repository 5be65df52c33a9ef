"""The wait-for graph: catching real deadlocks instead of hanging.

A thread that blocks without a timeout publishes a :class:`WaitRecord` (what it waits
for); a lock knows its owner; so "T1 waits for L1, held by T2, which waits for L2, held
by T1" is a walk through a handful of attributes.  The walk runs under the graph lock:

- before blocking, so the thread that closes a cycle raises :class:`DeadlockError`
  instead of blocking;
- and again after every wait slice (``settings.slice``), because an owner may publish
  its wait later than we did, or a cycle may go through primitives without an owner.

The certainty rule: a wrong verdict stops a correct program, so a verdict is given only
when the wait can never end. A cycle whose every wait is on a primitive only its owner
can release (an RLock, a Condition's RLock, a thread being joined) is certain at once.
A plain Lock may be released by any thread ("a Lock is not owned by a particular
thread"), and code does that on purpose (a lock held on behalf of a group of readers),
so a cycle through a Lock is certain only when no thread outside it could release it:
when every other live thread is blocked without a timeout too, in the same waits for
``_STABLE`` seconds (the "every thread is stuck" check below). Anything less is a
suspicion: the watchdog reports it with stacks after its threshold, and the program
goes on.

The second check also catches the deadlocks that have no cycle of owners: when every
thread of the process is blocked without a timeout in an instrumented primitive, and at
least one of them waits for a lock someone holds (a self-deadlock on a Lock, a notifier
blocked on a lock its waiter holds), for longer than ``_STABLE`` seconds, nothing can
ever wake them.  Threads threadloom does not see (sleeping, in I/O, in C code) count
as able to make progress, so this check cannot fire on a program that is merely slow.

Signal handlers: Python runs them in the main thread, also while it is blocked in a
wait, and a handler may set an event, notify a condition or release a semaphore, so
end a wait on a primitive without owner.  So when the main thread is among the blocked
threads and any signal has a Python-level handler other than
:func:`signal.default_int_handler`, a set of waits in which some wait is on a primitive
without owner is not "every thread blocked forever".  Waits on owned primitives (locks,
joins) are judged as before, cycles through the main thread included: a handler is not
assumed to release a lock the code it interrupted holds, nor to raise out of the wait
(an abort, like the KeyboardInterrupt of the default SIGINT handler or a test timeout's
handler, not the program making progress), so those deadlocks are still reported.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Callable
from time import monotonic
from types import FrameType

from threadloom.sync import _state
from threadloom.sync._config import settings
from threadloom.sync._errors import DeadlockError
from threadloom.sync._findings import Finding, publish
from threadloom.sync._state import ThreadState, WaitRecord

# How long the set of blocked threads must stay unchanged before "everyone is stuck"
# becomes a verdict: rules out a snapshot taken while some thread was being woken.
_STABLE = 0.25
_STACK_LIMIT = 12

# (the wait records seen stuck last time, when that set was first seen)
_snapshot: tuple[frozenset[WaitRecord], float] = (frozenset(), 0.0)


def wait_untimed(acquire: Callable[[bool, float], bool], record: WaitRecord) -> None:
    """Block in ``acquire(True, slice)`` until it succeeds, checking for deadlock in between.

    Raises :class:`DeadlockError` (before blocking at all, if the cycle is already closed)
    when the wait could never end.
    """
    if not settings.deadlocks:
        acquire(True, -1)
        return
    check(record, periodic=False)
    while not acquire(True, settings.slice):
        if settings.deadlocks:
            check(record, periodic=True)


def check(record: WaitRecord, *, periodic: bool) -> None:
    """Raise :class:`DeadlockError` if the wait described by ``record`` can never end.

    Does nothing for a wait that starts inside the detectors' own bookkeeping (a
    ``__del__`` or signal handler run by it: see :class:`_state.ThreadState`), or while
    the graph lock's holder is blocked in such a wait: those waits are not checked.
    """
    state = record.thread
    if state.busy:
        return
    state.busy = True
    try:
        verdict = _verdict(record, periodic)
    finally:
        state.busy = False
    if verdict is None:
        return
    finding = _finding(*verdict)
    publish(finding)
    raise DeadlockError(finding)


def _verdict(record: WaitRecord, periodic: bool) -> tuple[list[WaitRecord], bool] | None:
    """(the waits that can never end, whether it is every thread), or None; takes the
    graph lock, and on a verdict takes ``record`` out of the graph before releasing it."""
    if not _state.lock_graph(record.thread):
        return None
    try:
        chain, certain = _cycle(record)
        everyone = False
        if chain is not None and not certain:
            # Through a Lock: a verdict only once no thread outside could release it.
            if not periodic or _all_stuck(record) is None:
                return None
        elif chain is None and periodic:
            chain = _all_stuck(record)
            everyone = chain is not None
        if chain is None:
            return None
        # Leave the graph now, under the lock: the other members of the cycle must not
        # also pick themselves as victims of the deadlock this thread is ending.
        record.thread.waiting = None
        return chain, everyone
    finally:
        _state.unlock_graph()


def _cycle(record: WaitRecord) -> tuple[list[WaitRecord] | None, bool]:
    """The chain of waits from ``record`` back to its own thread, if it is a cycle, and
    whether it is certain by itself (every wait on a primitive only its owner releases)."""
    me = record.thread
    chain = [record]
    seen = {me}
    current = record
    certain = True
    while True:
        target = current.target
        owner = target._wait_owner()
        if owner is None:
            return None, False
        certain = certain and target._strict
        if owner is me:
            # A Lock this thread holds itself may still be released by another thread
            # (a Lock used as a signal): that case is left to the all-stuck check.
            return (chain, certain) if len(chain) > 1 else (None, False)
        if owner in seen:
            # A cycle that does not include us: one of its members reports it.
            return None, False
        waiting = owner.waiting
        if waiting is None or waiting.timed:
            return None, False
        chain.append(waiting)
        seen.add(owner)
        current = waiting


def suspected_cycle(record: WaitRecord) -> str:
    """The wait-for cycle ``record`` is part of, as text, or "" (for the watchdog).

    Read without the graph lock: a report, not a verdict, so a chain that changes while
    it is followed at worst names a cycle that has just broken up.
    """
    chain, _certain = _cycle(record)
    if chain is None:
        return ""
    return " -> ".join(
        f"{wait.thread.name!r} ({wait.kind} {wait.target._describe()})" for wait in chain
    )


def _all_stuck(record: WaitRecord) -> list[WaitRecord] | None:
    """Every thread's untimed wait, ``record``'s first, if they have all been stuck a while."""
    global _snapshot
    waits: list[WaitRecord] = []
    owned = unowned = False
    for ident in _state.thread_frames():
        if ident in _state.service_idents:
            continue
        state = _state.states.get(ident)
        waiting = state.waiting if state is not None else None
        if waiting is None or waiting.timed:
            _snapshot = (frozenset(), 0.0)
            return None
        waits.append(waiting)
        if waiting.target._wait_owner() is None:
            unowned = True
        else:
            owned = True
    if not owned:
        # Only unowned primitives (events, conditions, queues): a signal handler, another
        # process or a timer thread about to start may still set them.
        return None
    if unowned and _main_thread_may_wake(waits):
        return None
    now = monotonic()
    seen = frozenset(waits)
    if seen != _snapshot[0]:
        _snapshot = (seen, now)
        return None
    if now - _snapshot[1] < _STABLE:
        return None
    _snapshot = (frozenset(), 0.0)
    waits.sort(key=lambda wait: wait is not record)
    return waits


def _main_thread_may_wake(waits: list[WaitRecord]) -> bool:
    """Whether the main thread is among ``waits`` and has a Python signal handler to run."""
    main = threading.main_thread().ident
    if not any(wait.thread.ident == main for wait in waits):
        return False
    for signum in signal.valid_signals():
        handler = signal.getsignal(signum)
        # SIG_DFL and SIG_IGN are not callable; None is a handler set outside Python.
        if callable(handler) and handler is not signal.default_int_handler:
            return True
    return False


def _finding(chain: list[WaitRecord], everyone: bool) -> Finding:
    me = chain[0].thread
    frames = _state.thread_frames()
    now = monotonic()
    certain = all(wait.target._strict for wait in chain)
    if everyone:
        summary = (
            f"deadlock: every thread is blocked forever; thread {me.name!r} gives up "
            f"{chain[0].kind} {chain[0].target._describe()}"
        )
    else:
        summary = (
            f"deadlock: thread {me.name!r} would block forever {chain[0].kind} "
            f"{chain[0].target._describe()} (a cycle of {len(chain)} threads)"
        )
    lines = [summary]
    if not everyone and not certain:
        lines.append(
            "  (a cycle through a Lock, which any thread may release: every other thread "
            f"has been blocked too for {_STABLE} s, so nothing can release it)"
        )
    for wait in chain:
        holder = wait.target._holder()
        lines.append(
            f"  thread {wait.thread.name!r} is {wait.kind} {wait.target._describe()}"
            f" since {now - wait.since:.2f} s" + (f", {holder}" if holder else "")
        )
    files: dict[str, None] = {}
    for wait in chain:
        frame = frames.get(wait.thread.ident)
        lines.append(f"  stack of thread {wait.thread.name!r}:")
        lines.extend("    " + line for line in format_stack(frame))
        # The code that waits: the innermost frame outside threadloom.
        while frame is not None and frame.f_code.co_filename.startswith(_state.PKG_DIR):
            frame = frame.f_back
        if frame is not None:
            files[frame.f_code.co_filename] = None
    lines.append(
        "  Fix: take locks in one global order, never wait on a condition while holding "
        "another lock, and do not re-acquire a Lock you hold (use RLock)."
    )
    sites = tuple(dict.fromkeys(wait.target._site[:2] for wait in chain))
    return Finding("deadlock", summary, "\n".join(lines), me.name, sites, tuple(files))


def format_stack(frame: FrameType | None) -> list[str]:
    """The lines of a stack (innermost last), without threadloom's own frames at the top."""
    while frame is not None and frame.f_code.co_filename.startswith(_state.PKG_DIR):
        frame = frame.f_back
    if frame is None:
        return ["<no stack available>"]
    text = "".join(traceback.format_list(traceback.extract_stack(frame, limit=_STACK_LIMIT)))
    return text.rstrip("\n").splitlines()


def describe_owner(owner: ThreadState | None, site: str | None) -> str:
    """``held by 'worker-1' (acquired at app.py:40)``."""
    if owner is None:
        return ""
    where = f" (acquired at {site})" if site else ""
    return f"held by {owner.name!r}{where}"
