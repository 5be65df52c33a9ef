"""Pool: a ThreadPoolExecutor drop-in with back-pressure, per-key limits, retries,
deadlines, timers, cooperative cancellation, statistics and events.

This module is the public face: arguments, their checks and their documentation. The
machinery is below it: :mod:`._engine` (a task's moves), :mod:`._ledger` (state, books,
shutdown), :mod:`._keys` (per-key admission), :mod:`._worker` (the worker loop),
:mod:`._accounting` (counters, statistics, events), :mod:`._task` (the task record) and
:mod:`._exit` (interpreter exit).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Executor
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from ._engine import PoolEngine
from ._events import Listener, PoolStatistics
from ._future import TaskFuture
from ._ledger import WhenFull
from ._mapping import MapRun
from ._retry import Retry
from ._threads import worker_local
from ._throttle import Throttle
from ._timers import TimerHandle

__all__ = ["Pool", "WhenFull"]

_T = TypeVar("_T")
_P = ParamSpec("_P")


class Pool(PoolEngine, Executor):
    """A thread pool that is a drop-in :class:`concurrent.futures.ThreadPoolExecutor`.

    ``max_workers``, ``thread_name_prefix``, ``initializer`` and ``initargs`` mean what they
    mean for ThreadPoolExecutor: at most ``max_workers`` threads (default
    ``min(32, cpu_count + 4)``), started on demand, reused, named ``{prefix}_{n}`` (the
    prefix defaults to ``Pool-N``); a failing ``initializer`` is logged as there (CRITICAL
    on the ``concurrent.futures`` logger) and breaks the pool (:class:`BrokenPool`, a
    ``BrokenThreadPool``; a running map ends with it too). With only those arguments the
    pool behaves as ThreadPoolExecutor does.

    Keyword-only additions:

    max_queued: bound on tasks submitted but not yet started (in the run queue or behind
        a full key). None (default) means unbounded, as in the standard library.
    when_full: what ``submit`` does when ``max_queued`` tasks are waiting:
        ``"block"`` waits (no timeout; Ctrl-C interrupts it; shutdown ends it with
        RuntimeError), ``"raise"`` raises :class:`PoolFull`, ``"caller_runs"`` runs the
        task's first attempt in the calling thread and returns its already-resolved future
        (keyed tasks block instead: running them inline would break the key's limit).
        A submit from one of this pool's own threads never waits: with ``"block"`` the task
        is queued beyond the bound, because a worker waiting for room that only workers can
        make is a deadlock.
    key_limit: default cap on concurrently running tasks per key (None: no cap).
    retry: default :class:`Retry` policy for ``submit_task`` (None: no retries).
    name: the pool's name for logs and traces (defaults to the thread name prefix).
    raise_unread: if True, leaving a ``with`` block normally calls :meth:`raise_failures`
        after the shutdown, so failures nobody read are not lost.
    throttle: a :class:`Throttle` every key follows (see :meth:`set_throttle`).
    """

    _counter = itertools.count().__next__

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_queued: int | None = None,
        when_full: WhenFull = "block",
        key_limit: int | None = None,
        retry: Retry | None = None,
        name: str | None = None,
        raise_unread: bool = False,
        throttle: Throttle | None = None,
    ) -> None:
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_queued is not None and max_queued < 1:
            raise ValueError(f"max_queued must be None or >= 1, got {max_queued}")
        if when_full not in ("block", "raise", "caller_runs"):
            raise ValueError(
                f"when_full must be 'block', 'raise' or 'caller_runs', got {when_full!r}"
            )
        if key_limit is not None and key_limit < 1:
            raise ValueError(f"key_limit must be None or >= 1, got {key_limit}")
        prefix = thread_name_prefix or f"Pool-{self._counter()}"
        PoolEngine.__init__(
            self,
            max_workers,
            prefix,
            name or prefix,
            initializer,
            initargs,
            max_queued,
            when_full,
            key_limit,
            retry,
            raise_unread,
            throttle,
        )

    # ---- submission ------------------------------------------------------------------

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> TaskFuture[_T]:
        """Schedule ``fn(*args, **kwargs)``; return its :class:`TaskFuture`.

        As ``Executor.submit``, plus the pool's default retry policy and back-pressure.
        Raises RuntimeError after shutdown, :class:`BrokenPool` if an initializer failed,
        :class:`PoolFull` when full with ``when_full="raise"``.
        """
        return self._submit(fn, args, kwargs, self._retry)

    def submit_task(
        self,
        fn: Callable[..., _T],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        key: Hashable | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        label: str | None = None,
        key_limit: int | None = None,
        key_rate: float | None = None,
        returns_future: bool = False,
        start_inline: bool = False,
        on_wait: Callable[[int], None] | None = None,
        priority: int = 0,
    ) -> TaskFuture[_T]:
        """Schedule ``fn(*args, **kwargs)`` with the pool's extra controls.

        priority: among tasks waiting to start, a higher ``priority`` starts first and
            equal priorities start in submission order (default 0). It holds in the run
            queue, among the tasks parked behind a key (a key's next slot goes to its
            highest-priority task), and for retries (a retry keeps its priority and its
            place by submission order). It does not preempt: a running task runs on.
            Starvation: while higher-priority tasks keep arriving faster than the workers
            finish them, lower-priority tasks wait (there is no ageing). A pool in which
            no task ever has a non-zero priority keeps its plain FIFO queues and pays
            nothing for the option; the first non-zero priority switches it to a heap.

        key: tasks with the same key run at most ``limit`` at a time, where the limit is
            ``set_key_limit(key, ...)`` if given, else this call's ``key_limit``, else the
            pool's ``key_limit`` (None everywhere: no cap). The limit is checked when a
            worker reaches the task in the run queue: if the key is full, the task moves to
            that key's FIFO queue without holding the worker, and a finishing task of the
            key hands its slot to the next one there, which then runs ahead of the run
            queue (it already waited its turn).
        retry: the retry policy (default: the pool's ``retry``). A failed attempt is
            re-scheduled on the pool's scheduler after the policy's delay; the future
            resolves once, with the final result or the last exception, and
            ``future.attempts`` says how many attempts ran.
        deadline: seconds from now. When it passes before the task is resolved, the
            future fails with :class:`TimeoutError` and the task's token is set. The
            thread running the attempt cannot be stopped: it goes on until the task checks
            :func:`cancel_requested` or returns, and its result is discarded; until then it keeps
            its worker (and its key's slot). No retry starts after the deadline.
        key_rate: at most this many tasks of the key start per second (evenly spaced,
            1/key_rate apart); tasks over the rate wait like tasks of a full key, and the
            scheduler releases them. Fixed by the first task that brings the key into use.
        label: a name for events and traces (default: ``fn.__name__``).
        returns_future: if True, ``fn`` starts the work and returns a
            :class:`concurrent.futures.Future` (the *inner* future) that something else
            completes later, from any thread (an I/O driver, another pool). The worker is
            free as soon as ``fn`` returns; the attempt stays running until the inner
            future resolves: it keeps its key's slot (``key_limit`` and ``key_rate`` still
            hold), counts as ``running`` in :meth:`statistics`, its deadline stays armed
            and its token is set by ``cancel()``, shutdown and the deadline (``fn`` runs
            with the token current, so it can hand ``current_token()`` to whatever
            completes the inner future). The inner future's result becomes the task's
            result; its exception goes through the retry policy exactly as if ``fn`` had
            raised it (re-scheduled on the scheduler, Retry-After honoured), and an inner
            future that ends cancelled counts as an attempt that raised
            :class:`concurrent.futures.CancelledError`. ``fn`` raising is handled as
            without this flag. ``fn`` returning anything but a Future fails the task at
            once (no retry) with :class:`TypeError`. The attempt's ``"finish"`` event is
            emitted on the thread that resolves the inner future, at that time, but names
            the worker that started the attempt (so a trace span runs from start to
            resolution on that worker's track). ``shutdown(wait=True)`` waits for inner
            futures; ``cancel_futures=True`` (and Ctrl-C) also calls ``cancel()`` on them.
            The inner future's done-callback does the settling (a lock, the key release,
            the task future's own callbacks), so it runs on the resolving thread.
        start_inline: only with ``returns_future``: an attempt that may start at once (its
            key has room) starts in the thread that made it runnable instead of going
            through the run queue to a worker: in ``submit_task`` itself, or in the thread
            whose finishing task freed the key's slot (a parked task; the pool's scheduler
            thread when the key's rate lets it start; the caller of ``set_key_limit``).
            Retries start on workers. That saves a hand-off to a
            worker thread per task, which is most of the pool's cost when ``fn`` only
            starts I/O (an ``HttpClient.submit``); ``fn`` must then be quick and must not
            block, since it runs on threads it does not own. Events name the thread that
            started the attempt. Ignored when the pool is full under
            ``when_full="caller_runs"`` (the task then runs in the caller anyway).
        on_wait: ``on_wait(+1)`` is called when the task starts waiting without being
            runnable (parked behind its key's limit or rate, or waiting for a retry's
            delay) and ``on_wait(-1)`` when a worker picks it up again (it may then park
            once more). It is called outside the pool's lock, from whichever thread made
            the change, so calls for one task can arrive out of order (a -1 before its
            +1): sum them. A task settled while parked (cancelled, timed out, shut down)
            gets no -1; its sum is then what was still owed. Exceptions it raises are
            logged and ignored. A pipeline uses it so that items waiting behind a busy key
            or for a retry do not take the room that runnable work needs.
        """
        if key_rate is not None and not key_rate > 0:
            raise ValueError(f"key_rate must be > 0 tasks/s, got {key_rate}")
        if deadline is not None and deadline < 0:
            raise ValueError(f"deadline must be >= 0 seconds, got {deadline}")
        if start_inline and not returns_future:
            raise ValueError("start_inline needs returns_future=True (fn must only start work)")
        return self._submit(
            fn,
            args,
            kwargs or {},
            self._retry if retry is None else retry,
            key=key,
            deadline=deadline,
            label=label,
            key_limit=key_limit,
            key_rate=key_rate,
            returns_future=returns_future,
            start_inline=start_inline,
            on_wait=on_wait,
            priority=priority,
        )

    def set_key_limit(self, key: Hashable, limit: int | None) -> None:
        """Cap concurrently running tasks of ``key`` at ``limit`` (None: back to default).

        Applies to tasks dispatched from now on; raising a limit releases waiting tasks
        at once. Explicit limits are kept until reset with None.
        """
        if limit is not None and limit < 1:
            raise ValueError(f"key limit must be None or >= 1, got {limit}")
        with self._lock:
            self._start_successors_locked(self._gate.set_limit(key, limit))
        if self._released:
            self._start_released()

    def set_key_rate(self, key: Hashable, rate: float) -> None:
        """Start at most ``rate`` tasks of ``key`` per second from now on, replacing the
        ``key_rate`` its tasks were submitted with (a crawler learns a host's
        Crawl-delay only once it has read that host's robots.txt).

        Kept for the pool's life: keys come and go, and a key that comes back uses this
        rate. For a key whose state is kept (tasks running or waiting, or a start
        within its last interval), the next start is 1/``rate`` after the last one: a
        slower rate holds waiting tasks back longer, a faster one releases them sooner.
        A key without state, or whose tasks had no rate, may start its next task at
        once. Raises ValueError unless ``rate`` > 0.
        """
        if not rate > 0:  # "not >": nan too
            raise ValueError(f"key rate must be > 0 tasks/s, got {rate}")
        with self._lock:
            self._start_successors_locked(self._gate.set_rate(key, rate))
        if self._released:
            self._start_released()

    def set_throttle(self, throttle: Throttle | None) -> None:
        """Adapt the concurrency of every key to how its tasks fare, under ``throttle``
        (None: no default; keys already throttled keep their state).

        For each key (one without its own :meth:`set_key_throttle`) a
        :class:`KeyThrottle` starts at ``throttle.initial_limit`` and sees every finished
        attempt of the key's tasks (start, end, exception): slow or overloaded attempts
        cut the key's limit, healthy ones raise it (see :class:`Throttle`). Its
        decisions replace the key's limit (as :meth:`set_key_limit` would: the policy's
        ``max_limit`` is the ceiling, and an explicit limit is overwritten by the next
        decision) and add a spacing between starts at the floor (the longer of it and
        the key's rate holds). Each decision is a ``"throttle"`` :class:`TaskEvent`.
        A key's state is kept for the pool's life.
        """
        self._throttles.set_default(throttle)

    def set_key_throttle(self, key: Hashable, throttle: Throttle | None) -> None:
        """Give ``key`` its own :class:`Throttle` (None: none, whatever the default),
        starting afresh from its ``initial_limit``; see :meth:`set_throttle`. With None
        the key goes back to its limit without a throttle, and loses its spacing."""
        controller = self._throttles.set_key(key, throttle)
        with self._lock:
            if controller is None:
                self._apply_throttle_locked(key, None, 0.0)
            else:
                self._apply_throttle_locked(key, controller.limit, controller.interval)
        if self._released:
            self._start_released()

    def resize(self, max_workers: int) -> None:
        """Change the pool's ``max_workers`` from now on.

        Growing takes effect at once: a thread starts for each task already waiting, up
        to the new maximum, and later work starts threads on demand as before. Shrinking
        never interrupts a task: each worker in excess leaves when it is about to take
        its next item (an idle one at once), so the pool reaches the new size as its
        busy workers finish their current tasks. :meth:`statistics` shows the target
        (``max_workers``) and the threads alive (``workers``). Thread names keep their
        scheme, ``{prefix}_{n}``, with ``n`` counting every thread the pool has started
        (a number is never reused). A map already running keeps the number of pullers
        it started with. Safe from any thread, a task of this pool included (that task's
        worker may then be one that leaves, after the task). Raises ValueError unless
        ``max_workers`` >= 1, RuntimeError after shutdown.
        """
        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")
        with self._lock:
            self._check_open_locked()
            self._resize_locked(max_workers)

    # ---- events ------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every :class:`TaskEvent` from now on.

        Listeners run synchronously on the thread where the event happens (a worker, the
        scheduler, or a submitting thread), so they must be quick and thread-safe; an
        exception from a listener is logged and ignored. Returns a function that
        unsubscribes. With no listener the pool pays one attribute check per attempt.
        """
        return self._events.subscribe(listener)

    # ---- statistics and failures ---------------------------------------------------------

    def statistics(self) -> PoolStatistics:
        """A :class:`PoolStatistics` snapshot (consistent counters; busy times approximate)."""
        with self._lock:
            return self._counts.snapshot(
                max_workers=self._max_workers,
                threads=self._threads,
                workers=self._workers,
                awaiting=len(self._awaiting),
                waiting_retry=len(self._retrying),
                keys=len(self._gate),
            )

    def unread_failures(self) -> list[BaseException]:
        """Exceptions of failed futures nobody has read yet, oldest first (marks nothing)."""
        futures = sorted(self._unread.copy().items())
        return [exc for _, f in futures if (exc := f._exception) is not None]

    def raise_failures(self) -> None:
        """Raise an ExceptionGroup of every failure nobody read; then they count as read.

        A failure is read once its future's ``result()`` or ``exception()`` delivered it.
        Returns None if there is nothing unread. (A BaseExceptionGroup if some task raised
        a BaseException such as KeyboardInterrupt.)
        """
        futures = sorted(self._unread.copy().items())
        errors: list[BaseException] = []
        for _, future in futures:
            future._mark_read()
            if future._exception is not None:
                errors.append(future._exception)
        if errors:
            raise BaseExceptionGroup(
                f"{len(errors)} unread task failure(s) in pool {self.name!r}", errors
            )

    # ---- timers --------------------------------------------------------------------------

    def after(self, delay: float, fn: Callable[..., object], *args: object) -> TimerHandle:
        """Run ``fn(*args)`` once on a worker, ``delay`` seconds from now; see
        :class:`TimerHandle`."""
        return self._timer(delay, None, fn, args)

    def every(self, interval: float, fn: Callable[..., object], *args: object) -> TimerHandle:
        """Run ``fn(*args)`` on a worker every ``interval`` seconds (first run after one
        interval) until cancelled or shutdown. See :class:`TimerHandle` for overlap and errors."""
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        return self._timer(interval, interval, fn, args)

    def _timer(
        self,
        delay: float,
        interval: float | None,
        fn: Callable[..., object],
        args: tuple[object, ...],
    ) -> TimerHandle:
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")

        def submit() -> TaskFuture[object]:
            return self._submit(
                fn,
                args,
                {},
                key=None,
                retry=None,
                deadline=None,
                label=None,
                key_limit=None,
                internal=True,
            )

        timer = TimerHandle(self._scheduler, submit, delay, interval)
        with self._lock:
            self._check_open_locked()
            self._timers.add(timer)
            timer._arm()
        return timer

    # ---- map -----------------------------------------------------------------------------

    def map(
        self,
        fn: Callable[..., _T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
        priority: int = 0,
    ) -> Iterator[_T]:
        """``Executor.map``: results in input order.

        Without ``buffersize`` every input is read and its work scheduled before ``map``
        returns, and all of it runs even if the results are never read (the Executor
        contract). With ``buffersize`` (as in Python 3.14) input is read lazily and at most
        ``buffersize`` items are outstanding (scheduled but not yet yielded).
        ``timeout`` counts from the call, as in the standard library. Closing the iterator
        early cancels what has not started. ``chunksize`` is accepted for compatibility and
        ignored: items are dispatched in chunks sized automatically from measured run time
        (tiny tasks share one dispatch; slow ones go one at a time), with no Future per item.
        An item's exception is raised when its result would have been yielded.
        ``priority`` ranks the whole call's work against the pool's other tasks, as
        ``submit_task``'s ``priority`` does (items of one map keep their order).
        """
        if buffersize is not None and (not isinstance(buffersize, int) or buffersize < 1):
            raise ValueError(f"buffersize must be None or an integer > 0, got {buffersize!r}")
        del chunksize
        source = zip(*iterables, strict=False)
        if buffersize is None:
            return self._start_map(fn, list(source), True, None, timeout, priority)
        return self._start_map(fn, source, True, buffersize, timeout, priority)

    def imap(
        self,
        fn: Callable[[Any], _T],
        iterable: Iterable[Any],
        *,
        buffersize: int | None = None,
        priority: int = 0,
    ) -> Iterator[_T]:
        """Lazy ``map`` of a one-argument ``fn``: results in input order.

        Input is read as results are consumed, at most ``buffersize`` items ahead
        (default ``max(256, 8 * max_workers)``), so an endless generator runs in constant
        memory. The input iterator is advanced by worker threads, one at a time, without
        blocking this iterator (``cancel_requested()`` is true there once the map stops); an
        exception it raises is re-raised by this iterator after the results before it.
        ``priority``: as for :meth:`map`.
        """
        return self._start_map(
            fn, _single(iterable), True, buffersize or self._default_buffer(), None, priority
        )

    def imap_unordered(
        self,
        fn: Callable[[Any], _T],
        iterable: Iterable[Any],
        *,
        buffersize: int | None = None,
        priority: int = 0,
    ) -> Iterator[_T]:
        """As :meth:`imap` but yields results in completion order, so one slow item never
        holds back the others (the fix for joining threads in FIFO order)."""
        return self._start_map(
            fn, _single(iterable), False, buffersize or self._default_buffer(), None, priority
        )

    def _default_buffer(self) -> int:
        return max(256, 8 * self._max_workers)

    def _start_map(
        self,
        fn: Callable[..., _T],
        source: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]],
        ordered: bool,
        limit: int | None,
        timeout: float | None,
        priority: int = 0,
    ) -> Iterator[_T]:
        run: MapRun[_T] = MapRun(self, fn, source, ordered=ordered, limit=limit, timeout=timeout)
        run.priority = priority
        with self._lock:
            self._check_open_locked()
            self._maps.add(run)
            if isinstance(source, list):
                self._counts.submitted += len(source)
                self._counts.outstanding += len(source)
        run.spawn()
        return run.results()

    # ---- shutdown ------------------------------------------------------------------------

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; as ``Executor.shutdown``.

        Timers are cancelled. Work already accepted (queued tasks, waiting retries, map
        items) still runs unless ``cancel_futures`` is true, which cancels everything not
        started and sets the cancel token of every running task. With ``wait`` the call
        returns when all workers have exited, except when called from one of this pool's
        workers (a task, or a done-callback run there): that would wait for itself, so
        it returns at once and the workers leave when their work is done.
        Ctrl-C while waiting cancels as ``cancel_futures`` does and re-raises
        KeyboardInterrupt.
        """
        self._stop(cancel_futures=cancel_futures, reason="shutdown")
        if wait and worker_local.pool is self:
            # Called by a task of this pool, or a done-callback its worker runs: the
            # workers leave only after this very task, so waiting would never end.
            return
        if wait:
            try:
                self._join()
            except KeyboardInterrupt:
                self._interrupt()
                raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """Shut down and wait. On an exception, cancel what has not started and set the
        tokens of running tasks first, so the block does not wait for queued work
        (cpython#130975). With ``raise_unread``, a clean exit raises unread failures."""
        if exc_type is not None:
            self._stop(
                cancel_futures=True,
                reason="interrupt" if issubclass(exc_type, KeyboardInterrupt) else "shutdown",
            )
        self.shutdown(wait=True)
        if exc_type is None and self._raise_unread:
            self.raise_failures()

    def __repr__(self) -> str:
        state = "shut down" if self._shutdown else "open"
        return f"<Pool {self.name!r} {state}, max_workers={self._max_workers}>"


def _single(iterable: Iterable[Any]) -> Iterator[tuple[Any]]:
    return ((item,) for item in iterable)
