"""Resizing a pool at run time: what a pool shares with its workers so that some of them
leave between two tasks when the pool shrinks.

Growing needs nothing here: the pool starts threads as it always does, up to the new
``max_workers``. Shrinking never interrupts a task: the pool records how many workers are
in excess, and each worker looks at that count before it takes its next item (a number
read without a lock; the pool's lock decides which workers go).
"""

from __future__ import annotations

__all__ = ["Retirement"]


class Retirement:
    """Shared by a pool and its workers: how many workers should leave now.

    ``excess`` is written under the pool's lock and read by workers without it: a worker
    that sees it non-zero asks the pool (under the lock) whether it is one of those to go.
    """

    __slots__ = ("excess",)

    def __init__(self) -> None:
        self.excess = 0
