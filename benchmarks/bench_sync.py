"""Cost of threadloom.sync's detection on the uncontended path, against threading.Lock.

Measures, in one run and one process, ``with lock: pass`` and a nested pair
``with a: with b: pass`` for threading.Lock and for threadloom.sync.Lock/RLock with
lock-order detection on (mode "warn", the default) and off, and prints the ratios.
The pair's edge a -> b is recorded on the first round; later rounds pay the cached
lookup, which is the steady state of a long-running program.

The machine may be shared, so times are this thread's CPU time (``time.thread_time``:
waiting for a core does not count), each round times the threading peer and the case
back to back, and the ratio printed is the median of the rounds' ratios: a load that
comes and goes moves both sides of a ratio alike. The times printed are medians too.

Run: ``python benchmarks/bench_sync.py [--number N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import timeit
from collections.abc import Callable

import threadloom.sync as tsync

LockFactory = Callable[[], object]

SINGLE = "with a:\n    pass"
PAIR = "with a:\n    with b:\n        pass"


def _round(statement: str, namespace: dict[str, object], number: int) -> float:
    """Time per execution in nanoseconds, one round."""
    timer = timeit.Timer(statement, timer=time.thread_time, globals=namespace)
    return timer.timeit(number) / (number / 1e9)


def _compare(
    statement: str,
    case: dict[str, object],
    peer: dict[str, object],
    number: int,
    repeat: int,
) -> tuple[float, float]:
    """(median ns of the case, median ratio case/peer), peer and case timed per round."""
    times, ratios = [], []
    for _ in range(repeat):
        peer_ns = _round(statement, peer, number)
        case_ns = _round(statement, case, number)
        times.append(case_ns)
        ratios.append(case_ns / peer_ns)
    return statistics.median(times), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args()

    # (name, lock-order mode, factory, the threading peer it is compared with)
    cases: list[tuple[str, str, LockFactory, LockFactory]] = [
        ("threading.Lock", "warn", threading.Lock, threading.Lock),
        ("threading.RLock", "warn", threading.RLock, threading.RLock),
        ("threadloom Lock, detection on", "warn", tsync.Lock, threading.Lock),
        ("threadloom Lock, detection off", "off", tsync.Lock, threading.Lock),
        ("threadloom RLock, detection on", "warn", tsync.RLock, threading.RLock),
    ]
    print(f"{'primitive':32} {'with a':>9} {'ratio':>6} {'with a: with b':>15} {'ratio':>6}  vs")
    for name, mode, factory, peer_factory in cases:
        tsync.configure(mode=mode)  # type: ignore[arg-type]
        case: dict[str, object] = {"a": factory(), "b": factory()}
        peer: dict[str, object] = {"a": peer_factory(), "b": peer_factory()}
        single_ns, single_ratio = _compare(SINGLE, case, peer, options.number, options.repeat)
        pair_ns, pair_ratio = _compare(PAIR, case, peer, options.number, options.repeat)
        print(
            f"{name:32} {single_ns:7.1f}ns {single_ratio:5.2f}x "
            f"{pair_ns:13.1f}ns {pair_ratio:5.2f}x  {peer_factory.__name__}"
        )
    tsync.configure(mode="warn")


if __name__ == "__main__":
    main()
