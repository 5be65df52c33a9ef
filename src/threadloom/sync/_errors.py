"""The exceptions and the warning category of threadloom.sync."""

from __future__ import annotations

from threadloom.sync._findings import Finding


class SyncError(Exception):
    """The root of every exception threadloom.sync raises: ``except SyncError`` catches
    :class:`LockOrderError`, :class:`DeadlockError` and :class:`UnguardedAccessError`.

    Each of them is also a ``RuntimeError``, as before, so existing handlers still work.
    """


class LockOrderWarning(RuntimeWarning):
    """Issued (in mode ``"warn"``) when an acquisition closes a cycle in the lock-order graph.

    The program has not deadlocked, but two code paths take the same locks in opposite
    orders, so it can. ``.finding`` holds the cycle with each edge's stack and thread.
    """

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.details)
        self.finding = finding


class LockOrderError(SyncError, RuntimeError):
    """Raised (in mode ``"raise"``) instead of an acquisition that would close a lock-order cycle.

    It is raised before the lock is taken, so the caller still holds exactly what it held.
    Fix the code so every path takes these locks in one order.
    """

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.details)
        self.finding = finding


class DeadlockError(SyncError, RuntimeError):
    """Raised in a thread that is about to block forever, instead of hanging.

    Either the threads form a cycle (each blocked on a lock the next one holds), or every
    thread of the process is blocked without a timeout. The message names every thread in
    the cycle, what it waits for, who holds it and where; ``.finding`` holds the same text.
    """

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.details)
        self.finding = finding


class UnguardedAccessError(SyncError, RuntimeError):
    """Raised when state declared as guarded by a lock is used without holding that lock."""
