"""Seed 003 (Threading Module, Part 5): three threads run ``func()``, printing
``hello from thread <name>`` five times a second apart; then a ``MyThread`` subclass
prints its name from ``run()``.

The threads are never joined (their output keeps coming after the program "ended") and
compete for ``stdout``, so lines can interleave. Here the calls are Pool tasks: their
lines come back as return values and are printed by one thread, in order, and the
default thread names (``Thread-3``) become ``hello_0``, ``hello_1``, ``hello_2``.
"""

from __future__ import annotations

import threading
import time

from threadloom.core import Pool


def func(times: int = 5, pause: float = 0.01) -> list[str]:
    lines = []
    for _ in range(times):
        lines.append(f"hello from thread {threading.current_thread().name}")
        time.sleep(pause)  # stands for work
    return lines


def main() -> list[str]:
    with Pool(3, thread_name_prefix="hello") as pool:
        futures = [pool.submit(func) for _ in range(3)]
        lines = [line for f in futures for line in f.result()]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
