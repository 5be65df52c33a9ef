"""Seed 004's job: 500 downloads of heavy-tailed duration, 4 at a time.

Compares the makespan of Pool.imap_unordered and Pool.submit with the seed's own design
(a thread per file, a Queue(3) of started threads, joined in FIFO order), with 4 bare
threads pulling from one shared iterator (no pool at all: the floor that time.sleep's
own overshoot and thread wake-ups leave), and with the lower bound max(sum / 4, max).
Durations are time.sleep, so no network is involved.

No scheduler that does not know the durations in advance can promise the lower bound:
the makespan depends on when the longest tasks happen to start. The "greedy schedule"
line is the best any pool that starts tasks in input order as workers free up can do
with zero overhead, computed from the durations. ``--draws K`` repeats the comparison
for K random draws of durations (seeds 1..K) and summarises them.

Run: .venv/bin/python benchmarks/bench_pool_seed004.py [--draws 10]
"""

from __future__ import annotations

import argparse
import queue
import random
import threading
import time
from collections.abc import Iterator
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


def bare_threads(times: list[float]) -> float:
    """4 plain threads taking the next duration from one shared iterator: no pool."""
    lock = threading.Lock()
    source: Iterator[float] = iter(times)

    def work() -> None:
        while True:
            with lock:
                seconds = next(source, None)
            if seconds is None:
                return
            time.sleep(seconds)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def greedy_makespan(times: list[float]) -> float:
    """Input-order list scheduling with zero overhead: the best any pool that starts
    tasks in input order as workers free up can do."""
    free = [0.0] * WORKERS
    for t in times:
        i = free.index(min(free))
        free[i] += t
    return max(free)


def one_draw() -> None:
    times = durations()
    bound = max(sum(times) / WORKERS, *times)
    print(f"{N} tasks, sum {sum(times):.2f} s, max {max(times):.3f} s, {WORKERS} workers")
    print(f"lower bound max(sum/{WORKERS}, max) = {bound:.3f} s")
    greedy = greedy_makespan(times)
    name = "greedy schedule, zero overhead"
    print(f"  {name:32s} {greedy:6.3f} s  = {greedy / bound:5.3f} x lower bound")
    for name, fn in (
        ("seed 004: Queue(3) + FIFO join", seed_design),
        ("4 bare threads, no pool", bare_threads),
        ("Pool.imap_unordered", pool_imap_unordered),
        ("Pool.submit + wait", pool_submit),
    ):
        elapsed = fn(times)
        print(f"  {name:32s} {elapsed:6.3f} s  = {elapsed / bound:5.3f} x lower bound")


def many_draws(count: int) -> None:
    print(f"{count} draws of {N} durations, {WORKERS} workers; makespan / lower bound:")
    print(f"  {'seed':>4}  {'bound s':>7}  {'greedy':>6}  {'bare':>6}  {'Pool':>6}  Pool/greedy")
    within = 0
    for seed in range(1, count + 1):
        times = durations(seed)
        bound = max(sum(times) / WORKERS, *times)
        greedy = greedy_makespan(times) / bound
        bare = bare_threads(times) / bound
        pool = pool_imap_unordered(times) / bound
        within += pool <= 1.02
        print(
            f"  {seed:>4}  {bound:7.3f}  {greedy:6.3f}  {bare:6.3f}  {pool:6.3f}"
            f"  {pool / greedy:6.3f}"
        )
    print(f"Pool within 2% of the lower bound in {within} of {count} draws")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=0, help="repeat over K random draws")
    args = parser.parse_args()
    if args.draws:
        many_draws(args.draws)
    else:
        one_draw()


if __name__ == "__main__":
    main()
