"""Tiny-task throughput: Pool.map / Pool.submit vs ThreadPoolExecutor, same run.

Run: .venv/bin/python benchmarks/bench_pool_tiny.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor, wait

from threadloom.core import Pool

WORKERS = 4
MAP_ITEMS = 200_000
SUBMIT_ITEMS = 50_000


def trivial(x: int) -> int:
    return x + 1


def bench_map(make: Callable[[], Executor]) -> float:
    with make() as pool:
        start = time.perf_counter()
        total = sum(pool.map(trivial, range(MAP_ITEMS)))
        elapsed = time.perf_counter() - start
    assert total == MAP_ITEMS * (MAP_ITEMS + 1) // 2
    return elapsed


def bench_submit(make: Callable[[], Executor]) -> float:
    with make() as pool:
        start = time.perf_counter()
        futures = [pool.submit(trivial, i) for i in range(SUBMIT_ITEMS)]
        wait(futures)
        elapsed = time.perf_counter() - start
    assert sum(f.result() for f in futures) == SUBMIT_ITEMS * (SUBMIT_ITEMS + 1) // 2
    return elapsed


def best(fn: Callable[[Callable[[], Executor]], float], make: Callable[[], Executor]) -> float:
    return min(fn(make) for _ in range(5))


def main() -> None:
    def tpe() -> Executor:
        return ThreadPoolExecutor(WORKERS)

    def pool() -> Executor:
        return Pool(WORKERS)

    for name, fn, n in (("map", bench_map, MAP_ITEMS), ("submit", bench_submit, SUBMIT_ITEMS)):
        peer = best(fn, tpe)
        ours = best(fn, pool)
        print(
            f"{name:7s} {n:>7,} trivial tasks, {WORKERS} workers: "
            f"ThreadPoolExecutor {peer:6.3f} s ({n / peer:>9,.0f}/s)  "
            f"Pool {ours:6.3f} s ({n / ours:>9,.0f}/s)  speed-up {peer / ours:5.2f}x"
        )


if __name__ == "__main__":
    # No options: --help says what the benchmark measures instead of running it.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    main()
