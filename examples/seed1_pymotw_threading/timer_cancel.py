"""Seed 001 (PyMOTW ``threading_timer.py``): two ``threading.Timer`` s, ``t2`` cancelled
before it fires.

Each ``threading.Timer`` is a whole thread that sleeps, and the seed waits for the right
moment to cancel with ``time.sleep(0.2)``. ``Pool.after`` schedules the call on the
pool's one scheduler thread and runs it on a worker; ``cancel()`` says whether it stopped
anything, and an Event (not a sleep) tells us when ``t1`` has run.
"""

from __future__ import annotations

import logging

from threadloom.core import Pool
from threadloom.sync import Event

log = logging.getLogger(__name__)


def main() -> dict[str, object]:
    ran: list[str] = []
    t1_ran = Event()

    def delayed(name: str) -> None:
        log.debug("worker running for %s", name)
        ran.append(name)
        if name == "t1":
            t1_ran.set()

    with Pool(2, thread_name_prefix="timer") as pool:
        log.debug("starting timers")
        t1 = pool.after(0.05, delayed, "t1")
        t2 = pool.after(5.0, delayed, "t2")
        log.debug("canceling t2")
        t2_cancelled = t2.cancel()
        if not t1_ran.wait(timeout=5):
            raise TimeoutError("t1 did not run within 5 s")
        log.debug("done")
    print(f"ran: {ran}; t2 cancelled: {t2_cancelled}; t1 runs: {t1.runs}, t2 runs: {t2.runs}")
    return {"ran": ran, "t2_cancelled": t2_cancelled, "t1_runs": t1.runs, "t2_runs": t2.runs}


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format="(%(threadName)-10s) %(message)s")
    main()
