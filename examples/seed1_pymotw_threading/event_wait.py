"""Seed 001 (PyMOTW ``threading_event.py``): one thread blocks in ``e.wait()``, another
polls with ``e.wait(2)`` and does other work between polls; the main thread sets the
event after ``time.sleep(5)``.

The blocking waiter has no timeout, so if the event is never set it never returns, and
the main thread guesses with a sleep when the others are ready. Here both waiters are
Pool tasks with bounded waits, and the main thread sets the event once the polling task
has signalled (through a second Event) that it did other work, so nothing depends on
timing. :class:`threadloom.sync.Event` also lists who is waiting in ``statistics()``.
"""

from __future__ import annotations

import logging

from threadloom.core import Pool
from threadloom.sync import Event

log = logging.getLogger(__name__)


def wait_for_event(e: Event) -> str:
    log.debug("wait_for_event starting")
    event_is_set = e.wait(timeout=10)
    log.debug("event set: %s", event_is_set)
    return f"block: event set: {event_is_set}"


def wait_for_event_timeout(e: Event, t: float, worked: Event) -> str:
    other_work = 0
    while not e.is_set():
        event_is_set = e.wait(t)
        log.debug("event set: %s", event_is_set)
        if event_is_set:
            log.debug("processing event")
        else:
            log.debug("doing other work")
            other_work += 1
            worked.set()
    return f"nonblock: event set after {'some' if other_work else 'no'} other work"


def main() -> list[str]:
    e, worked = Event(), Event()
    with Pool(2, thread_name_prefix="event") as pool:
        block = pool.submit(wait_for_event, e)
        nonblock = pool.submit(wait_for_event_timeout, e, 0.01, worked)
        if not worked.wait(timeout=5):
            raise TimeoutError("the polling task never did other work")
        e.set()
        log.debug("Event is set")
        lines = [block.result(), nonblock.result()]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format="(%(threadName)-10s) %(message)s")
    main()
