"""Seed 000 (Python Notes 17.8): ``SquareRootCalculator`` runs a daemon thread that appends
to a shared list while the main thread polls ``len(results)`` once a second.

The polling loop sleeps a whole second after the work is done, the final message prints
``len(results)`` where it means the target (and crashes when no limit is given), and the
daemon thread would be killed mid-list if the program ended. Here the work is split into
Pool tasks; the monitor is ``concurrent.futures.wait`` with a timeout, which reports
progress every ``interval`` and returns the moment the last task finishes.
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import Future, wait

from threadloom.core import Pool


def square_roots(start: int, stop: int) -> list[float]:
    return [math.sqrt(i) for i in range(start, stop)]


def main(target: int = 200_000, chunk: int = 10_000, interval: float = 0.005) -> list[str]:
    """Calculate sqrt(1)..sqrt(target); return the progress lines and the final line."""
    lines = ["Turning on the calculator..."]
    print(lines[-1])
    with Pool(2, thread_name_prefix="calculator") as pool:
        futures = [
            pool.submit(square_roots, lo, min(lo + chunk, target + 1))
            for lo in range(1, target + 1, chunk)
        ]
        pending: set[Future[list[float]]] = set(futures)
        while pending:
            calculated = sum(len(f.result()) for f in futures if f.done())
            lines.append(f"{calculated} square roots calculated so far.")
            print(lines[-1])
            pending = wait(pending, timeout=interval).not_done
    results = [root for f in futures for root in f.result()]
    lines.append(
        f"Calculated {len(results)} square root(s); the last one is sqrt({target})={results[-1]:f}"
    )
    print(lines[-1])
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", type=int, nargs="?", default=200_000)
    main(parser.parse_args().target)
