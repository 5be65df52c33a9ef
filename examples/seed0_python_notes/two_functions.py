"""Seed 000 (Python Notes 17.1 and 17.4): ``func1`` and ``func2`` in two threads, first
with ``thread.start_new_thread``, then as a ``ThreadExample(threading.Thread)`` subclass.

The original starts both threads and never waits for them: the program can end before
they do, nothing comes back from them, and an exception in either is printed and lost.
Here each function is a task of a :class:`~threadloom.core.Pool`: the ``with`` block
waits for both, and ``result()`` returns each task's value or re-raises its exception.
No ``Thread`` subclass is needed: the arguments go to ``submit``.
"""

from __future__ import annotations

import logging
import threading
import time

from threadloom.core import Pool

log = logging.getLogger(__name__)


def func(name: str, pause: float, times: int = 3) -> str:
    """Log ``Inside <name>`` ``times`` times, ``pause`` seconds apart; return the thread's name."""
    for _ in range(times):
        log.info("Inside %s", name)
        time.sleep(pause)  # stands for real work
    return threading.current_thread().name


def main() -> dict[str, str]:
    """Run func1 and func2 concurrently; return which pool thread ran each."""
    with Pool(2, thread_name_prefix="quickstart") as pool:
        futures = {
            "func1": pool.submit(func, "func1", 0.02),
            "func2": pool.submit(func, "func2", 0.01),
        }
        ran_on = {name: future.result() for name, future in futures.items()}
    for name, thread in ran_on.items():
        print(f"{name} ran on {thread}")
    return ran_on


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="(%(threadName)-12s) %(message)s")
    main()
