"""Seed 001 (PyMOTW ``threading_lock.py``): a ``Counter`` whose ``increment`` takes a lock,
and workers that sleep a random time between increments.

The counter is correct only as long as every access remembers the lock; reading
``counter.value`` outside it (as the seed's last line does) goes unnoticed. Here
``value`` is declared :func:`~threadloom.sync.guarded_by` the lock: any read or write
without holding it raises :class:`~threadloom.sync.UnguardedAccessError`, and the
workers are Pool tasks, joined by the ``with`` block instead of ``enumerate()``.
"""

from __future__ import annotations

import logging
import random
import time

from threadloom.core import Pool
from threadloom.sync import Lock, guarded_by

log = logging.getLogger(__name__)


class Counter:
    value = guarded_by[int]("lock")

    def __init__(self, start: int = 0) -> None:
        self.lock = Lock()
        self.value = start  # the first assignment initialises, unchecked

    def increment(self) -> int:
        log.debug("Waiting for lock")
        with self.lock:
            log.debug("Acquired lock")
            self.value += 1
            return self.value

    def read(self) -> int:
        with self.lock:
            return self.value


def worker(counter: Counter, increments: int) -> None:
    for _ in range(increments):
        time.sleep(random.random() / 100)  # stands for other work
        counter.increment()
    log.debug("Done")


def main(workers: int = 2, increments: int = 2) -> int:
    counter = Counter()
    with Pool(workers, thread_name_prefix="counter") as pool:
        for future in [pool.submit(worker, counter, increments) for _ in range(workers)]:
            future.result()
    value = counter.read()
    print(f"Counter: {value}")
    return value


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format="(%(threadName)-10s) %(message)s")
    main()
