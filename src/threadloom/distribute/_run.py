"""The client side of a scaled-out fetch: the same job as `FetchJob`, its fetching done
by Dask workers shard by shard.

The flow::

    input lines --InputReader--> run's store (pending) --PendingFollower--> ShardCutter
    --submit (at most Plan.in_flight shards not finished)--> Dask workers: run_shard

    shared store (--processes, a SQLite or directory store): each worker records into
    the run's store itself (a shared writer); each shard reports what it recorded
    (ShardResult.tally); the client removes the shards' marker directories at the end
    shard stores (--cluster, or a JSON-lines store): each worker records into a shard
    store of its own; as each shard finishes, merge_shard: outcomes recorded into the
    run's store, shard directory removed

The client thread reads input, cuts shards and counts or merges; it never fetches.
The shared store writes every body once, where the shard stores write it twice (the
second time on the client, serially); it needs the workers on this machine, since
SQLite's locks between processes are unreliable on network file systems, so a
``--cluster`` run keeps shard stores (measured: benchmarks/README.md). Input goes
through the run's store exactly as in a single-process run (so invalid lines,
duplicates, resume and ``--skip-failed`` behave the same), and summary, status, export,
trace and report read the same store. Shard tasks are retried by Dask (``retries``),
and a worker process that dies mid-shard has its task run again elsewhere by the
scheduler; either way the new attempt fetches only what the shard has not recorded.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import distributed

from threadloom.core import IDLE, Span, TraceRecorder
from threadloom.distribute._cluster import Cluster, ClusterUnavailable, start
from threadloom.distribute._merge import Merged, merge_leftovers, merge_shard, shards_root
from threadloom.distribute._plan import DEFAULT_SHARD_SIZE, Plan, ShardCutter, plan
from threadloom.distribute._preflight import check_workers
from threadloom.distribute._shard import ShardResult, ShardTask, run_shard
from threadloom.jobs import (
    FetchOptions,
    FetchResult,
    InputReader,
    PendingFollower,
    ProgressMode,
    ProgressReporter,
    RunTrace,
    StoredOutcome,
    StoredProcessing,
    StoreUnavailable,
    input_outcome,
    load_processor,
    summarise_store,
)
from threadloom.store import (
    AddItem,
    DirectoryStore,
    SqliteStore,
    Store,
    StoreError,
    UrlRecord,
    open_store,
    shard_tally,
    store_owns,
)

TASK_RETRIES: Final = 2
"""Dask retries of a shard task that raised (a store error on a worker's disk, ...); a
worker that died is a separate count, the scheduler's ``allowed-failures``."""

WAIT_SLICE: Final = 0.2
"""Seconds the client waits for a finished shard before it looks at progress events
and Ctrl-C again: the bar lags the workers by at most this plus their event interval."""


@dataclass(frozen=True, slots=True)
class ScaleOut:
    """Where a scaled-out fetch runs: ``processes`` worker processes of a LocalCluster
    started for the run, or the Dask scheduler at ``cluster`` (exactly one of them);
    ``shard_size`` URLs per shard; ``max_in_flight`` caps the shards submitted and not
    yet finished (None: `plan`'s default, two per lane).

    ``shared_store``: whether the workers record into the run's store themselves (see
    the module docstring) rather than into shard stores the client merges. None (the
    default): with ``processes``, yes; with ``cluster``, no. True asks for it with a
    cluster too, whose workers must then run on this machine (tests do). Either way a
    JSON-lines store gets shard stores (its one file takes one appender)."""

    processes: int | None = None
    cluster: str | None = None
    shard_size: int = DEFAULT_SHARD_SIZE
    max_in_flight: int | None = None
    shared_store: bool | None = None

    def __post_init__(self) -> None:
        if (self.processes is None) == (self.cluster is None):
            raise ValueError("give exactly one of processes and cluster")
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"processes must be at least 1, got {self.processes}")
        if self.shard_size < 1:
            raise ValueError(f"shard size must be at least 1, got {self.shard_size}")


class DistributedFetchJob:
    """`FetchJob`'s interface and results, the fetching spread over Dask workers.

    ``run`` raises `StoreUnavailable` for a store that cannot be opened, and
    `ClusterUnavailable` for a cluster that cannot be started or reached, or whose
    workers cannot reach the store's directory (``--cluster`` needs a shared file system).
    """

    def __init__(
        self,
        store_path: str | Path,
        options: FetchOptions,
        scale: ScaleOut,
        *,
        progress: ProgressMode = "auto",
        record_trace: bool = False,
        outputs: Iterable[str | Path] = (),
    ) -> None:
        self._store_path = str(store_path)
        self._options = options
        self._scale = scale
        self._progress = progress
        self._record_trace = record_trace
        self._outputs = tuple(outputs)
        # Checked here, on the client: a bad --process is a usage error before any start.
        self._processor = load_processor(options.process) if options.process else None
        self._run_id = f"{int(time.time()):x}-{os.getpid():x}"
        self._events: queue.SimpleQueue[dict[str, int]] = queue.SimpleQueue()
        self._counted: dict[int, tuple[int, int]] = {}  # shard -> (done, failed) counted
        self._spans: list[Span] = []

    def run(self, lines: Iterable[AddItem] | None) -> FetchResult:
        """As `FetchJob.run`: add ``lines``, fetch every URL to do on the workers, record
        all in the run's store; after Ctrl-C the workers are stopped and the store is
        resumable (the summary says ``interrupted``)."""
        started = time.monotonic()
        started_at = datetime.now(UTC)
        try:
            store = open_store(self._store_path)
        except (StoreError, ValueError, OSError) as exc:
            raise StoreUnavailable(f"{self._store_path}: {exc}") from exc
        reader: InputReader | None = None
        cluster: Cluster | None = None
        finished = processed = 0
        interrupted = False
        notes: list[str] = []
        completed = False
        try:
            clashing = [str(path) for path in self._outputs if store_owns(store, path)]
            if clashing:
                raise StoreUnavailable(
                    f"{self._store_path}: {clashing[0]} is part of this store; write it elsewhere"
                )
            root = shards_root(self._store_path)
            if lines is not None and self._scale.processes is not None:
                # Read while the worker processes start (1-2 s of importing Dask, on
                # cores the client leaves idle meanwhile), as a single process reads
                # while it fetches. A --cluster is reached first: input is not consumed
                # for a cluster that turns out unusable.
                reader = InputReader(store, lines, include_failed=self._options.retry_failed)
            cluster = start(self._scale.processes, self._scale.cluster)
            shared = _shares_store(self._scale, store)
            if self._scale.cluster is not None:
                check_workers(cluster, root, self._store_path)
            leftovers, left_notes = merge_leftovers(store, root)
            notes.extend(left_notes)
            if leftovers.outcomes:
                notes.append(
                    f"recorded {leftovers.outcomes} outcomes an interrupted run had fetched"
                )
            stored = StoredOutcome()
            if self._processor is not None:
                stored = StoredProcessing(store, self._processor, redo=self._options.reprocess).run(
                    progress=self._progress, on_start=lambda pools: None
                )
            processed, interrupted = stored.processed, stored.interrupted
            if lines is not None and reader is None and not interrupted:
                reader = InputReader(store, lines, include_failed=self._options.retry_failed)
            if not interrupted:
                finished, fetched_processed, interrupted, failures = self._fetch_pass(
                    store, reader, cluster, root, shared=shared
                )
                processed += fetched_processed
                notes.extend(failures)
            if self._options.process is not None and not interrupted:
                store.set_processor(self._options.process)
            added, input_error = input_outcome(reader)
            store.flush()
            summary = summarise_store(
                store,
                self._store_path,
                processor=self._options.process,
                finished=finished,
                processed=processed,
                elapsed=time.monotonic() - started,
                interrupted=interrupted,
            )
            completed = True
        finally:
            if reader is not None:
                reader.stop()
            if cluster is not None:
                # Interrupted, or leaving on an error: the workers' shards need not end.
                cluster.close(kill=interrupted or not completed)
            store.close()
            shards = shards_root(self._store_path)
            # The shared shards' marks (empty directories), only now: until the cluster
            # is closed Dask may run a finished shard again (the worker holding its
            # result died while the client still wanted it), and without its mark that
            # attempt would take itself for the first and fetch every URL again. A
            # directory holding a shard store left to merge is not empty: kept.
            for directory in shards.glob(f"{self._run_id}-*"):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):  # kept while it holds a shard left to merge
                shards.rmdir()
        trace = None
        if self._record_trace:
            shift = time.time() - time.monotonic()
            spans = sorted(
                (_on_clock(span, shift) for span in self._spans), key=lambda span: span.end
            )
            trace = RunTrace(TraceRecorder.of_spans(spans, origin=started), origin=started)
        return FetchResult(
            added=added,
            summary=summary,
            started_at=started_at,
            trace=trace,
            input_error=input_error,
            notes=tuple(notes),
        )

    def _fetch_pass(
        self,
        store: Store,
        reader: InputReader | None,
        cluster: Cluster,
        root: Path,
        *,
        shared: bool,
    ) -> tuple[int, int, bool, list[str]]:
        """Shard, submit, count or merge until every URL to do has an outcome (``shared``:
        the workers record into ``store``); return how many finished, how many were
        processed, whether Ctrl-C stopped it, and one line per shard that failed for
        good (its URLs stay to do)."""
        client = cluster.client
        the_plan = plan(self._options, cluster.slots, self._scale.max_in_flight)
        topic = f"threadloom-progress-{self._run_id}"
        client.subscribe_topic(topic, self._on_event)
        source = PendingFollower(store, self._options.retry_failed, reader)
        shards = iter(
            ShardCutter(
                iter(source),
                self._scale.shard_size,
                remaining=lambda: None if source.total is None else source.total - source.yielded,
                lanes=the_plan.lanes,
            )
        )
        in_flight: dict[Any, _Submitted] = {}  # future -> its shard
        finished_futures: queue.SimpleQueue[Any] = queue.SimpleQueue()
        numbers = iter(range(1, 1 << 62))
        finished = processed = 0
        failures: list[str] = []
        exhausted = False
        with ProgressReporter(source.expected, mode=self._progress) as bar:
            try:
                while True:
                    while not exhausted and len(in_flight) < the_plan.in_flight:
                        shard = next(shards, None)
                        if shard is None:
                            exhausted = True
                        elif shard is IDLE:
                            break
                        else:
                            assert isinstance(shard, tuple)
                            submitted = _Submitted(next(numbers), shard, time.time())
                            future = self._submit(
                                client, the_plan, root, topic, submitted, shared=shared
                            )
                            in_flight[future] = submitted
                            # Called on Dask's thread when the shard ends, however it ends.
                            future.add_done_callback(finished_futures.put)
                    if not in_flight:
                        if exhausted:
                            break
                        continue  # slow input: the cutter waits for it
                    ended = _wait_some(finished_futures)
                    self._show_events(bar, source.total)
                    for future in ended:
                        submitted = in_flight.pop(future)
                        merged, failure = self._merge(store, future, root, submitted, shared)
                        finished += merged.outcomes
                        processed += merged.done if self._processor is not None else 0
                        self._catch_up(bar, submitted.number, merged, source.total)
                        if failure is not None:
                            failures.append(failure)
            except KeyboardInterrupt:
                # The workers are stopped by the caller (cluster.close); what they had
                # fetched stays in their shard directories, merged by the next run.
                with contextlib.suppress(Exception):
                    client.cancel(list(in_flight), force=True)
                return finished, processed, True, failures
        return finished, processed, False, failures

    def _submit(
        self,
        client: distributed.Client,
        the_plan: Plan,
        root: Path,
        topic: str,
        submitted: _Submitted,
        *,
        shared: bool,
    ) -> Any:
        number = submitted.number
        records = submitted.records
        task = ShardTask(
            number=number,
            directory=str(root / f"{self._run_id}-{number:06d}"),
            urls=tuple(record.url for record in records),
            options=the_plan.shard_options,
            record_trace=self._record_trace,
            topic=topic,
            store=_absolute(self._store_path) if shared else None,
            since=submitted.since,
            records=tuple((r.seq, r.url, r.state.value, r.attempts) for r in records)
            if shared
            else (),
        )
        return client.submit(
            run_shard,
            task,
            key=f"threadloom-shard-{self._run_id}-{number}",
            retries=TASK_RETRIES,
            pure=False,
        )

    def _merge(
        self, store: Store, future: Any, root: Path, submitted: _Submitted, shared: bool
    ) -> tuple[Merged, str | None]:
        """Merge a finished shard's store (or, ``shared``, take what the shard recorded
        in ``store``); also the one-line reason if its task failed for good."""
        number = submitted.number
        directory = root / f"{self._run_id}-{number:06d}"
        reason = None
        tally = None
        try:
            result: ShardResult = future.result()
        except Exception as exc:
            # What its attempts stored is kept; the rest stays to do for a rerun.
            reason = f"shard {number} failed: {type(exc).__name__}: {exc}".splitlines()[0]
        else:
            self._spans.extend(result.spans)
            directory = Path(result.directory)
            tally = result.tally
        if not shared:
            return merge_shard(store, directory), reason
        if tally is None:  # its task failed: its attempts may still have recorded some
            urls = [record.url for record in submitted.records]
            tally = shard_tally(store, urls, submitted.since)
        return Merged(tally.done + tally.failed, tally.done, tally.failed, tally.bytes), reason

    def _on_event(self, event: tuple[float, dict[str, int]]) -> None:
        """Dask's handler of the run's progress topic (on the client's event loop)."""
        self._events.put(event[1])

    def _show_events(self, bar: ProgressReporter, total: int | None) -> None:
        """Count the documents the workers reported since the last call."""
        while True:
            try:
                message = self._events.get_nowait()
            except queue.Empty:
                return
            shard = message["shard"]
            done, failed = self._counted.get(shard, (0, 0))
            self._counted[shard] = (done + message["done"], failed + message["failed"])
            _advance(bar, message["done"], message["failed"], message["bytes"], total)

    def _catch_up(
        self, bar: ProgressReporter, shard: int, merged: Merged, total: int | None
    ) -> None:
        """Count what a merged shard recorded beyond what its events said (events lost
        with a killed worker, or not yet arrived): the bar ends on the run's total."""
        self._show_events(bar, total)
        done, failed = self._counted.pop(shard, (0, 0))
        _advance(bar, max(0, merged.done - done), max(0, merged.failed - failed), 0, total)


@dataclass(frozen=True, slots=True)
class _Submitted:
    """A shard submitted: its number, its URLs' records, and when they were taken from
    the store."""

    number: int
    records: tuple[UrlRecord, ...]
    since: float


def _shares_store(scale: ScaleOut, store: Store) -> bool:
    """Whether the workers record into ``store`` itself (`ScaleOut.shared_store`)."""
    wanted = scale.processes is not None if scale.shared_store is None else scale.shared_store
    return wanted and isinstance(store, (SqliteStore, DirectoryStore))


def _absolute(path: str) -> str:
    """``path`` made absolute for the workers (whose working directory may differ),
    keeping a trailing separator: a store's path's form says its kind."""
    trailing = path.endswith(("/", os.sep))
    return os.path.abspath(path) + (os.sep if trailing else "")


def _advance(bar: ProgressReporter, done: int, failed: int, size: int, total: int | None) -> None:
    for n in range(done):
        bar.advance(ok=True, size=size if n == 0 else 0, total=total)
    for _ in range(failed):
        bar.advance(ok=False, total=total)


def _wait_some(finished: queue.SimpleQueue[Any]) -> list[Any]:
    """The futures that finished (put in ``finished`` by their done callbacks), waiting
    up to `WAIT_SLICE` for the first."""
    try:
        ended = [finished.get(timeout=WAIT_SLICE)]
    except queue.Empty:
        return []
    while True:
        try:
            ended.append(finished.get_nowait())
        except queue.Empty:
            return ended


def _on_clock(span: Span, shift: float) -> Span:
    """A worker's span (wall-clock times) on this process's monotonic clock."""
    return replace(span, start=span.start - shift, end=span.end - shift)


__all__ = ["ClusterUnavailable", "DistributedFetchJob", "ScaleOut"]
