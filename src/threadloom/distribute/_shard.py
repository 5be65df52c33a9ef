"""The worker side of a scaled-out fetch: one shard of URLs, fetched by the ordinary
fetch job, recorded in one of two ways.

A shard is a list of URLs the client took from the run's store (still to do there) and
the time it took them (``since``). Where its outcomes go:

- the run's store itself (`ShardTask.store` set; ``--processes``): the worker opens it
  as one more writer (`open_store(..., shared=True)`: SQLite lets the client and the
  workers write the same file, one transaction at a time) and records each outcome
  there, so every body is written once. A worker killed mid-shard loses only what it
  had not committed: those URLs are still to do in the run's store, and the task, run
  again by Dask, fetches exactly the shard's URLs not recorded since ``since``
  (`shard_todo`). A first attempt fetches the URLs as the client took them, without
  looking them up (13 ms of a worker's CPU a shard of 2,000 at 100,000 URLs, 23 ms
  before its first request): it tells itself from a later one by creating the shard's
  directory, which an earlier attempt created (the client removes them when the
  cluster is closed: Dask runs a finished task again while its result is wanted and
  the worker holding it dies). The shard reports what it recorded
  (`ShardResult.tally`): its own counts on a first attempt, `shard_tally` on a later one.
- a shard store of its own (``shard.db`` in `ShardTask.directory`, SQLite; ``--cluster``
  and JSON-lines stores): the worker runs `FetchJob` on the shard's URLs there and the
  client then records the shard's outcomes into the run's store (``_merge.py``). A
  worker killed mid-shard loses nothing: the shard's URLs are still pending in the
  run's store, and the task, run again on another worker, resumes the shard store
  where the dead one stopped (its committed outcomes are kept; its lock, a ``flock``,
  died with it).

Either way the shard runs with its share of the politeness budget (``_plan.py``).

Progress: every outcome the job records is counted, and the counts go to the client
as small Dask events (``Worker.log_event`` on the run's topic) at most every
`PROGRESS_INTERVAL` seconds, plus once at the end, so the client's bar follows every
worker's documents as they finish, not shard by shard.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from threadloom.core import Pool, Span, TraceRecorder
from threadloom.distribute._profiler import stop_deadlocking_profiler
from threadloom.jobs import FetchJob, FetchOptions, InputReader, PendingFollower, RunTrace
from threadloom.store import (
    ShardTally,
    State,
    Store,
    UrlRecord,
    open_store,
    shard_tally,
    shard_todo,
)
from threadloom.transport import HttpClient

SHARD_STORE: Final = "shard.db"
"""The shard store's file name inside its shard directory."""

SHARED_BATCH: Final = 1024
"""Outcomes per transaction of a worker writing the run's store: the writers take turns
at SQLite's one write lock, so fewer, larger transactions mean fewer turns to wait for
(a transaction of 1,024 small documents holds the lock for a few milliseconds)."""

PROGRESS_INTERVAL: Final = 0.25
"""Seconds between two progress events of one shard: the bar stays well within a
second of the workers, for at most a few events per second per worker."""


@dataclass(frozen=True, slots=True)
class ShardTask:
    """What a worker needs to run one shard: its number, its directory (on a file system
    the worker can reach; for its shard store), its URLs, the fetch options with this
    shard's share of the per-host budget already applied, whether to record a trace,
    and the Dask event topic progress goes to (None: no progress events).

    ``store``: the run's store (a SQLite or directory store on this machine), to record
    into directly instead of a shard store (``directory`` then only marks that an
    attempt started), ``since``: the time (``time.time()``) the client took the URLs
    from it, and ``records``: each URL's ``(seq, url, state, attempts)`` as the client
    took it (what a first attempt fetches; plain tuples, which pickle ~15 times faster
    than `UrlRecord`); empty: every attempt looks its URLs up.
    """

    number: int
    directory: str
    urls: tuple[str, ...]
    options: FetchOptions
    record_trace: bool = False
    topic: str | None = None
    store: str | None = None
    since: float = 0.0
    records: tuple[tuple[int, str, str, int], ...] = ()
    # ``urls`` too with ``records``: a later attempt looks them up (pickle sends each
    # URL string once).


@dataclass(frozen=True, slots=True)
class ShardResult:
    """What one shard did: its number and directory, the URLs it finished, the worker
    process that ran it (``worker``: the Dask worker's name; ``pid``), whether Ctrl-C or
    a shutdown stopped it early, and the trace spans it recorded, on the wall clock
    (``time.time()``), for the client to put on its own clock. ``tally``: what the
    shard's URLs have recorded in the run's store since ``ShardTask.since``, all its
    attempts together, committed (a shard recording there); None for a shard store."""

    number: int
    directory: str
    finished: int
    worker: str
    pid: int
    interrupted: bool = False
    spans: tuple[Span, ...] = ()
    tally: ShardTally | None = None


class _ProgressSender:
    """Counts outcomes and sends the counts not yet sent as one Dask event, at most
    every `PROGRESS_INTERVAL` seconds (called on the job's consuming thread only)."""

    def __init__(self, topic: str | None, shard: int) -> None:
        self._topic = topic
        self._shard = shard
        self._done = self._failed = self._bytes = 0
        self._sent = ShardTally()  # the counts as of the last event
        self._last = time.monotonic()
        self._worker = _current_worker() if topic is not None else None

    @property
    def counted(self) -> ShardTally:
        """Every outcome counted so far, sent or not."""
        return ShardTally(self._done, self._failed, self._bytes)

    def __call__(self, done: bool, size: int) -> None:
        if done:
            self._done += 1
            self._bytes += size
        else:
            self._failed += 1
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self.send()

    def send(self) -> None:
        counted, sent = self.counted, self._sent
        if self._worker is None or counted == sent:
            return
        message = {
            "shard": self._shard,
            "done": counted.done - sent.done,
            "failed": counted.failed - sent.failed,
            "bytes": counted.bytes - sent.bytes,
        }
        self._sent = counted
        assert self._topic is not None
        try:
            self._worker.log_event(self._topic, message)
        except Exception:
            self._worker = None


def _current_worker() -> Any:
    """The Dask worker running this task, or None outside one (a direct call)."""
    try:
        from distributed import get_worker  # noqa: PLC0415 - worker side only

        return get_worker()
    except ValueError:
        return None


def worker_name() -> str:
    """The name of the Dask worker running the caller (its ``name``), else ``pid N``."""
    worker = _current_worker()
    return f"pid {os.getpid()}" if worker is None else f"worker {worker.name}"


def run_shard(task: ShardTask) -> ShardResult:
    """Fetch the shard's URLs, record them (in the run's store when ``task.store`` is
    set, else in its shard store) and return what it did (the Dask task).

    Runs on a Dask worker (or anywhere: it needs nothing of Dask but progress). A shard
    store is created in ``task.directory``, or resumed if an earlier attempt at this
    shard left one (a worker killed mid-shard): its done URLs are not fetched again; in
    the run's store an attempt fetches what `SharedShardJob` finds still to do. Raises
    what the job raises for a store that cannot be used (Dask retries the task).
    """
    # Before the shard starts any thread: see _profiler.py.
    stop_deadlocking_profiler(_current_worker())
    sender = _ProgressSender(task.topic, task.number)
    tally = None
    if task.store is not None:
        finished, interrupted, trace, tally = SharedShardJob(task, sender).run_shard()
    else:
        Path(task.directory).mkdir(parents=True, exist_ok=True)
        job = FetchJob(
            Path(task.directory) / SHARD_STORE,
            task.options,
            progress="quiet",
            record_trace=task.record_trace,
            on_outcome=sender,
        )
        result = job.run(list(task.urls))
        finished, interrupted, trace = (
            result.summary.finished_this_run,
            result.summary.interrupted,
            result.trace,
        )
    sender.send()
    name = worker_name()
    spans: tuple[Span, ...] = ()
    if trace is not None:
        # Monotonic clocks differ between processes (and machines): the wall clock is
        # what the client can line the workers up on.
        shift = time.time() - time.monotonic()
        spans = tuple(
            replace(
                span, start=span.start + shift, end=span.end + shift, pool=f"{span.pool}@{name}"
            )
            for span in trace.spans
        )
    return ShardResult(
        number=task.number,
        directory=task.directory,
        finished=finished,
        worker=name,
        pid=os.getpid(),
        interrupted=interrupted,
        spans=spans,
        tally=tally,
    )


class SharedShardJob(FetchJob):
    """The fetch pass of `FetchJob` over one shard's URLs still to do in the run's store,
    recording into that store as a shared writer (the ``store`` mode of `ShardTask`).

    Only the fetch pass: the client reads the input, processes earlier runs' documents
    and names the processor; a shard fetches (and processes what it fetches)."""

    def __init__(self, task: ShardTask, on_outcome: _ProgressSender) -> None:
        assert task.store is not None
        super().__init__(
            task.store,
            task.options,
            progress="quiet",
            record_trace=task.record_trace,
            on_outcome=on_outcome,
        )
        self._task = task
        self._sender = on_outcome
        self._first_attempt = False  # set by _to_fetch

    def run_shard(self) -> tuple[int, bool, RunTrace | None, ShardTally]:
        """Fetch and record the shard; return how many URLs finished, whether it was
        interrupted, the trace (if asked for) and `ShardResult.tally`. Raises
        `StoreError` for a store that cannot be opened (its client has stopped, ...):
        Dask retries the task."""
        started = time.monotonic()
        recorders: list[TraceRecorder] = []

        def record_trace(pools: tuple[Pool, ...]) -> None:
            if self._record_trace:
                recorders.append(TraceRecorder(*pools))

        client = self._client = HttpClient(self._transport, max_transfers=self._options.jobs)
        try:
            store = open_store(self._store_path, shared=True, max_batch=SHARED_BATCH)
        except BaseException:
            client.close()
            raise
        self._store = store
        trace = None
        try:
            try:
                finished, _, interrupted = self._fetch_pass(store, None, record_trace)
            finally:
                if recorders:
                    recorders[0].close()
                    trace = RunTrace(recorders[0], origin=started)
            store.flush()
            task = self._task
            if self._first_attempt:
                tally = self._sender.counted
            else:  # earlier attempts may have recorded some of the URLs
                tally = shard_tally(store, task.urls, task.since)
        finally:
            store.close()
            client.close()
        return finished, interrupted, trace, tally

    def _to_fetch(self, store: Store, reader: InputReader | None) -> PendingFollower:
        task = self._task
        self._first_attempt = bool(task.records) and _claim(task.directory)
        if self._first_attempt:
            records = [UrlRecord(seq, url, State(state), n) for seq, url, state, n in task.records]
        else:
            records = shard_todo(store, task.urls, task.since)
        return _ShardSource(store, records)


def _claim(directory: str) -> bool:
    """Create ``directory`` (and its parents); False if it exists already: an earlier
    attempt at the shard created it. Raises `OSError` if it cannot be created (nothing
    is fetched then, and Dask retries the task): every attempt that fetches leaves the
    mark, so that no later one takes itself for the first."""
    try:
        Path(directory).mkdir(parents=True)
    except FileExistsError:
        return False
    return True


class _ShardSource(PendingFollower):
    """A `PendingFollower` over a fixed list of records: a shard's URLs still to do."""

    def __init__(self, store: Store, records: list[UrlRecord]) -> None:
        super().__init__(store, True, None)
        self._records = records
        self.total = len(records)

    def __iter__(self) -> Iterator[UrlRecord | object]:
        for record in self._records:
            self.yielded += 1
            yield record


def probe_directory(directory: str, token: str) -> bool:
    """Whether ``directory``/``.probe`` holds ``token`` as seen from here (a worker): the
    client writes it there to check every worker reaches the store's file system."""
    try:
        return (Path(directory) / ".probe").read_text(encoding="utf-8") == token
    except OSError:
        return False
