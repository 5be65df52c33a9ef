"""Seed 000 (Python Notes 17.5): a ``BoundedSemaphore(10)`` guarding a resource of limited
capacity ("a network connection or a database server").

The note acquires and releases the semaphore by hand (an exception in between leaks a
slot for good), and every thread waiting for a slot is a thread doing nothing. Here the
limit is a key limit of the Pool: tasks with ``key="database"`` run at most ``limit`` at a
time, and the ones waiting hold no worker, so other work keeps flowing.
"""

from __future__ import annotations

import time

from threadloom.core import Pool
from threadloom.sync import Lock


class Meter:
    """Counts tasks using the resource now, and the most seen at once."""

    def __init__(self) -> None:
        self._lock = Lock()
        self.active = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.active -= 1


def query(n: int, meter: Meter) -> int:
    with meter:
        time.sleep(0.02)  # stands for a query on the database
    return n * n


def main(limit: int = 3, tasks: int = 24) -> dict[str, int]:
    """Run ``tasks`` queries on 8 workers, at most ``limit`` at once; return the peak."""
    meter = Meter()
    with Pool(8, thread_name_prefix="db") as pool:
        pool.set_key_limit("database", limit)
        futures = [pool.submit_task(query, (n, meter), key="database") for n in range(tasks)]
        total = sum(f.result() for f in futures)
    print(f"{tasks} queries, at most {meter.peak} at once (limit {limit}), total {total}")
    return {"peak": meter.peak, "total": total}


if __name__ == "__main__":
    main()
