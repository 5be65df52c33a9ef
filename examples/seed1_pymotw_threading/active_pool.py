"""Seed 001 (PyMOTW ``threading_semaphore.py``): an ``ActivePool`` lists the workers inside
a ``Semaphore(2)``; four threads queue for the two slots.

Each thread that waits for the semaphore is a thread doing nothing, and the list of who
is inside is bookkeeping every program writes by hand. Here ``key="connections"`` with a
key limit of 2 keeps at most two tasks running: the others wait in the key's queue
without holding a worker. The ``ActivePool`` becomes a listener on the pool's task
events, which already carry the thread name.
"""

from __future__ import annotations

import logging
import time

from threadloom.core import Pool, TaskEvent
from threadloom.sync import Lock

log = logging.getLogger(__name__)


class ActivePool:
    """Keeps the names of the threads running a task of ``key``, from the pool's events."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.active: list[str] = []
        self.peak = 0
        self._lock = Lock()

    def __call__(self, event: TaskEvent) -> None:
        if event.key != self.key or event.kind not in ("start", "finish"):
            return
        with self._lock:
            if event.kind == "start":
                self.active.append(event.thread)
            else:
                self.active.remove(event.thread)
            self.peak = max(self.peak, len(self.active))
            log.debug("Running: %s", self.active)


def worker() -> None:
    time.sleep(0.02)  # stands for using one of the two connections


def main(workers: int = 4, limit: int = 2) -> dict[str, int]:
    active = ActivePool("connections")
    with Pool(workers, thread_name_prefix="worker") as pool:
        pool.subscribe(active)
        pool.set_key_limit("connections", limit)
        futures = [pool.submit_task(worker, key="connections") for _ in range(workers)]
        for future in futures:
            future.result()
    print(f"{len(futures)} workers, at most {active.peak} running at once (limit {limit})")
    return {"tasks": len(futures), "peak": active.peak, "left": len(active.active)}


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s (%(threadName)-9s) %(message)s")
    main()
