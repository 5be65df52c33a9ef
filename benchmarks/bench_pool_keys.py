"""Per-key head-of-line blocking: many keys with a limit of 2, one slow key, 16 workers.

Pool(key_limit=2) parks tasks of a full key without holding a worker; the peer is
ThreadPoolExecutor with a BoundedSemaphore(2) per key acquired inside the task, where a
worker that picks up a task of the full key sits blocked. Makespans are compared with the
lower bound max(total work / workers, slow key's work / limit).

Run: .venv/bin/python benchmarks/bench_pool_keys.py
"""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from threadloom.core import Pool

WORKERS = 16
LIMIT = 2
KEYS = 40
PER_KEY = 25
FAST = 0.005
SLOW = 0.050


def jobs(order: str) -> list[tuple[str, float]]:
    items = [(f"host{k}", SLOW if k == 0 else FAST) for k in range(KEYS) for _ in range(PER_KEY)]
    if order == "shuffled":
        random.Random(2).shuffle(items)
    return items  # "grouped": the slow host's URLs first, as in a sorted list


def with_pool(items: list[tuple[str, float]]) -> float:
    with Pool(WORKERS, key_limit=LIMIT) as pool:
        start = time.perf_counter()
        wait([pool.submit_task(time.sleep, (d,), key=k) for k, d in items])
        return time.perf_counter() - start


def with_tpe_semaphores(items: list[tuple[str, float]]) -> float:
    semaphores = {k: threading.BoundedSemaphore(LIMIT) for k, _ in items}

    def task(key: str, seconds: float) -> None:
        with semaphores[key]:
            time.sleep(seconds)

    with ThreadPoolExecutor(WORKERS) as pool:
        start = time.perf_counter()
        wait([pool.submit(task, k, d) for k, d in items])
        return time.perf_counter() - start


def main() -> None:
    total = sum(d for _, d in jobs("grouped"))
    bound = max(total / WORKERS, math.ceil(PER_KEY / LIMIT) * SLOW)
    print(
        f"{KEYS} keys x {PER_KEY} tasks, limit {LIMIT} per key, key 0 takes {SLOW * 1000:.0f} ms "
        f"per task, others {FAST * 1000:.0f} ms; {WORKERS} workers; lower bound {bound:.3f} s"
    )
    for order in ("shuffled", "grouped"):
        items = jobs(order)
        peer = with_tpe_semaphores(items)
        ours = with_pool(items)
        print(
            f"  {order:9s} ThreadPoolExecutor+semaphores {peer:6.3f} s "
            f"({peer / bound:5.2f} x bound)   Pool(key_limit) {ours:6.3f} s "
            f"({ours / bound:5.2f} x bound)   speed-up {peer / ours:5.2f}x"
        )


if __name__ == "__main__":
    # No options: --help says what the benchmark measures instead of running it.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    main()
