"""Lock and RLock: the standard semantics, plus owner tracking and deadlock detection.

Both wrap a real ``_thread`` lock.  The uncontended path is a non-blocking acquire of
that lock plus a few attribute loads and stores (the held chain of ``_state.HeldRef``:
no call, no allocation); the graph work happens only when the thread already holds a
tracked lock and the pair has never been seen in this order, and the wait-for checks
only when the acquisition has to wait.
"""

from __future__ import annotations

import _thread
import math
import operator
import sys
from time import monotonic
from types import CodeType, TracebackType
from typing import TypeVar, cast

from threadloom.sync import _order, _rules, _state, _waitfor
from threadloom.sync._config import settings
from threadloom.sync._order import check_order
from threadloom.sync._state import (
    HeldRef,
    ThreadState,
    WaitRecord,
    current_state,
    get_ident,
)
from threadloom.sync._stats import LockStatistics, waiters_of

_getframe = sys._getframe

#: ``timeout``'s default: no timeout.  Passing ``-1`` yields this very object (CPython
#: caches small ints), so the hot path tells the defaults apart with ``is``.
FOREVER = -1
# How the running interpreter's _thread locks read acquire's arguments: 3.11 parses
# ``blocking`` as a C int, 3.12 on as a truth value; the messages changed in 3.13.
_BLOCKING_IS_C_INT = sys.version_info < (3, 12)
if sys.version_info < (3, 13):
    _NEGATIVE = "timeout value must be positive"
    _TOO_LARGE = "timestamp too large to convert to C _PyTime_t"
else:
    _NEGATIVE = "timeout value must be a non-negative number"
    _TOO_LARGE = "timestamp too large to convert to C PyTime_t"
# acquire()'s arguments for a try without blocking, as a tuple made once (see _lock_acquire).
_NONBLOCKING = (False,)
_NS = 10**9
_INT64 = 2**63
_INT32 = 2**31
# _thread.TIMEOUT_MAX is the real bound floored to whole seconds.  On POSIX that bound
# is the end of the nanosecond range, which the conversion checks first, so only a
# platform with a smaller bound (Windows) can reach this check; there it is exact to
# within a second.
_TIMEOUT_MAX_NS = (int(_thread.TIMEOUT_MAX) + 1) * _NS - 1


def acquire_args(blocking: object, timeout: object) -> tuple[bool, float]:
    """``(blocking, timeout)`` read exactly as the running interpreter's locks read them.

    Returns ``blocking`` as a bool and the timeout as :data:`FOREVER` (no timeout: any
    value that is -1 s once rounded to nanoseconds, away from zero) or seconds >= 0.
    Raises what ``threading.Lock().acquire(blocking, timeout)`` raises, with the same
    message: TypeError for a ``blocking`` that is not an integer (3.11 only; 3.12 on
    take its truth value) and for a timeout that is neither a float nor an integer,
    OverflowError for values out of range, ValueError for a NaN, negative or
    non-blocking timeout.
    """
    flag = _c_int(blocking) != 0 if _BLOCKING_IS_C_INT else bool(blocking)
    ns = _timeout_ns(timeout)
    if ns == -_NS:
        return flag, FOREVER
    if not flag:
        raise ValueError("can't specify a timeout for a non-blocking call")
    if ns < 0:
        raise ValueError(_NEGATIVE)
    if ns > _TIMEOUT_MAX_NS:
        raise OverflowError("timeout value is too large")
    return True, ns / _NS


def _c_int(value: object) -> int:
    """``value`` read by the ``"i"`` argument format (a C int, via ``__index__``)."""
    number = operator.index(value)  # type: ignore[arg-type]
    if not -_INT64 <= number < _INT64:
        raise OverflowError("Python int too large to convert to C long")
    if number >= _INT32:
        raise OverflowError("signed integer is greater than maximum")
    if number < -_INT32:
        raise OverflowError("signed integer is less than minimum")
    return number


def _timeout_ns(timeout: object) -> int:
    """Seconds to nanoseconds as ``_PyTime_FromSecondsObject`` (rounding away from zero)."""
    if isinstance(timeout, float):
        if math.isnan(timeout):
            raise ValueError("Invalid value NaN (not a number)")
        scaled = timeout * 1e9
        if not -_INT64 <= scaled < _INT64:
            raise OverflowError("timestamp out of range for platform time_t")
        return math.ceil(scaled) if scaled >= 0 else math.floor(scaled)
    ns = operator.index(timeout) * _NS  # type: ignore[arg-type]
    if not -_INT64 <= ns < _INT64:
        raise OverflowError(_TOO_LARGE)
    return ns


class _TrackedLock:
    """What Lock and RLock share: the real lock, owner, acquisition site, statistics."""

    __slots__ = (
        "__weakref__",
        "_acq_code",
        "_acq_lasti",
        "_after",
        "_contended",
        "_label",
        "_lock",
        "_lock_acquire",
        "_node",
        "_owner",
        "_ref",
        "_site",
        "_sites",
        "_waited",
        "_waiters",
    )

    _kind = "Lock"
    # Only the owner can release it (see _state.Waitable): RLock; a Lock is not.
    _strict = True

    def __init__(self) -> None:
        self._lock = _state.allocate_lock()
        # Bound once and called with a prebuilt argument tuple (``*_NONBLOCKING``): the
        # C method then parses that tuple instead of a new one, ~0.1x threading.Lock
        # less per uncontended acquisition than ``self._lock.acquire(False)``.
        self._lock_acquire = self._lock.acquire
        self._owner: ThreadState | None = None
        self._acq_code: CodeType | None = None
        self._acq_lasti = 0
        # Acquisition sites cost a frame lookup per acquisition, so they are recorded
        # only once somebody has had to wait for this lock (or when configured always).
        self._sites = settings.sites
        self._waiters: list[WaitRecord] = []
        self._contended = 0
        self._waited = 0.0
        site = _state.creation_site()
        self._site = site
        self._label = _order.new_label(self._kind, site)
        self._node = _order.node_for(self._kind, self._label, site)
        # This lock's entry in its owner's held chain: made once, so acquiring allocates
        # nothing (replaced only when the old one is left behind as a tombstone).
        self._ref = HeldRef(self)
        # The entry of the one lock held when this one was last acquired with every edge
        # from it already in the graph (see _order.check_order): nothing to check then.
        self._after: HeldRef | None = None

    def _acquire_slow(self, state: ThreadState, timeout: float) -> bool:
        """Wait for the real lock; ``timeout`` -1 means forever (with deadlock checks)."""
        record = WaitRecord(state, self, timeout != -1, "acquiring")
        self._contended += 1
        self._sites = True
        self._waiters.append(record)
        # Not None when a signal handler runs this inside another wait of the thread.
        outer = state.waiting
        state.waiting = record
        try:
            if timeout != -1:
                got = self._lock.acquire(True, timeout)
            else:
                _waitfor.wait_untimed(self._lock.acquire, record)
                got = True
        finally:
            state.waiting = outer
            self._waiters.remove(record)
        if got:
            self._waited += monotonic() - record.since
        return got

    def _order_and_take(self, state: ThreadState, blocking: bool, timeout: float) -> bool:
        """acquire() past the argument checks and re-entry: lock order, then the lock."""
        top = state.top
        if top is not None and top.tomb:
            # Whatever the arguments: a hand-over-hand loop of timed or non-blocking
            # acquisitions would otherwise pile tombstones up under its top.
            _state.prune(state)
        if (
            top is not None
            and blocking
            and timeout == -1
            and (top is not self._after or top.prev is not None)
        ):
            node = self._node
            if node is not None and settings.level:
                self._after = check_order(state, node)
        if not self._lock_acquire(*_NONBLOCKING) and (
            not blocking or not self._acquire_slow(state, timeout)
        ):
            return False
        self._owner = state
        if self._sites:
            frame = _getframe(2)
            self._acq_code = frame.f_code
            self._acq_lasti = frame.f_lasti
        ref = self._ref
        ref.prev = state.top
        state.top = ref
        return True

    def _disown(self, state: ThreadState) -> None:
        """Forget the owner ``state`` and take the lock out of its held chain (the real
        lock is released by the caller, afterwards: a new owner must not be forgotten).

        Any thread may call it (a Lock released by another thread): it never edits the
        chain but at its top, with a test and a store no other thread can run between.
        """
        ref = self._ref
        if state.top is ref:
            state.top = ref.prev
        else:
            self._bury(ref)
        self._owner = None

    def _forget_owner(self) -> None:
        """Unlocked behind the owner's back (a fork): its entry, which may still be in
        the chain of the thread that forked, must never be pushed again."""
        if self._owner is not None:
            self._bury(self._ref)
        self._owner = None

    def _bury(self, ref: HeldRef) -> None:
        """Leave ``ref``, which is not innermost in its owner's chain, there as a
        tombstone (skipped, and unlinked once innermost) and give the lock a new entry:
        so no chain is edited in its middle, where its owner may be walking it."""
        ref.tomb = True
        self._ref = HeldRef(self)

    def locked(self) -> bool:
        """Whether any thread holds the lock."""
        return self._lock.locked()

    def acquired_at(self) -> str | None:
        """``file:line`` where the current owner acquired the lock, or None if unknown.

        Recorded for every acquisition once the lock has been contended, or always with
        ``configure(sites=True)``; None when unlocked.
        """
        if self._owner is None or self._acq_code is None:
            return None
        return _state.code_line(self._acq_code, self._acq_lasti)

    # The wait-for graph's view of this lock (see _state.Waitable).
    def _wait_owner(self) -> ThreadState | None:
        return self._owner

    def _describe(self) -> str:
        return self._label

    def _holder(self) -> str:
        return _waitfor.describe_owner(self._owner, self.acquired_at())

    def _wait_records(self) -> list[WaitRecord]:
        return self._waiters

    def _count_held(self) -> int:
        return 1 if self._owner is not None else 0

    def statistics(self) -> LockStatistics:
        """A frozen snapshot: owner, acquisition site, waiters, contention."""
        owner = self._owner
        return LockStatistics(
            label=self._label,
            locked=self._lock.locked(),
            owner=owner.name if owner is not None else None,
            owner_id=owner.ident if owner is not None else None,
            acquired_at=self.acquired_at(),
            count=self._count_held(),
            waiters=waiters_of(self._waiters),
            contended=self._contended,
            total_wait=self._waited,
        )

    def _repr_facts(self) -> str:
        owner = self._owner
        facts = []
        if owner is not None:
            facts.append(f"owner={owner.name!r} acquired_at={self.acquired_at()}")
        facts.append(f"waiters={len(self._waiters)} contended={self._contended}")
        facts.append(f"created_at={self._label.partition('(created at ')[2].rstrip(')')}")
        return " ".join(facts)


class Lock(_TrackedLock):
    """A drop-in ``threading.Lock`` that knows its owner and reports deadlocks.

    Semantics are exactly ``threading.Lock``'s: not re-entrant, and may be released by
    any thread.  Additionally:

    - a blocking acquisition without timeout while holding other tracked locks records
      lock-order edges and reports a cycle before blocking (see :func:`configure`);
      non-blocking and timed acquisitions add no edge (they cannot hang forever);
    - a wait without timeout that can never end raises :class:`DeadlockError`: because
      any thread may release a Lock, a wait-for cycle through one is a verdict only when
      every thread outside it is blocked too (see ``_waitfor``); re-acquiring a Lock its
      thread holds likewise;
    - once released by a thread other than its acquirer (or declared with
      :func:`ownerless`, or created where an ``ownerless`` rule says), a Lock is
      *ownerless* for good: a signal handed between threads rather than a mutex, it
      names no owner in the wait-for graph and takes no part in lock order.
    """

    __slots__ = ("_ownerless",)

    _strict = False

    def __init__(self) -> None:
        super().__init__()
        # Why the lock is ownerless ("" while it is a mutex).
        self._ownerless = ""
        filename, line, _internal = self._site
        rule = _rules.ownerless_at(filename, line)
        if rule is not None:
            self._make_ownerless(f"created where the rule {rule} applies")

    def _make_ownerless(self, why: str) -> None:
        if not self._ownerless:
            self._ownerless = why
            # No node: the order loops skip it, held or being acquired.
            self._node = None

    def acquire(self, blocking: bool = True, timeout: float = FOREVER) -> bool:
        """Acquire the lock, as ``threading.Lock.acquire``; returns whether it was acquired."""
        if (blocking is not True and blocking is not False) or timeout is not FOREVER:
            blocking, timeout = acquire_args(blocking, timeout)
        state = current_state()
        return self._order_and_take(state, blocking, timeout)

    def __enter__(self) -> bool:
        # acquire(), specialised for ``with`` (blocking, no timeout): the hot path.
        state = current_state()
        top = state.top
        # Nothing to check unless the thread holds a lock other than the one whose edge
        # to this lock is known (two loads and compares: the nested pair's steady state).
        if top is not None and (top is not self._after or top.prev is not None):
            if top.tomb:
                _state.prune(state)
            node = self._node
            if node is not None and settings.level:
                self._after = check_order(state, node)
        if not self._lock_acquire(*_NONBLOCKING):
            self._acquire_slow(state, -1)
        self._owner = state
        if self._sites:
            frame = _getframe(1)
            self._acq_code = frame.f_code
            self._acq_lasti = frame.f_lasti
        # The top read again, with no call before the push: any call above (the order
        # check's warning filters, the acquire, a wait's signal handlers) may have let
        # another thread release a lock of this chain (a Lock has no owner) and move it.
        ref = self._ref
        ref.prev = state.top
        state.top = ref
        return True

    def release(self) -> None:
        """Release the lock (from any thread); RuntimeError if it is not locked."""
        state = self._owner
        if state is not None:
            self._disown(state)
            if state.ident != get_ident():
                self._make_ownerless(
                    f"released by thread {_state.thread_name(get_ident())!r} after thread "
                    f"{state.name!r} acquired it"
                )
        self._lock.release()

    # release(), with _disown inlined: ``with`` is the hot path, and releases in the
    # acquiring thread, so there is no hand-off to notice.
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state = self._owner
        if state is not None:
            ref = self._ref
            if state.top is ref:
                state.top = ref.prev
            else:
                self._bury(ref)
            self._owner = None
        self._lock.release()

    def _wait_owner(self) -> ThreadState | None:
        return None if self._ownerless else self._owner

    def _holder(self) -> str:
        if self._ownerless:
            return f"ownerless ({self._ownerless})"
        return super()._holder()

    # The hooks threading.Condition looks for, so both Conditions work with this lock.
    def _is_owned(self) -> bool:
        return self._lock.locked()

    def _release_save(self) -> None:
        self.release()

    def _acquire_restore(self, saved: None) -> None:
        self.acquire()

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._forget_owner()
        self._waiters.clear()

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        facts = self._repr_facts() + (" ownerless" if self._ownerless else "")
        return f"<{state} threadloom.sync.Lock object {facts} at {id(self):#x}>"


class RLock(_TrackedLock):
    """A drop-in ``threading.RLock`` that knows its owner and reports deadlocks.

    Re-entrant: the owner may acquire it again (re-entry records no lock-order edge and
    never blocks); only the owner may release it, as many times as it acquired it.
    """

    __slots__ = ("_reentries",)

    _kind = "RLock"

    def __init__(self) -> None:
        super().__init__()
        # How many times the owner holds it beyond the first: 0 whenever it is not held,
        # so a first acquisition stores nothing and a last release just tests it.
        self._reentries = 0

    def acquire(self, blocking: bool = True, timeout: float = FOREVER) -> bool:
        """Acquire the lock, as ``threading.RLock.acquire``; returns whether it was acquired."""
        if (blocking is not True and blocking is not False) or timeout is not FOREVER:
            blocking, timeout = acquire_args(blocking, timeout)
        state = current_state()
        if self._owner is state:
            self._reentries += 1
            return True
        return self._order_and_take(state, blocking, timeout)

    def __enter__(self) -> bool:
        # acquire(), specialised for ``with`` (blocking, no timeout): the hot path.
        state = current_state()
        if self._owner is state:
            self._reentries += 1
            return True
        top = state.top
        # Nothing to check unless the thread holds a lock other than the one whose edge
        # to this lock is known (two loads and compares: the nested pair's steady state).
        if top is not None and (top is not self._after or top.prev is not None):
            if top.tomb:
                _state.prune(state)
            node = self._node
            if node is not None and settings.level:
                self._after = check_order(state, node)
        if not self._lock_acquire(*_NONBLOCKING):
            self._acquire_slow(state, -1)
        self._owner = state
        if self._sites:
            frame = _getframe(1)
            self._acq_code = frame.f_code
            self._acq_lasti = frame.f_lasti
        # The top read again, with no call before the push: any call above (the order
        # check's warning filters, the acquire, a wait's signal handlers) may have let
        # another thread release a lock of this chain (a Lock has no owner) and move it.
        ref = self._ref
        ref.prev = state.top
        state.top = ref
        return True

    def release(self) -> None:
        """Release one level; RuntimeError unless the calling thread owns the lock."""
        state = current_state()
        if self._owner is not state:
            raise RuntimeError("cannot release un-acquired lock")
        reentries = self._reentries
        if reentries:
            self._reentries = reentries - 1
            return
        self._release_all(state)

    def _release_all(self, state: ThreadState) -> None:
        """Give the lock up entirely (the owner, ``state``, is the caller)."""
        self._reentries = 0
        self._disown(state)
        self._lock.release()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # release(), with _release_all and _disown inlined: ``with`` is the hot path.
        state = current_state()
        if self._owner is not state:
            raise RuntimeError("cannot release un-acquired lock")
        reentries = self._reentries
        if reentries:
            self._reentries = reentries - 1
            return
        ref = self._ref
        if state.top is ref:
            state.top = ref.prev
        else:
            self._bury(ref)
        self._owner = None
        self._lock.release()

    def _is_owned(self) -> bool:
        return self._owner is not None and self._owner is _state.current_state()

    def _release_save(self) -> tuple[int, ThreadState]:
        state = self._owner
        if state is None or state is not _state.current_state():
            raise RuntimeError("cannot release un-acquired lock")
        reentries = self._reentries
        self._release_all(state)
        return (reentries, state)

    def _acquire_restore(self, saved: tuple[int, ThreadState]) -> None:
        self.acquire()
        self._reentries = saved[0]

    def _recursion_count(self) -> int:
        """How many times the calling thread holds the lock (0 if it does not own it)."""
        return self._reentries + 1 if self._is_owned() else 0

    def _count_held(self) -> int:
        return self._reentries + 1 if self._owner is not None else 0

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._forget_owner()
        self._reentries = 0
        self._waiters.clear()

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return (
            f"<{state} threadloom.sync.RLock object count={self._count_held()} "
            f"{self._repr_facts()} at {id(self):#x}>"
        )


def held() -> tuple[Lock | RLock, ...]:
    """The tracked locks the calling thread holds now, in the order it acquired them
    (locks dropped while held, and freed, are gone from it)."""
    locks = [ref() for ref in _state.held_entries(_state.current_state())]
    return tuple(cast("Lock | RLock", lock) for lock in reversed(locks) if lock is not None)


_L = TypeVar("_L")


def ownerless(lock: _L) -> _L:
    """Declare that ``lock`` is released by threads other than the one that acquired it.

    From then on (as after its first such release, which threadloom notices by itself
    but only once it happens) the Lock names no owner: no lock-order edge starts or ends
    at it and no wait-for chain goes through it, so a lock held on behalf of a group
    (the first reader takes it, the last reader releases it) is never taken for part of
    a deadlock. Reports describe it as ownerless. Returns ``lock``, so
    ``self._resource = ownerless(threading.Lock())`` reads well.

    A lock that is not threadloom's (``threading.Lock`` when not instrumented) is
    returned unchanged; an RLock raises TypeError, since only its owner may release it.
    """
    if isinstance(lock, RLock):
        raise TypeError("an RLock is always released by its owner; use a Lock")
    if isinstance(lock, Lock):
        lock._make_ownerless("declared with threadloom.sync.ownerless()")
    return lock
