"""Cost of threadloom.sync's detection on the uncontended path, against threading.Lock.

Measures, in one run and one process, ``with lock: pass`` and a nested pair
``with a: with b: pass`` for threading.Lock and for threadloom.sync.Lock/RLock with
lock-order detection on (mode "warn", the default) and off, and prints the ratios.
The pair's edge a -> b is recorded on the first round; later rounds pay the cached
lookup, which is the steady state of a long-running program.

Run: ``python benchmarks/bench_sync.py [--number N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import threading
import timeit
from collections.abc import Callable

import threadloom.sync as tsync

LockFactory = Callable[[], object]


def _best(statement: str, namespace: dict[str, object], number: int, repeat: int) -> float:
    """Best time per execution in nanoseconds (the minimum is the least noisy estimate)."""
    return min(timeit.repeat(statement, globals=namespace, number=number, repeat=repeat)) / (
        number / 1e9
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()

    single = "with a:\n    pass"
    pair = "with a:\n    with b:\n        pass"
    # (name, lock-order mode, factory, the threading peer it is compared with)
    cases: list[tuple[str, str, LockFactory, str]] = [
        ("threading.Lock", "warn", threading.Lock, "threading.Lock"),
        ("threading.RLock", "warn", threading.RLock, "threading.RLock"),
        ("threadloom Lock, detection on", "warn", tsync.Lock, "threading.Lock"),
        ("threadloom Lock, detection off", "off", tsync.Lock, "threading.Lock"),
        ("threadloom RLock, detection on", "warn", tsync.RLock, "threading.RLock"),
    ]
    measured: dict[str, tuple[float, float]] = {}
    print(f"{'primitive':32} {'with a':>9} {'ratio':>6} {'with a: with b':>15} {'ratio':>6}  vs")
    for name, mode, factory, peer in cases:
        tsync.configure(mode=mode)  # type: ignore[arg-type]
        namespace: dict[str, object] = {"a": factory(), "b": factory()}
        single_ns = _best(single, namespace, options.number, options.repeat)
        pair_ns = _best(pair, namespace, options.number, options.repeat)
        measured[name] = (single_ns, pair_ns)
        base_single, base_pair = measured[peer]
        print(
            f"{name:32} {single_ns:7.1f}ns {single_ns / base_single:5.2f}x "
            f"{pair_ns:13.1f}ns {pair_ns / base_pair:5.2f}x  {peer}"
        )
    tsync.configure(mode="warn")


if __name__ == "__main__":
    main()
