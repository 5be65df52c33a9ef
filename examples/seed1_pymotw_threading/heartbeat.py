"""Seed 001 (PyMOTW ``threading_daemon.py`` and ``threading_daemon_join.py``): a daemon
thread (the "heart beats" for a monitoring tool) runs beside a non-daemon one.

A daemon thread is killed wherever it happens to be when the program exits, mid-write
included, and joining it is the only way to know it finished. Here the heartbeat is
``Pool.every``: each beat is a short task on a pool worker; ``cancel()`` stops future
beats, and leaving the ``with`` block waits for a beat in progress and ends every
worker, so no thread is left behind and none is cut off.
"""

from __future__ import annotations

import logging
import threading

from threadloom.core import Pool
from threadloom.sync import Event

log = logging.getLogger(__name__)


def main(beats_wanted: int = 3, interval: float = 0.01) -> dict[str, object]:
    """Beat until ``beats_wanted`` beats happened, then stop cleanly; report what ran."""
    beats = 0
    enough = Event()

    def beat() -> None:
        nonlocal beats  # only one beat runs at a time: Pool.every never overlaps runs
        beats += 1
        log.debug("heartbeat %d", beats)
        if beats >= beats_wanted:
            enough.set()

    with Pool(2, thread_name_prefix="heartbeat") as pool:
        timer = pool.every(interval, beat)
        log.debug("non-daemon work: Starting")
        if not enough.wait(timeout=5):
            raise TimeoutError("no heartbeat within 5 s")
        log.debug("non-daemon work: Exiting")
        was_active = timer.cancel()
    left = [t.name for t in threading.enumerate() if t.name.startswith("heartbeat")]
    print(f"cancelled an active timer: {was_active}; beats: {beats}; threads left: {left}")
    return {"cancelled": was_active, "beats": beats, "active": timer.active, "left": left}


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format="(%(threadName)-12s) %(message)s")
    main()
