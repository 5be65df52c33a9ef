"""Seed 001 (PyMOTW ``threading_lock_with.py``): one worker takes the lock with ``with``,
the other with ``acquire()`` / ``try`` / ``finally`` / ``release()``.

Both are correct; the second is the one that goes wrong when someone edits it. With
threadloom's drop-in :class:`~threadloom.sync.Lock` the ``with`` form also lets you ask,
while inside, which locks this thread holds (:func:`~threadloom.sync.held`) and who owns
the lock (``statistics().owner``), which is what you need when a program hangs.
"""

from __future__ import annotations

import logging
import threading

from threadloom.core import Pool
from threadloom.sync import Lock, held

log = logging.getLogger(__name__)


def worker_with(lock: Lock) -> str:
    with lock:
        log.debug("Lock acquired via with")
        mine = lock.statistics().owner == threading.current_thread().name
        return f"with: holds {len(held())} lock(s), owner is this thread: {mine}"


def worker_no_with(lock: Lock) -> str:
    if not lock.acquire(timeout=5):
        raise TimeoutError("lock not acquired within 5 s")
    try:
        log.debug("Lock acquired directly")
        mine = lock.statistics().owner == threading.current_thread().name
        return f"acquire: holds {len(held())} lock(s), owner is this thread: {mine}"
    finally:
        lock.release()


def main() -> list[str]:
    lock = Lock()
    with Pool(2, thread_name_prefix="lock") as pool:
        lines = [
            pool.submit(worker_with, lock).result(),
            pool.submit(worker_no_with, lock).result(),
        ]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format="(%(threadName)-10s) %(message)s")
    main()
