"""Lock and RLock: the standard semantics, plus owner tracking and deadlock detection.

Both wrap a real ``_thread`` lock.  The uncontended path is a non-blocking acquire of
that lock plus a few attribute stores; the graph work happens only when the thread
already holds a tracked lock and the pair has never been seen in this order, and the
wait-for checks only when the acquisition has to wait.
"""

from __future__ import annotations

import sys
from time import monotonic
from types import CodeType, TracebackType

from threadloom.sync import _order, _state, _waitfor
from threadloom.sync._config import settings
from threadloom.sync._state import ThreadState, WaitRecord, get_ident, local, new_state
from threadloom.sync._stats import LockStatistics, waiters_of

_getframe = sys._getframe
_TIMEOUT_MAX = __import__("_thread").TIMEOUT_MAX


def check_timeout(blocking: bool, timeout: float) -> None:
    """Reject the argument combinations the standard locks reject, with their exceptions."""
    if not blocking:
        raise ValueError("can't specify a timeout for a non-blocking call")
    if timeout < 0:
        raise ValueError("timeout value must be a non-negative number")
    if timeout > _TIMEOUT_MAX:
        raise OverflowError("timeout value is too large")


class _TrackedLock:
    """What Lock and RLock share: the real lock, owner, acquisition site, statistics."""

    __slots__ = (
        "__weakref__",
        "_acq_code",
        "_acq_lasti",
        "_contended",
        "_label",
        "_lock",
        "_node",
        "_owner",
        "_sites",
        "_waited",
        "_waiters",
    )

    _kind = "Lock"

    def __init__(self) -> None:
        self._lock = _state.allocate_lock()
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
        self._label = _order.new_label(self._kind, site)
        self._node = _order.node_for(self._kind, self._label, site)

    def _acquire_slow(self, state: ThreadState, timeout: float) -> bool:
        """Wait for the real lock; ``timeout`` -1 means forever (with deadlock checks)."""
        record = WaitRecord(state, self, timeout != -1, "acquiring")
        self._contended += 1
        self._sites = True
        self._waiters.append(record)
        state.waiting = record
        try:
            if timeout != -1:
                got = self._lock.acquire(True, timeout)
            else:
                _waitfor.wait_untimed(self._lock.acquire, record)
                got = True
        finally:
            state.waiting = None
            self._waiters.remove(record)
        if got:
            self._waited += monotonic() - record.since
        return got

    def _drop_from(self, state: ThreadState) -> None:
        held = state.held
        if held and held[-1] is self:
            held.pop()
        elif self in held:
            held.remove(self)

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
    - an acquisition that can never succeed raises :class:`DeadlockError`;
    - once released by a thread other than its acquirer, a Lock is treated as a signal
      rather than a mutex: it no longer names an owner in the wait-for graph.
    """

    __slots__ = ("_handoff",)

    def __init__(self) -> None:
        super().__init__()
        self._handoff = False

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the lock, as ``threading.Lock.acquire``; returns whether it was acquired."""
        if timeout != -1:
            check_timeout(blocking, timeout)
        try:
            state: ThreadState = local.state
        except AttributeError:
            state = new_state()
        held = state.held
        if held and blocking and timeout == -1 and settings.level:
            # Inlined: this loop runs on every nested acquisition.
            node = self._node
            if node is not None:
                for other in held:
                    other_node = other._node
                    if (
                        other_node is not None
                        and other_node is not node
                        and node not in other_node.succ
                    ):
                        _order.record(other_node, node)
        if not self._lock.acquire(False) and (
            not blocking or not self._acquire_slow(state, timeout)
        ):
            return False
        if self._sites:
            frame = _getframe(1)
            self._acq_code = frame.f_code
            self._acq_lasti = frame.f_lasti
        self._owner = state
        held.append(self)
        return True

    def __enter__(self) -> bool:
        # acquire(), specialised for ``with`` (blocking, no timeout): the hot path.
        try:
            state: ThreadState = local.state
        except AttributeError:
            state = new_state()
        held = state.held
        if held and settings.level:
            node = self._node
            if node is not None:
                for other in held:
                    other_node = other._node
                    if (
                        other_node is not None
                        and other_node is not node
                        and node not in other_node.succ
                    ):
                        _order.record(other_node, node)
        if not self._lock.acquire(False):
            self._acquire_slow(state, -1)
        if self._sites:
            frame = _getframe(1)
            self._acq_code = frame.f_code
            self._acq_lasti = frame.f_lasti
        self._owner = state
        held.append(self)
        return True

    def release(self) -> None:
        """Release the lock (from any thread); RuntimeError if it is not locked."""
        state = self._owner
        if state is not None:
            self._owner = None
            held = state.held
            if held and held[-1] is self:
                held.pop()
            elif self in held:
                held.remove(self)
            if state.ident != get_ident():
                self._handoff = True
        self._lock.release()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state = self._owner
        if state is not None:
            self._owner = None
            held = state.held
            if held and held[-1] is self:
                held.pop()
            elif self in held:
                held.remove(self)
        self._lock.release()

    def _wait_owner(self) -> ThreadState | None:
        return None if self._handoff else self._owner

    # The hooks threading.Condition looks for, so both Conditions work with this lock.
    def _is_owned(self) -> bool:
        return self._lock.locked()

    def _release_save(self) -> None:
        self.release()

    def _acquire_restore(self, saved: None) -> None:
        self.acquire()

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._owner = None
        self._waiters.clear()

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<{state} threadloom.sync.Lock object {self._repr_facts()} at {id(self):#x}>"


class RLock(_TrackedLock):
    """A drop-in ``threading.RLock`` that knows its owner and reports deadlocks.

    Re-entrant: the owner may acquire it again (re-entry records no lock-order edge and
    never blocks); only the owner may release it, as many times as it acquired it.
    """

    __slots__ = ("_count",)

    _kind = "RLock"

    def __init__(self) -> None:
        super().__init__()
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the lock, as ``threading.RLock.acquire``; returns whether it was acquired."""
        if timeout != -1:
            check_timeout(blocking, timeout)
        try:
            state: ThreadState = local.state
        except AttributeError:
            state = new_state()
        if self._owner is state:
            self._count += 1
            return True
        held = state.held
        if held and blocking and timeout == -1 and settings.level:
            # Inlined: this loop runs on every nested acquisition.
            node = self._node
            if node is not None:
                for other in held:
                    other_node = other._node
                    if (
                        other_node is not None
                        and other_node is not node
                        and node not in other_node.succ
                    ):
                        _order.record(other_node, node)
        if not self._lock.acquire(False) and (
            not blocking or not self._acquire_slow(state, timeout)
        ):
            return False
        if self._sites:
            frame = _getframe(1)
            self._acq_code = frame.f_code
            self._acq_lasti = frame.f_lasti
        self._owner = state
        self._count = 1
        held.append(self)
        return True

    def __enter__(self) -> bool:
        # acquire(), specialised for ``with`` (blocking, no timeout): the hot path.
        try:
            state: ThreadState = local.state
        except AttributeError:
            state = new_state()
        if self._owner is state:
            self._count += 1
            return True
        held = state.held
        if held and settings.level:
            node = self._node
            if node is not None:
                for other in held:
                    other_node = other._node
                    if (
                        other_node is not None
                        and other_node is not node
                        and node not in other_node.succ
                    ):
                        _order.record(other_node, node)
        if not self._lock.acquire(False):
            self._acquire_slow(state, -1)
        if self._sites:
            frame = _getframe(1)
            self._acq_code = frame.f_code
            self._acq_lasti = frame.f_lasti
        self._owner = state
        self._count = 1
        held.append(self)
        return True

    def release(self) -> None:
        """Release one level; RuntimeError unless the calling thread owns the lock."""
        try:
            state: ThreadState | None = local.state
        except AttributeError:
            state = None
        if state is None or self._owner is not state:
            raise RuntimeError("cannot release un-acquired lock")
        count = self._count - 1
        if count:
            self._count = count
            return
        self._count = 0
        self._owner = None
        held = state.held
        if held and held[-1] is self:
            held.pop()
        elif self in held:
            held.remove(self)
        self._lock.release()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # release(), inlined: ``with`` is the hot path.
        try:
            state: ThreadState | None = local.state
        except AttributeError:
            state = None
        if state is None or self._owner is not state:
            raise RuntimeError("cannot release un-acquired lock")
        count = self._count - 1
        if count:
            self._count = count
            return
        self._count = 0
        self._owner = None
        held = state.held
        if held and held[-1] is self:
            held.pop()
        elif self in held:
            held.remove(self)
        self._lock.release()

    def _is_owned(self) -> bool:
        return self._owner is not None and self._owner is _state.current_state()

    def _release_save(self) -> tuple[int, ThreadState]:
        state = self._owner
        if state is None or state is not _state.current_state():
            raise RuntimeError("cannot release un-acquired lock")
        count = self._count
        self._count = 0
        self._owner = None
        self._drop_from(state)
        self._lock.release()
        return (count, state)

    def _acquire_restore(self, saved: tuple[int, ThreadState]) -> None:
        self.acquire()
        self._count = saved[0]

    def _recursion_count(self) -> int:
        """How many times the calling thread holds the lock (0 if it does not own it)."""
        return self._count if self._is_owned() else 0

    def _count_held(self) -> int:
        return self._count

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._owner = None
        self._count = 0
        self._waiters.clear()

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return (
            f"<{state} threadloom.sync.RLock object count={self._count} "
            f"{self._repr_facts()} at {id(self):#x}>"
        )


def held() -> tuple[Lock | RLock, ...]:
    """The tracked locks the calling thread holds now, in the order it acquired them."""
    return tuple(_state.current_state().held)
