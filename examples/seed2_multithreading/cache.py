"""Seed 002 (Python Multithreading, "Using locks in threading"): one thread iterates a
cache dict while another adds to it; without the lock the reader dies with
``RuntimeError: dictionary changed size during iteration``.

The seed's version is right about the lock, but both loops run forever (``while True``),
the writer sleeps while holding the lock, and nothing checks that every access really
takes it. Here the cache is :class:`~threadloom.sync.Guarded` (touching it without the
lock raises :class:`~threadloom.sync.UnguardedAccessError`), the writer is a
``Pool.every`` timer that holds the lock only to insert, and both stop when told.
"""

from __future__ import annotations

import time

from threadloom.core import Pool, current_token
from threadloom.sync import Event, Guarded, Lock


def check_cache(cache: Guarded[dict[str, int]]) -> int:
    """Iterate the whole cache again and again until cancelled; return the passes made."""
    token = current_token()
    passes = 0
    while not token.is_set():
        with cache as items:
            for _key, _value in items.items():
                pass  # do important stuff with cache items
        passes += 1
    return passes


def add_to_cache(cache: Guarded[dict[str, int]], size_wanted: int, grown: Event) -> None:
    now = time.time_ns()
    with cache as items:
        items[str(now)] = now
        if len(items) >= size_wanted:
            grown.set()


def main(additions: int = 50) -> dict[str, int]:
    """Add ``additions`` entries while another task iterates; stop both; report."""
    cache = Guarded({str(i): i for i in range(100)}, Lock())
    grown = Event()
    with Pool(2, thread_name_prefix="cache") as pool:
        reader = pool.submit(check_cache, cache)
        writer = pool.every(0.001, add_to_cache, cache, 100 + additions, grown)
        if not grown.wait(timeout=10):
            raise TimeoutError("the writer did not add enough entries")
        writer.cancel()
        reader.cancel()  # sets the running task's cancel token: it stops at its next check
        passes = reader.result(timeout=5)  # would re-raise a RuntimeError from the reader
    with cache as items:
        size = len(items)
    print(
        f"cache grew from 100 to at least {100 + additions} entries while the reader "
        f"iterated it {'many' if passes > 1 else 'few'} times; no RuntimeError"
    )
    return {"size": size, "passes": passes}


if __name__ == "__main__":
    main()
