"""One writer thread that commits queued items in batches: the seeds' shared file, done right.

Many threads `put` items into a bounded queue (a full queue blocks them: backpressure, so
memory stays bounded when the disk is slower than the network). One thread takes items
off and hands them to ``commit`` in batches of at most ``max_batch`` items, or whatever
arrived within ``max_delay`` seconds of the batch's first item, whichever comes first.
One transaction per batch instead of one per item is what makes the store fast.

The writer sleeps while a batch fills and takes it in one go: a producer wakes it only
for the first item, a full batch, or a flush/stop marker. Waking it for every item (as a
``queue.Queue.get`` per item does) costs a GIL hand-off per item, and under contention
each hand-off can wait for another thread's switch interval.

A failure in ``commit`` is kept and raised (as `StoreWriteError`) by the next `put`,
`flush` or `close`, never swallowed; after it the writer drains and drops the queue so
no producer blocks forever, and commits nothing more.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from threadloom.store._types import StoreClosedError, StoreWriteError

T = TypeVar("T")

# Blocking waits wake this often to notice a dead writer thread.
_POLL: Final = 0.5


class _Stop:
    pass


_STOP: Final = _Stop()


@dataclass(frozen=True, slots=True)
class _Flush:
    done: threading.Event


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """How a store's writer thread batches (see `BatchWriter`): a transaction commits at
    most ``max_batch`` items and starts at most about ``max_delay`` seconds after its
    first item arrived; ``max_queued`` items may wait before `Store.record` blocks.

    64 items a transaction (it was 256): a commit costs ~0.1 ms in WAL mode, while the
    last batch of a run is committed after its last document, on the run's time (500
    small documents: ~15 ms less wall time; 20,000: the same CPU and wall time)."""

    max_batch: int = 64
    max_delay: float = 0.2
    max_queued: int = 1024


DEFAULT_WRITER_SETTINGS: Final = WriterSettings()
"""The settings a store uses unless told otherwise."""


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """A snapshot of a writer: ``committed`` items in ``batches`` transactions so far,
    and ``queued`` items waiting (approximate)."""

    committed: int
    batches: int
    queued: int


class BatchWriter(Generic[T]):
    """Commit items from many threads through one named writer thread, in batches.

    ``commit(batch)`` runs in the writer thread only and must commit the whole batch
    atomically or raise. The thread is a daemon so a forgotten `close` cannot hang the
    interpreter; the store closes its writers at exit.
    """

    def __init__(
        self,
        commit: Callable[[list[T]], None],
        *,
        max_batch: int = 64,
        max_delay: float = 0.2,
        max_queued: int = 4096,
        name: str = "threadloom-store-writer",
    ) -> None:
        if max_batch < 1 or max_queued < 1 or max_delay < 0:
            raise ValueError("max_batch and max_queued must be >= 1 and max_delay >= 0")
        self._commit = commit
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_queued = max_queued
        # Guarded by self._lock: the queued items and how many of them are markers.
        self._lock = threading.Lock()
        self._items: deque[T | _Flush | _Stop] = deque()
        self._markers = 0
        self._has_work = threading.Condition(self._lock)  # the writer waits on it
        self._has_room = threading.Condition(self._lock)  # blocked producers wait on it
        self._error: BaseException | None = None
        self._error_reported = False
        self._committed = 0
        self._batches = 0
        self._close_lock = threading.RLock()
        self._close_active = False
        self._stop_sent = False
        self._closed = False
        # Set as the thread's last act (`put` reads it: a flag instead of is_alive(),
        # which costs a lock and a few calls, on every outcome).
        self._exited = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: T, timeout: float | None = None) -> None:
        """Queue ``item`` for the next batch; block while the queue is full.

        Raises `StoreWriteError` if the writer has failed, `StoreClosedError` after
        `close`, `TimeoutError` if the queue stayed full for ``timeout`` seconds.
        """
        if self._stop_sent or self._error is not None or self._exited:
            self.check()  # raises what is wrong
        self._blocking_put(item, timeout, marker=False)

    def flush(self, timeout: float | None = None) -> None:
        """Return once every item put before this call is committed.

        Raises `StoreWriteError` if a commit failed (now or earlier), `StoreClosedError`
        if the writer thread stopped before committing them, `TimeoutError` after
        ``timeout`` seconds.
        """
        self.check()
        deadline = None if timeout is None else time.monotonic() + timeout
        marker = _Flush(threading.Event())
        self._blocking_put(marker, timeout, marker=True)
        while not marker.done.wait(_wait_time(deadline)):
            if not self._thread.is_alive():
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"store writer did not flush within {timeout} s")
        self._raise_error()
        # The thread ended without reaching the marker (a `close` that raced this call,
        # or the thread died outside a commit): nothing says the items were committed.
        if not marker.done.is_set():
            raise StoreClosedError(
                f"the store's writer thread {self._thread.name} stopped before flushing;"
                " outcomes not committed stay pending"
            )

    def close(self, timeout: float | None = None) -> None:
        """Commit everything queued, stop the thread, and raise a failure nobody saw yet.

        Idempotent. Safe in ``finally`` and ``except KeyboardInterrupt`` blocks: if a
        `KeyboardInterrupt` cuts a `close` short, the next call finishes it; a call made
        while `close` is running in the same thread (a signal handler) returns at once.
        """
        with self._close_lock:
            if self._close_active or self._closed:
                return
            self._close_active = True
            try:
                deadline = None if timeout is None else time.monotonic() + timeout
                if not self._stop_sent:
                    self._blocking_put(_STOP, timeout, marker=True)
                    self._stop_sent = True
                while self._thread.is_alive():
                    self._thread.join(_wait_time(deadline))
                    if deadline is not None and time.monotonic() >= deadline:
                        raise TimeoutError(f"store writer did not stop within {timeout} s")
                self._closed = True
            finally:
                self._close_active = False
        if not self._error_reported:
            self._raise_error()

    @property
    def closed(self) -> bool:
        """True once `close` has returned or raised after stopping the thread."""
        return self._closed

    def statistics(self) -> WriterStatistics:
        """The current `WriterStatistics`."""
        return WriterStatistics(self._committed, self._batches, len(self._items))

    def check(self) -> None:
        """Raise what `put` would raise now (`StoreWriteError`, `StoreClosedError`), or nothing."""
        if self._stop_sent:
            raise StoreClosedError("the store is closed; open it again to record more")
        self._raise_error()
        if self._exited or not self._thread.is_alive():
            raise StoreClosedError("the store's writer thread is gone")

    def _raise_error(self) -> None:
        if self._error is not None:
            self._error_reported = True
            raise StoreWriteError(
                f"the store's writer thread failed: {self._error!r};"
                " outcomes not committed stay pending and are fetched again on resume"
            ) from self._error

    def _blocking_put(
        self, item: T | _Flush | _Stop, timeout: float | None, *, marker: bool
    ) -> None:
        """Queue ``item`` (``marker``: a flush or stop marker), waiting for room."""
        deadline = None
        with self._lock:
            while len(self._items) >= self._max_queued:
                if deadline is None and timeout is not None:
                    deadline = time.monotonic() + timeout
                self._has_room.wait(_wait_time(deadline))
                if len(self._items) < self._max_queued:
                    break
                self._raise_error()
                if not self._thread.is_alive():
                    raise StoreClosedError("the store's writer thread is gone")
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"store writer queue stayed full for {timeout} s")
            self._items.append(item)
            queued = len(self._items)
            if marker:
                self._markers += 1
            if marker or queued == 1 or queued >= self._max_batch:
                self._has_work.notify()

    def _take_batch(self) -> tuple[list[T], list[_Flush], bool]:
        """Wait for a batch (see the module docstring); return it, the flush markers that
        end it, and whether a stop marker ends it."""
        items = self._items
        with self._lock:
            while not items:
                self._has_work.wait()
            deadline = time.monotonic() + self._max_delay
            while len(items) < self._max_batch and not self._markers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._has_work.wait(remaining)
            batch: list[T] = []
            flushes: list[_Flush] = []
            stop = False
            while items and len(batch) < self._max_batch:
                item = items.popleft()
                if isinstance(item, _Stop):
                    self._markers -= 1
                    stop = True
                    break
                if isinstance(item, _Flush):
                    self._markers -= 1
                    flushes.append(item)
                    break
                batch.append(item)
            self._has_room.notify_all()
        return batch, flushes, stop

    def _run(self) -> None:
        try:
            self._work()
        finally:
            self._exited = True

    def _work(self) -> None:
        while True:
            batch, flushes, stop = self._take_batch()
            if batch and self._error is None:
                try:
                    self._commit(batch)
                except BaseException as exc:  # kept and raised to the caller, see _raise_error
                    self._error = exc
                else:
                    self._committed += len(batch)
                    self._batches += 1
            for flush in flushes:
                flush.done.set()
            if stop:
                return


def _wait_time(deadline: float | None) -> float:
    if deadline is None:
        return _POLL
    return max(0.0, min(_POLL, deadline - time.monotonic()))
