"""Seed 004's job: 500 downloads of heavy-tailed duration, 4 at a time.

Compares the makespan of Pool.imap_unordered and Pool.submit with the seed's own design
(a thread per file, a Queue(3) of started threads, joined in FIFO order) and with the
lower bound max(sum / 4, max). Durations are time.sleep, so no network is involved.

Run: .venv/bin/python benchmarks/bench_pool_seed004.py
"""

from __future__ import annotations

import queue
import random
import threading
import time
from concurrent.futures import wait

from threadloom.core import Pool

N = 500
WORKERS = 4


def durations(seed: int = 4) -> list[float]:
    rng = random.Random(seed)
    # Pareto(alpha=1.5), scaled to a mean of ~10 ms and capped at 0.4 s: many short
    # downloads, a few very long ones.
    return [min(0.4, 0.0033 * rng.paretovariate(1.5)) for _ in range(N)]


def seed_design(times: list[float]) -> float:
    """The seed's FileGetter threads + producer/consumer with Queue(3) and FIFO joins."""

    class FileGetter(threading.Thread):
        def __init__(self, seconds: float) -> None:
            super().__init__()
            self.seconds = seconds
            self.result: float | None = None

        def run(self) -> None:
            time.sleep(self.seconds)
            self.result = self.seconds

    finished: list[float | None] = []
    q: queue.Queue[FileGetter] = queue.Queue(3)

    def producer() -> None:
        for seconds in times:
            thread = FileGetter(seconds)
            thread.start()
            q.put(thread, True)

    def consumer() -> None:
        while len(finished) < len(times):
            thread = q.get(True)
            thread.join()
            finished.append(thread.result)

    start = time.perf_counter()
    prod = threading.Thread(target=producer)
    cons = threading.Thread(target=consumer)
    prod.start()
    cons.start()
    prod.join()
    cons.join()
    return time.perf_counter() - start


def pool_imap_unordered(times: list[float]) -> float:
    with Pool(WORKERS) as pool:
        start = time.perf_counter()
        done = sum(1 for _ in pool.imap_unordered(time.sleep, times))
        elapsed = time.perf_counter() - start
    assert done == N
    return elapsed


def pool_submit(times: list[float]) -> float:
    with Pool(WORKERS) as pool:
        start = time.perf_counter()
        wait([pool.submit(time.sleep, t) for t in times])
        return time.perf_counter() - start


def greedy_makespan(times: list[float]) -> float:
    """Input-order list scheduling with zero overhead: the best any pool that starts
    tasks in input order as workers free up can do."""
    free = [0.0] * WORKERS
    for t in times:
        i = free.index(min(free))
        free[i] += t
    return max(free)


def main() -> None:
    times = durations()
    bound = max(sum(times) / WORKERS, *times)
    print(f"{N} tasks, sum {sum(times):.2f} s, max {max(times):.3f} s, {WORKERS} workers")
    print(f"lower bound max(sum/{WORKERS}, max) = {bound:.3f} s")
    greedy = greedy_makespan(times)
    name = "greedy schedule, zero overhead"
    print(f"  {name:32s} {greedy:6.3f} s  = {greedy / bound:5.3f} x lower bound")
    for name, fn in (
        ("seed 004: Queue(3) + FIFO join", seed_design),
        ("Pool.imap_unordered", pool_imap_unordered),
        ("Pool.submit + wait", pool_submit),
    ):
        elapsed = fn(times)
        print(f"  {name:32s} {elapsed:6.3f} s  = {elapsed / bound:5.3f} x lower bound")


if __name__ == "__main__":
    main()
