"""Seed 003 (Threading Module, "Race Conditions"): two threads read, increase and write
back one integer; when they interleave, one update is lost (``race_condition.py``).

The lost update only happens under an unlucky interleaving, so a test can pass a
thousand times and the program still be wrong. Declaring the value
:func:`~threadloom.sync.guarded_by` its lock makes the unguarded version fail on its
first access, every time, with :class:`~threadloom.sync.UnguardedAccessError`; the
guarded version loses no update.
"""

from __future__ import annotations

from collections.abc import Callable

from threadloom.core import Pool
from threadloom.sync import Lock, UnguardedAccessError, guarded_by


class Counter:
    value = guarded_by[int]("lock")

    def __init__(self) -> None:
        self.lock = Lock()
        self.value = 0  # the first assignment initialises, unchecked


def increment_unguarded(counter: Counter) -> None:
    counter.value += 1  # read value, increase value, write back: the race


def increment_guarded(counter: Counter) -> None:
    with counter.lock:
        counter.value += 1


def count(increment: Callable[[Counter], None], workers: int = 4, times: int = 10_000) -> int:
    """Let ``workers`` tasks each call ``increment`` ``times`` times; return the total."""
    counter = Counter()

    def work() -> None:
        for _ in range(times):
            increment(counter)

    with Pool(workers, thread_name_prefix="race") as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
    with counter.lock:
        return counter.value


def main() -> dict[str, str]:
    outcome = {"guarded": f"{count(increment_guarded)} of {4 * 10_000}"}
    try:
        outcome["unguarded"] = f"{count(increment_unguarded)} of {4 * 10_000}"
    except UnguardedAccessError as exc:
        outcome["unguarded"] = f"UnguardedAccessError: {exc}"
    for name, result in outcome.items():
        print(f"{name}: {result}")
    return outcome


if __name__ == "__main__":
    main()
