"""Seed 002 (Python Multithreading, "Return values from threads"): "There is no way of
returning from a thread so we use queues to store the results."

A queue per result works, but an exception in the thread never reaches the queue, so
``q_out.get()`` then waits forever. A Pool returns a Future: ``result()`` gives the value
or re-raises the thread's exception, ``as_completed`` hands back many in the order they
finish, and ``result(timeout=...)`` bounds the wait.
"""

from __future__ import annotations

import time
from concurrent.futures import as_completed

from threadloom.core import Pool


def func(n: int) -> int:
    time.sleep(0.01 * (3 - n))  # stands for work; later inputs finish first
    if n < 0:
        raise ValueError(f"negative input {n}")
    return n * n


def main() -> dict[str, object]:
    with Pool(3, thread_name_prefix="result") as pool:
        single = pool.submit(func, 2).result(timeout=5)
        futures = [pool.submit(func, n) for n in range(3)]
        finished = [f.result() for f in as_completed(futures, timeout=5)]
        try:
            pool.submit(func, -1).result(timeout=5)
            error = "none"
        except ValueError as exc:
            error = str(exc)
    print(f"{single} from a future; {sorted(finished)} as they completed; error: {error}")
    return {"single": single, "finished": finished, "error": error}


if __name__ == "__main__":
    main()
