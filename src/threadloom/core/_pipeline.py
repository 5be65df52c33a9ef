"""Pipeline: items flow through stages, each a pool of its own, with bounded buffers."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Final, Literal

from ._future import LeanFuture, settled_outcome
from ._idle import IDLE
from ._pool import Pool
from ._retry import Retry
from ._waiting import wait_slice

__all__ = ["IDLE", "ErrorPolicy", "Pipeline", "PipelineRun", "Stage", "StageStatistics"]

_log = logging.getLogger("threadloom.core")

ErrorPolicy = Literal["raise", "skip"] | Callable[[Any, BaseException], Any]


class _Skipped:
    """Marks an item dropped by ``on_error="skip"``; it still occupies its place in order."""

    __slots__ = ()


_SKIPPED = _Skipped()


@dataclass(frozen=True, slots=True)
class Stage:
    """One step of a :class:`Pipeline`: ``fn(item) -> new item``, on its own workers.

    workers: threads of this stage (its own :class:`Pool`, threads named
        ``{pipeline}-{stage}_{n}``).
    queue_size: most items this stage holds at once that can make progress (queued for a
        worker, running, or finished and waiting for the next stage); default
        ``2 * workers``. A full stage stops the one before it: that is the back-pressure,
        all the way back to reading the input.
    max_waiting: how many of the items this stage holds may, *beyond* ``queue_size``, be
        ones that cannot run yet: parked behind their key's ``key_limit`` or ``key_rate``,
        or waiting out a retry's delay; default ``16 * queue_size``. Up to that many such
        items do not count against ``queue_size``, so a slow or failing key does not fill
        the stage and idle workers that other keys' items could use: the stage reads
        past it. Waiting items beyond ``max_waiting`` count against ``queue_size`` again,
        so a stage never holds more than ``queue_size + max_waiting`` items. 0: every
        item counts against ``queue_size``.
    ordered: if True, items leave this stage in input order; if False, as they finish.
    on_error: after retries are used up, ``"raise"`` stops the pipeline and the result
        iterator raises the exception; ``"skip"`` drops the item (logged at WARNING and
        counted in ``StageStatistics.skipped``); a callable ``(item, exc) -> replacement``
        supplies the stage's output for that item (if it raises, that counts as "raise").
        An item whose task was cancelled because the stage's pool was stopped from outside
        the run (the interpreter-exit hook, ``shutdown`` on one of :attr:`PipelineRun.pools`)
        fails with :class:`concurrent.futures.CancelledError` and goes through the policy.
    key, key_limit, key_rate: ``key(item)`` gives the item's key; at most ``key_limit``
        items of a key run at once in this stage and at most ``key_rate`` start per second
        (items over either wait without holding a worker; see ``Pool.submit_task``).
    retry: the stage's :class:`Retry` policy; deadline: seconds per item (see
        ``Pool.submit_task``).
    label: ``label(item)`` names the item's task in events and traces (default: the
        stage's name).
    name: for thread names and statistics (default ``fn.__name__`` + the stage's index).
    returns_future: ``fn(item)`` starts the item's work and returns a
        :class:`concurrent.futures.Future` of the new item, completed later by another
        thread; the stage's worker is free as soon as ``fn`` returns, while the item keeps
        its place in ``queue_size``, its key's slot, its deadline and its retries until
        that future resolves (see ``Pool.submit_task``). Few workers then drive up to
        ``queue_size`` items at once.
    start_inline: with ``returns_future``, an item that may start at once starts in the
        thread that makes it runnable (the one feeding the stage, or the one whose
        finishing item freed its key's slot) instead of being handed to a worker (see
        ``Pool.submit_task``); for an ``fn`` that only starts I/O this saves a thread
        hand-off per item. ``fn`` must be quick and must not block.
    """

    fn: Callable[[Any], Any]
    workers: int = 1
    queue_size: int | None = None
    max_waiting: int | None = None
    ordered: bool = True
    on_error: ErrorPolicy = "raise"
    key: Callable[[Any], Hashable] | None = None
    key_limit: int | None = None
    key_rate: float | None = None
    retry: Retry | None = None
    deadline: float | None = None
    label: Callable[[Any], str] | None = None
    name: str | None = None
    returns_future: bool = False
    start_inline: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"Stage.workers must be >= 1, got {self.workers}")
        if self.queue_size is not None and self.queue_size < 1:
            raise ValueError(f"Stage.queue_size must be None or >= 1, got {self.queue_size}")
        if self.max_waiting is not None and self.max_waiting < 0:
            raise ValueError(f"Stage.max_waiting must be None or >= 0, got {self.max_waiting}")
        if self.start_inline and not self.returns_future:
            raise ValueError("Stage.start_inline needs returns_future=True")
        if not callable(self.on_error) and self.on_error not in ("raise", "skip"):
            raise ValueError(
                f"Stage.on_error must be 'raise', 'skip' or a callable, got {self.on_error!r}"
            )


@dataclass(frozen=True, slots=True)
class StageStatistics:
    """Counters of one stage: items held now (``held``, all of them), of those the ones
    that cannot run yet (``waiting``: behind their key, or for a retry), finished
    (``done``), failed and replaced by the error policy (``replaced``), dropped
    (``skipped``)."""

    name: str
    held: int
    waiting: int
    done: int
    replaced: int
    skipped: int


INTERRUPT_GRACE: Final = 1.0
"""Seconds a run stopped by Ctrl-C waits for its running tasks to see their cancel
token; tasks still running then are left to finish in the background (their results
are dropped), as the interpreter's exit would still wait for them."""


class Pipeline:
    """A sequence of :class:`Stage` s; :meth:`run` streams an iterable through them.

    ``Pipeline([Stage(fetch, workers=8, key=host, key_limit=2, retry=Retry()),
    Stage(parse, workers=2)]).run(urls)`` yields parsed results. Input is read lazily by the
    thread iterating the results, only as the first stage has room, so an endless generator
    runs in bounded memory (an input that can wait long should yield :data:`IDLE` while it
    waits, see there). A Pipeline is a reusable description; each run has its own
    threads.
    """

    def __init__(self, stages: Sequence[Stage], *, name: str = "pipeline") -> None:
        if not stages:
            raise ValueError("a Pipeline needs at least one Stage")
        self.stages = tuple(stages)
        self.name = name

    def run(self, iterable: Iterable[Any]) -> PipelineRun:
        """Start a run over ``iterable``; iterate the result to drive it."""
        return PipelineRun(self, iterable)


class _Parking:
    """What one item of a stage that can park (a key or a retry) owes the stage's
    ``waiting`` count: the sum of the pool's ``on_wait`` calls, until the item settles."""

    __slots__ = ("balance", "settled")

    def __init__(self) -> None:
        self.balance = 0
        self.settled = False


class _StageState:
    __slots__ = (
        "can_park",
        "cap",
        "done",
        "held",
        "name",
        "next_out",
        "parking",
        "pool",
        "ready",
        "replaced",
        "skipped",
        "spec",
        "wait_cap",
        "waiting",
    )

    def __init__(self, spec: Stage, index: int, pipeline: str) -> None:
        self.spec = spec
        self.name = spec.name or f"{getattr(spec.fn, '__name__', 'stage')}{index}"
        self.pool = Pool(
            spec.workers,
            thread_name_prefix=f"{pipeline}-{self.name}",
            key_limit=spec.key_limit,
            retry=spec.retry,
        )
        self.cap = spec.queue_size or 2 * spec.workers
        self.wait_cap = 16 * self.cap if spec.max_waiting is None else spec.max_waiting
        self.held = 0
        # Items parked in the pool (behind a key, or for a retry): held, but not counted
        # against cap. Only a stage with a key or a retry policy can park items.
        self.can_park = spec.key is not None or spec.retry is not None
        self.waiting = 0
        self.parking: dict[int, _Parking] = {}
        # Finished items waiting to move on: by sequence number if ordered, else in order
        # of finishing.
        self.ready: dict[int, Any] | deque[tuple[int, Any]] = {} if spec.ordered else deque()
        self.next_out = 0
        self.done = 0
        self.replaced = 0
        self.skipped = 0

    def full(self) -> bool:
        """No room for another item: what is held, less up to ``wait_cap`` parked items,
        fills ``cap``. (``waiting`` can dip below 0 for a moment: see ``on_wait``.)"""
        exempt = min(max(self.waiting, 0), self.wait_cap)
        return self.held - exempt >= self.cap


class PipelineRun(Iterator[Any]):
    """A running pipeline: an iterator of the last stage's outputs.

    The thread iterating it reads the input (only while the first stage has room), so
    nothing starts before the first ``next()``; once items are in, the stages move them on
    by themselves, up to their ``queue_size``.

    ``close()`` (also on leaving a ``with`` block, and automatically when the results are
    exhausted or an error is raised) cancels what has not started, sets the cancel tokens
    of running items and waits for the stages' threads. Ctrl-C while waiting for a result
    does the same and re-raises KeyboardInterrupt.
    """

    def __init__(self, pipeline: Pipeline, iterable: Iterable[Any]) -> None:
        self._name = pipeline.name
        self._stages = [
            _StageState(spec, i, pipeline.name) for i, spec in enumerate(pipeline.stages)
        ]
        self._input = iter(iterable)
        self._exhausted = False
        self._read = 0  # items read from the input = next sequence number
        self._delivered = 0  # items leaving the last stage (including skipped)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._error: BaseException | None = None
        self._closed = False
        self._pumping = False
        self._sleepers = 0  # threads in self._cond.wait(): notify only when there are any
        self._completions: deque[tuple[int, int, Any, Future[Any]]] = deque()

    # ---- moving items --------------------------------------------------------------------

    def _enter_locked(self, j: int, seq: int, item: Any) -> None:
        """Item ``seq`` enters stage ``j`` (or leaves the pipeline if j is past the end)."""
        stage = self._stages[j]
        stage.held += 1
        if item is _SKIPPED:
            self._finish_locked(j, seq, _SKIPPED)
            return
        spec = stage.spec
        try:
            key = None if spec.key is None else spec.key(item)
            label = stage.name if spec.label is None else spec.label(item)
        except Exception as exc:
            # A failing key or label function fails this item through the stage's error
            # policy. (Raised here, it could be swallowed by a done-callback and the item
            # lost, leaving the run waiting for it forever.)
            failed: Future[Any] = LeanFuture()
            failed.set_exception(exc)
            self._completions.append((j, seq, item, failed))
            return
        on_wait = None
        if stage.can_park:
            parking = stage.parking[seq] = _Parking()
            on_wait = partial(self._on_wait, stage, parking)
        try:
            future = stage.pool.submit_task(
                spec.fn,
                (item,),
                key=key,
                deadline=spec.deadline,
                label=label,
                key_rate=spec.key_rate,
                returns_future=spec.returns_future,
                start_inline=spec.start_inline,
                on_wait=on_wait,
            )
        except RuntimeError as exc:
            # The stage's pool was shut down under the run (e.g. by the interpreter-exit
            # hook after Ctrl-C): stop the run with that error instead of losing the item.
            self._error = self._error or exc
            return
        future.add_done_callback(lambda f: self._on_done(j, seq, item, f))

    def _on_wait(self, stage: _StageState, parking: _Parking, delta: int) -> None:
        """The pool parked (+1) or unparked (-1) an item of ``stage``."""
        with self._lock:
            if parking.settled:
                return  # a late call for an item already settled: its debt was paid
            parking.balance += delta
            stage.waiting += delta
            if delta > 0:
                self._pump_locked()  # room for runnable items: move work on, wake readers

    def _on_done(self, j: int, seq: int, item: Any, future: Future[Any]) -> None:
        with self._lock:
            if self._closed:
                return
            self._completions.append((j, seq, item, future))
            self._pump_locked()

    def _finish_locked(self, j: int, seq: int, value: Any) -> None:
        stage = self._stages[j]
        stage.done += 1
        if isinstance(stage.ready, dict):
            stage.ready[seq] = value
        else:
            stage.ready.append((seq, value))

    def _outcome_locked(self, j: int, seq: int, item: Any, future: Future[Any]) -> None:
        stage = self._stages[j]
        parking = stage.parking.pop(seq, None)
        if parking is not None:
            # Settled while parked (cancelled, shut down) or with calls still to come:
            # take back what the item added to ``waiting``, and ignore later calls.
            parking.settled = True
            stage.waiting -= parking.balance
        cancelled, exc, result = settled_outcome(future)
        if cancelled:
            # Only the stage's pool stopping with cancel_futures behind the run's back (the
            # interpreter-exit hook after Ctrl-C, or shutdown through ``pools``) does this;
            # the item must still leave its place in order, or an ordered stage waits forever.
            exc = CancelledError(f"stage {stage.name}: the item's task was cancelled")
        if exc is None:
            self._finish_locked(j, seq, result)
            return
        policy = stage.spec.on_error
        if policy == "skip":
            stage.skipped += 1
            _log.warning(
                "%s: stage %s skipped item %r: %s: %s",
                self._name,
                stage.name,
                item,
                type(exc).__name__,
                exc,
            )
            self._finish_locked(j, seq, _SKIPPED)
        elif policy == "raise":
            self._error = self._error or exc
        else:
            try:
                replacement = policy(item, exc)
            except BaseException as error:
                self._error = self._error or error
            else:
                stage.replaced += 1
                self._finish_locked(j, seq, replacement)

    def _head_locked(self, j: int) -> int | None:
        """Sequence number that the first ordered stage from ``j`` on needs next."""
        for stage in self._stages[j:]:
            if isinstance(stage.ready, dict):
                return stage.next_out
        return None

    def _releasable_locked(self, j: int) -> Iterator[tuple[int, Any]]:
        """Take items that stage ``j`` may hand on now (in order if it is ordered)."""
        stage = self._stages[j]
        last = j == len(self._stages) - 1
        target = None if last else self._stages[j + 1]
        while True:
            if isinstance(stage.ready, dict):
                if stage.next_out not in stage.ready:
                    return
                seq = stage.next_out
                if target is not None and target.full() and seq != self._head_locked(j + 1):
                    return
                value = stage.ready.pop(seq)
                stage.next_out += 1
            else:
                if not stage.ready:
                    return
                index = 0
                if target is not None and target.full():
                    # Full: only the item an ordered stage downstream is waiting for may
                    # pass, or the buffers could fill with items that can never leave.
                    head = self._head_locked(j + 1)
                    index = next((i for i, (s, _) in enumerate(stage.ready) if s == head), -1)
                    if index < 0:
                        return
                seq, value = stage.ready[index]
                del stage.ready[index]
            stage.held -= 1
            yield seq, value

    def _pump_locked(self) -> None:
        if self._pumping:
            return  # the pump further up this thread's stack will see the new completions
        self._pumping = True
        try:
            while self._completions:
                j, seq, item, future = self._completions.popleft()
                self._outcome_locked(j, seq, item, future)
            if self._error is None:
                for j in range(len(self._stages) - 2, -1, -1):
                    for seq, value in self._releasable_locked(j):
                        self._enter_locked(j + 1, seq, value)
                        while self._completions:
                            c = self._completions.popleft()
                            self._outcome_locked(*c)
        finally:
            self._pumping = False
        if self._sleepers:
            self._cond.notify_all()

    # ---- the consumer side ---------------------------------------------------------------

    def __next__(self) -> Any:
        last = len(self._stages) - 1
        # With one stage, completions are pumped by whoever queues them and nothing moves
        # between stages, so the pump here is needed only for completions queued by
        # _enter_locked itself (a failing key function); with more, items may wait for
        # room that delivering an item makes.
        pump_always = last > 0
        tail = self._stages[last]
        unordered_tail = not isinstance(tail.ready, dict)
        try:
            while True:
                with self._lock:
                    if self._closed:
                        raise StopIteration
                    if pump_always or self._completions:
                        self._pump_locked()
                    if self._error is not None:
                        error = self._error
                        self._close_locked_then_wait()
                        raise error
                    if unordered_tail:
                        # The common case without a generator: take finished items in
                        # the order they finished (nothing downstream to make room in).
                        ready = tail.ready
                        while ready:
                            _, value = ready.popleft()  # type: ignore[union-attr]
                            tail.held -= 1
                            self._delivered += 1
                            if value is not _SKIPPED:
                                if pump_always:
                                    self._pump_locked()
                                return value
                    else:
                        for _, value in self._releasable_locked(last):
                            self._delivered += 1
                            if value is not _SKIPPED:
                                # One item per call; the generator is abandoned after one
                                # step.
                                if pump_always:
                                    self._pump_locked()
                                return value
                    if self._exhausted and self._delivered == self._read:
                        self._close_locked_then_wait()
                        raise StopIteration
                    room = not self._exhausted and not self._stages[0].full()
                    if not room:
                        self._sleepers += 1
                        try:
                            self._cond.wait(wait_slice(None))
                        finally:
                            self._sleepers -= 1
                        continue
                # Read input outside the lock: the iterable may be slow (a file, a socket).
                try:
                    item = next(self._input)
                except StopIteration:
                    with self._lock:
                        self._exhausted = True
                    continue
                except BaseException as exc:
                    with self._lock:
                        self._exhausted = True
                        self._error = self._error or exc
                    continue
                if item is IDLE:
                    continue  # deliver what is ready before asking the input again
                with self._lock:
                    if self._closed:
                        raise StopIteration
                    seq = self._read
                    self._read += 1
                    self._enter_locked(0, seq, item)
                    if pump_always or self._completions:
                        self._pump_locked()
        except KeyboardInterrupt:
            self._shutdown(reason_interrupt=True)
            raise

    def _close_locked_then_wait(self) -> None:
        self._lock.release()
        try:
            self._shutdown(reason_interrupt=False)
        finally:
            self._lock.acquire()

    def _shutdown(self, *, reason_interrupt: bool, timeout: float | None = None) -> bool:
        """Close the run, cancel what has not started, set running tasks' tokens (reason
        ``"interrupt"`` or ``"shutdown"``), and wait up to ``timeout`` seconds (None: as
        long as it takes; Ctrl-C: :data:`INTERRUPT_GRACE`) for the stages' threads. True
        if they all exited (or the run was already closed)."""
        with self._lock:
            already = self._closed
            self._closed = True
            self._cond.notify_all()
        if already:
            return True
        for stage in self._stages:
            if reason_interrupt:
                stage.pool._interrupt()
            else:
                stage.pool.shutdown(wait=False, cancel_futures=True)
        if reason_interrupt and timeout is None:
            # A task that does not check its cancel token (a long parse) must not hold
            # the user for its whole run after Ctrl-C: wait a moment, then leave it.
            timeout = INTERRUPT_GRACE
        deadline = None if timeout is None else time.monotonic() + timeout
        joined = [stage.pool._join(deadline) for stage in self._stages]  # each, no short cut
        return all(joined)

    def close(self, timeout: float | None = None) -> bool:
        """Stop the run: cancel pending items, set running items' cancel tokens, and wait
        up to ``timeout`` seconds (None: as long as it takes) for the stages' threads to
        exit. Returns True if they did; False leaves the tasks still running to finish in
        the background (their results are dropped). Later calls return True at once."""
        return self._shutdown(reason_interrupt=False, timeout=timeout)

    def __enter__(self) -> PipelineRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """Close the run (see :meth:`close`); after Ctrl-C, wait only
        :data:`INTERRUPT_GRACE` seconds for running tasks."""
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        self._shutdown(reason_interrupt=interrupted)

    def statistics(self) -> list[StageStatistics]:
        """A :class:`StageStatistics` per stage, in order."""
        with self._lock:
            return [
                StageStatistics(s.name, s.held, max(s.waiting, 0), s.done, s.replaced, s.skipped)
                for s in self._stages
            ]

    @property
    def pools(self) -> tuple[Pool, ...]:
        """The stages' pools, in order (for statistics, events and traces)."""
        return tuple(s.pool for s in self._stages)
