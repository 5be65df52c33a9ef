"""Seed 002 (Python Multithreading): ``func_4_thread(n_max)`` started function-based
(``Thread(target=..., args=...)``), class-based (a ``MyThread`` subclass with ``run``),
and the SuperFastPython ``task()`` the main thread ``join()`` s.

None of the three can hand back what it computed, and the subclass is boilerplate around
one call. A Pool task is just the function: ``submit`` takes its arguments,
``result()`` is the join and returns the value (or re-raises the error). Note that
counting is pure Python, so threads do not make it faster (the GIL): threads pay off for
waiting (I/O, sleeps, C code that releases the GIL), as in the downloader of seed 004.
"""

from __future__ import annotations

from threadloom.core import Pool


def func_4_thread(n_max: int = 1_000_000) -> int:
    n = 0
    while n < n_max:
        n += 1
    return n


def main(n_max: int = 100_000) -> int:
    with Pool(1, thread_name_prefix="counter") as pool:
        future = pool.submit(func_4_thread, n_max)
        print("Waiting for the new thread to finish...")
        n = future.result()  # the join, with the return value
    print(f"This is coming from another thread: counted to {n}")
    return n


if __name__ == "__main__":
    main()
