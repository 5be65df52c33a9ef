"""The engine behind Pool.map / imap / imap_unordered.

Instead of a Future per item, up to ``max_workers`` "pullers" (pool work items) claim
chunks of input under one lock, run them and store the results; the consumer's iterator
waits on a Condition. Chunk sizes adapt to measured run time: tiny tasks are claimed
hundreds at a time, slow tasks one at a time (so greedy load balancing is kept where it
matters). A puller never blocks: when the buffer is full it ends and the consumer starts
pullers again as it frees room, so a map never holds a worker hostage.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any, Generic, Protocol, TypeVar

from ._accounting import Emitter
from ._cancel import CancelToken, _current
from ._events import describe
from ._threads import WorkerState
from ._waiting import wait_slice

__all__ = ["MapHost", "MapRun"]

_T = TypeVar("_T")

_TARGET_CHUNK_SECONDS = 0.002  # long enough to amortise a claim, short enough to balance
_MAX_CHUNK = 512


class MapHost(Protocol):
    """What a map needs of its pool: all of it, in one place."""

    _max_workers: int  # how many pullers can be useful at once
    _events: Emitter  # events of map items (start/finish per item when listened to)
    _ids: itertools.count[int]  # task ids, shared with the pool's tasks

    def _map_spawn(self, run: MapRun[Any], count: int, /) -> int:
        """Queue ``count`` pullers of ``run``; returns how many were queued."""
        ...

    def _map_account(
        self,
        run: MapRun[Any],
        /,
        *,
        read: int = 0,
        ok: int = 0,
        failed: int = 0,
        cancelled: int = 0,
        puller_done: bool = False,
        finished: bool = False,
    ) -> None:
        """Count items read and settled, a puller that ended, a map that finished."""
        ...

    def _interrupt(self) -> None:
        """Ctrl-C in the consumer: cancel the pool's work."""
        ...


class _Failure:
    """The exception of an item that raised, stored in place of its result."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class MapRun(Generic[_T]):
    """One map call: its input, its results, and the pullers working on it."""

    def __init__(
        self,
        pool: MapHost,
        fn: Callable[..., _T],
        source: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]],
        *,
        ordered: bool,
        limit: int | None,
        timeout: float | None,
    ) -> None:
        self.pool = pool
        self._fn = fn
        self._label = getattr(fn, "__name__", "map")
        if isinstance(source, list):
            self._items: list[tuple[Any, ...]] | None = source
            self._iter: Iterator[tuple[Any, ...]] | None = None
            self._exhausted = not source
        else:
            self._items = None
            self._iter = source
            self._exhausted = False
        self._ordered = ordered
        self._limit = limit
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._input_lock = threading.Lock()  # held while a puller reads an iterator input
        # Results: a value, or a _Failure for an item that raised.
        self._by_index: dict[int, Any] = {}
        self._arrived: deque[Any] = deque()
        self._next = 0  # items claimed so far (= index of the next one)
        self._yielded = 0
        self._input_error: BaseException | None = None
        self._stopped: str | None = None
        self._stop_error: BaseException | None = None  # raised instead of CancelledError
        self._pullers = 0
        self._max_pullers = pool._max_workers
        self._chunk = 1
        self.token = CancelToken()
        # Pool.map's priority=: the pool queues this map's pullers by it.
        self.priority = 0

    # ---- pullers (worker threads) -----------------------------------------------------

    def _chunk_size(self) -> int:
        """How many items the next claim may take (0: the buffer is full); called under
        ``_lock``, or under ``_input_lock`` by the reader of an iterator input."""
        n = self._chunk
        if self._limit is not None:
            room = self._limit - (self._next - self._yielded)
            if room <= 0:
                return 0
            n = min(n, room, max(1, self._limit // (2 * self._max_pullers)))
        return n

    def _claim_locked(self) -> tuple[int, list[tuple[Any, ...]]]:
        """Claim the next chunk of a list input."""
        assert self._items is not None
        start = self._next
        n = self._chunk_size()
        if n == 0:
            return start, []
        remaining = len(self._items) - start
        # Guided self-scheduling: smaller chunks near the end keep the tail balanced.
        n = min(n, max(1, remaining // (2 * self._max_pullers)))
        batch = self._items[start : start + n]
        self._next = start + len(batch)
        if self._next >= len(self._items):
            self._exhausted = True
        return start, batch

    def _read_chunk(self) -> tuple[int, list[tuple[Any, ...]]]:
        """Read and claim the next chunk of an iterator input.

        The input is read under ``_input_lock`` only (one reader at a time keeps items
        numbered in input order), never under ``_lock``: an input can wait for as long
        as it likes (a quiet socket, a generator waiting for ``cancel_requested()``) while the
        consumer still takes results and Ctrl-C or ``stop()`` still cancels the run.
        With the map state locked, the consumer's interrupt waited for that lock behind
        the reading worker, and the input waited for a cancel that never came.
        """
        assert self._iter is not None
        with self._input_lock:
            # Read without _lock: _next and _exhausted change only under _input_lock,
            # which this thread holds; a stale _yielded (the consumer's) only makes the
            # room look smaller, and a stale _stopped costs one chunk that _run_batch
            # then skips.
            if self._stopped is not None or self._exhausted:
                return self._next, []
            n = self._chunk_size()
            if n == 0:
                return self._next, []
            batch = []
            error = None
            try:
                for args in itertools.islice(self._iter, n):
                    batch.append(args)
            except BaseException as exc:  # the input raised: deliver it in order, then stop
                error = exc
            with self._lock:
                start = self._next
                self._next = start + len(batch)
                if error is not None:
                    self._input_error = error
                    self._exhausted = True
                elif len(batch) < n:
                    self._exhausted = True
            return start, batch

    def run(self, ws: WorkerState) -> None:
        """Claim and run chunks until input, room or the map runs out; never block."""
        pool = self.pool
        previous = _current.token
        _current.token = self.token
        try:
            while True:
                if self._items is None:
                    start, batch = self._read_chunk()
                    if batch:
                        pool._map_account(self, read=len(batch))
                else:
                    with self._lock:
                        if self._stopped is None and not self._exhausted:
                            start, batch = self._claim_locked()
                        else:
                            start, batch = self._next, []
                if not batch:
                    with self._lock:
                        self._pullers -= 1
                        self._cond.notify_all()
                        ended = self._pullers == 0 and (
                            self._stopped is not None or self._exhausted
                        )
                        pool._map_account(self, puller_done=True, finished=ended)
                    return
                results, ok, failed, elapsed = self._run_batch(batch, ws)
                done = len(results)
                cancelled = len(batch) - done
                with self._lock:
                    if self._ordered:
                        self._by_index.update(zip(itertools.count(start), results, strict=False))
                    else:
                        self._arrived.extend(results)
                    # Drop this thread's last reference to the results now (no loop variable
                    # either): the consumer may take and drop them while this puller runs
                    # its next chunk, which can take long (bpo-14406).
                    del results
                    if done:
                        per_item = elapsed / done
                        ideal = (
                            int(_TARGET_CHUNK_SECONDS / per_item) if per_item > 0 else _MAX_CHUNK
                        )
                        self._chunk = max(1, min(_MAX_CHUNK, ideal, self._chunk * 4))
                    self._cond.notify_all()
                pool._map_account(self, ok=ok, failed=failed, cancelled=cancelled)
        finally:
            _current.token = previous

    def _run_batch(
        self, batch: list[tuple[Any, ...]], ws: WorkerState
    ) -> tuple[list[Any], int, int, float]:
        fn = self._fn
        pool = self.pool
        events = pool._events
        results: list[Any] = []
        ok = failed = 0
        ws.mapping = True
        t0 = time.monotonic()
        try:
            for args in batch:
                if self._stopped is not None:
                    break
                listeners = events.listeners
                task_id = 0
                if listeners:
                    task_id = next(pool._ids)
                    events.raw(
                        "start",
                        task_id=task_id,
                        key=None,
                        attempt=1,
                        label=self._label,
                        error=None,
                    )
                try:
                    results.append(fn(*args))
                    ok += 1
                    error = None
                except BaseException as exc:
                    results.append(_Failure(exc))
                    failed += 1
                    error = describe(exc)
                if listeners:
                    events.raw(
                        "finish",
                        task_id=task_id,
                        key=None,
                        attempt=1,
                        label=self._label,
                        error=error,
                    )
        finally:
            elapsed = time.monotonic() - t0
            ws.busy += elapsed
            ws.mapping = False
        return results, ok, failed, elapsed

    # ---- consumer ----------------------------------------------------------------------

    def spawn(self) -> None:
        """Start pullers up to the useful number (called by the consumer side)."""
        with self._lock:
            if self._stopped is not None or self._exhausted:
                return
            if self._limit is not None and (self._next - self._yielded) > self._limit // 2:
                return  # hysteresis: wait until half the buffer is free
            want = self._max_pullers
            if self._items is not None:
                want = min(want, len(self._items) - self._next)
            k = want - self._pullers
            if k <= 0:
                return
            self._pullers += k
        queued = self.pool._map_spawn(self, k)
        if queued < k:
            with self._lock:
                self._pullers -= k - queued

    def results(self) -> Iterator[_T]:
        """The iterator handed to the caller of map/imap/imap_unordered."""
        by_index = self._by_index
        arrived = self._arrived
        ordered = self._ordered
        finished = False
        try:
            while True:
                self.spawn()
                with self._cond:
                    while not (self._yielded in by_index if ordered else arrived):
                        if self._exhausted and self._yielded == self._next:
                            finished = True
                            if self._input_error is not None:
                                raise self._input_error
                            return
                        if self._stopped is not None:
                            if self._stop_error is not None:
                                raise self._stop_error
                            raise CancelledError(f"map cancelled ({self._stopped})")
                        if self._pullers == 0:
                            # Every claimed item is done and nobody is working: start pullers.
                            self._cond.release()
                            try:
                                self.spawn()
                            finally:
                                self._cond.acquire()
                            if self._pullers == 0 and not self._ready_locked():
                                raise RuntimeError("cannot schedule new futures after shutdown")
                            continue
                        deadline = self._deadline
                        if deadline is not None and time.monotonic() >= deadline:
                            raise FuturesTimeoutError()
                        self._cond.wait(wait_slice(deadline))
                    index = self._yielded
                    self._yielded += 1
                # The result is taken out straight into the ``yield``, never into a local:
                # a local would keep it while the generator is suspended (and until the
                # next result arrives), so a large result outlived the caller's use of it
                # (Executor.map had the same leak: bpo-14406). Taken outside the lock: only
                # this thread removes results, and it has seen this one there.
                # An item that raised ends the iterator with its exception: the finally
                # below cancels the items still to run, as Executor.map does.
                if ordered:
                    if type(by_index[index]) is _Failure:
                        raise by_index.pop(index).error
                    yield by_index.pop(index)
                else:
                    if type(arrived[0]) is _Failure:
                        raise arrived.popleft().error
                    yield arrived.popleft()
        except KeyboardInterrupt:
            self.pool._interrupt()
            raise
        finally:
            if not finished:
                self.stop("cancel")

    def _ready_locked(self) -> bool:
        """True if a result for the consumer is ready (or the run can end)."""
        ready = self._yielded in self._by_index if self._ordered else bool(self._arrived)
        return ready or (self._exhausted and self._yielded == self._next)

    def stop(self, reason: str, error: BaseException | None = None) -> None:
        """Cancel what has not started; set the token of the items running now.

        The consumer then gets the results already ready in its order and, in place of
        the first missing one, ``error`` (default: CancelledError naming ``reason``).
        """
        with self._lock:
            if self._stopped is not None:
                return
            self._stopped = reason
            self._stop_error = error
            unclaimed = 0
            if self._items is not None:
                unclaimed = len(self._items) - self._next
            self.token.set(reason)
            self._cond.notify_all()
            idle = self._pullers == 0
        self.pool._map_account(self, cancelled=unclaimed, finished=idle)
