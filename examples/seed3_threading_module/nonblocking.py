"""Seed 003 (Threading Module, "Nonblocking Locking"): ``lock.acquire(False)`` returns
False instead of waiting when the lock is taken.

A bare False says nothing about who holds the lock, and a retry loop around
``acquire(False)`` spins. threadloom's :class:`~threadloom.sync.Lock` behaves the same
and also names the owner in ``statistics()``; and ``acquire(timeout=...)`` waits a
bounded time instead of spinning.
"""

from __future__ import annotations

from threadloom.core import Pool
from threadloom.sync import Lock


def try_lock(lock: Lock) -> str:
    if lock.acquire(False):
        lock.release()
        return "got lock"
    return f"couldn't get lock (held by {lock.statistics().owner})"


def main() -> list[str]:
    lock = Lock()
    lines = []
    with Pool(1, thread_name_prefix="nonblocking") as pool:
        lock.acquire()
        lines.append(pool.submit(try_lock, lock).result())
        lines.append(f"with a timeout: {lock.acquire(timeout=0.01)}")
        lock.release()
        lines.append(pool.submit(try_lock, lock).result())
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
