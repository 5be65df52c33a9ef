"""The worker thread's loop: take work, run it, go idle without keeping the pool alive."""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, cast

from ._events import describe
from ._exit import exiting
from ._priority import PRIO, _Prio
from ._resize import Retirement
from ._task import Task
from ._threads import WorkerState, worker_local

__all__ = ["WAKE", "Item", "MapWork", "WorkerHost", "worker"]

_log = logging.getLogger("threadloom.core")
# Where ThreadPoolExecutor logs a failing initializer: tools and tests watch this logger.
_futures_log = logging.getLogger("concurrent.futures")


class _Wake:
    """Queued to wake a worker for a task placed on the pool's ready deque."""

    __slots__ = ()


WAKE = _Wake()


class MapWork(Protocol):
    """A map's puller, as a worker sees it (``MapRun``)."""

    @property
    def pool(self) -> object: ...

    def run(self, ws: WorkerState, /) -> None: ...


# What the run queue holds: a task, a map's puller, a wake-up for the ready deque, or
# None (the pool may have closed, or been collected: look).
Item = Task | MapWork | _Wake | _Prio | None


class WorkerHost(Protocol):
    """What the loop needs of the pool that owns it."""

    name: str
    _all_started: bool
    _idle: threading.Semaphore
    _closed: bool

    def _initializer_failed(self) -> None: ...

    def _pop_prio(self) -> Item: ...

    def _retire_worker(self) -> bool: ...


def worker(
    pool_ref: weakref.ref[WorkerHost],
    work: queue.SimpleQueue[Item],
    ready: deque[Task],
    state: WorkerState,
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
    retirement: Retirement,
) -> None:
    """The body of one worker thread of the pool behind ``pool_ref``."""
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as exc:
            # As ThreadPoolExecutor, word for word: the traceback, once, on its logger.
            # Ours gets one line naming the pool and what follows (no second traceback).
            _futures_log.critical("Exception in initializer:", exc_info=True)
            pool = pool_ref()
            _log.error(
                "%s: initializer failed in %s (%s): the pool is broken; its queued and "
                "mapped work fails with BrokenPool",
                "pool" if pool is None else pool.name,
                threading.current_thread().name,
                describe(exc),
            )
            del exc
            if pool is not None:
                pool._initializer_failed()
            return
    worker_local.pool = pool_ref()
    item: Item
    try:
        while True:
            if retirement.excess:
                # The pool shrank: leave between two tasks if the pool picks this one.
                pool = pool_ref()
                if pool is None or pool._retire_worker():
                    return
                del pool
            if ready:
                # Tasks that already waited (behind a full key, or for a retry) go first.
                try:
                    item = ready.popleft()
                except IndexError:  # another worker took it
                    continue
            else:
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    # Going idle: hold no strong reference, so a pool nobody uses can be
                    # collected (its weakref callback then wakes us with None).
                    worker_local.pool = None
                    pool = pool_ref()
                    if pool is not None and not pool._all_started:
                        pool._idle.release()
                    del pool
                    item = work.get()
            if item is WAKE:
                continue
            if item is None:
                pool = pool_ref()
                if exiting.now or pool is None or pool._closed:
                    work.put(None)  # pass the wake-up on to the next worker
                    return
                del pool
                continue
            if item is PRIO:
                # Priority order: the token stands for the heap's best entry.
                pool = pool_ref()
                item = None if pool is None else pool._pop_prio()
                del pool
                if item is None:
                    continue
            if type(item) is Task:
                worker_local.pool = item.pool
                item.pool._run_task(item, state)
            else:
                run = cast(MapWork, item)
                worker_local.pool = run.pool
                run.run(state)
                del run
            del item
    except BaseException:
        _log.critical("Exception in worker", exc_info=True)
