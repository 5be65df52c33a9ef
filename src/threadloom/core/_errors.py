"""The exceptions of threadloom.core, all under one root, :class:`CoreError` (task
exceptions are the tasks' own)."""

from __future__ import annotations

from concurrent.futures.thread import BrokenThreadPool

__all__ = ["BrokenPool", "CoreError", "PoolFull"]


class CoreError(Exception):
    """Base class of every exception :mod:`threadloom.core` defines (:class:`PoolFull`,
    :class:`BrokenPool`, :class:`TaskCancelled`, :class:`RetryLater`): catch it to
    catch any of them. Each also keeps the standard base it always had."""


class PoolFull(CoreError, RuntimeError):
    """``submit`` on a pool built with ``max_queued=N, when_full="raise"`` found N tasks
    already waiting to start. Nothing was queued; retry later or submit fewer at once."""


class BrokenPool(CoreError, BrokenThreadPool):
    """A worker's ``initializer`` raised, so the pool accepts no more work.

    A subclass of :class:`concurrent.futures.thread.BrokenThreadPool`, so code written for
    ``ThreadPoolExecutor`` catches it unchanged. Tasks still queued fail with it too.
    """
