"""Exceptions raised by the pool itself (task exceptions are the tasks' own)."""

from __future__ import annotations

from concurrent.futures.thread import BrokenThreadPool

__all__ = ["BrokenPool", "PoolFull"]


class PoolFull(RuntimeError):
    """``submit`` on a pool built with ``max_queued=N, when_full="raise"`` found N tasks
    already waiting to start. Nothing was queued; retry later or submit fewer at once."""


class BrokenPool(BrokenThreadPool):
    """A worker's ``initializer`` raised, so the pool accepts no more work.

    A subclass of :class:`concurrent.futures.thread.BrokenThreadPool`, so code written for
    ``ThreadPoolExecutor`` catches it unchanged. Tasks still queued fail with it too.
    """
