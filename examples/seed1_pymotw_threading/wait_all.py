"""Seed 001 (PyMOTW ``threading_enumerate.py``): start three daemon workers without keeping
handles, then join every thread ``threading.enumerate()`` returns except the main one.

Joining threads you did not start is a gamble: the seed's own run hung on one of them and
ended in ``KeyboardInterrupt``. Keep what you submit instead: ``wait()`` on the futures
waits for exactly your work, and ``Pool.statistics()`` says how much of it is done.
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import wait

from threadloom.core import Pool

log = logging.getLogger(__name__)


def worker() -> float:
    pause = random.randint(1, 5) / 100
    log.debug("sleeping %0.2f", pause)
    time.sleep(pause)  # stands for work of unknown length
    log.debug("ending")
    return pause


def main() -> dict[str, int]:
    with Pool(3, thread_name_prefix="worker") as pool:
        futures = [pool.submit(worker) for _ in range(3)]
        done = wait(futures, timeout=10).done
    stats = pool.statistics()  # after shutdown: every counter is settled
    print(
        f"{len(done)} of {len(futures)} done; {stats.succeeded} succeeded, {stats.running} running"
    )
    return {"done": len(done), "succeeded": stats.succeeded, "running": stats.running}


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format="(%(threadName)-10s) %(message)s")
    main()
