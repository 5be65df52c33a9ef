"""The worker side of a scaled-out fetch: one shard of URLs, fetched by the ordinary
fetch job into a shard store of its own.

A shard is a list of URLs the client took from the run's store (still pending there)
and a directory for its shard store (``shard.db``, SQLite). The worker process runs
`FetchJob` on it with the shard's share of the politeness budget, and returns a
`ShardResult`; the client then records the shard's outcomes into the run's store
(``_merge.py``). Nothing here touches the run's store, so a worker killed mid-shard
loses nothing: the shard's URLs are still pending in the run's store, and Dask runs the
task again on another worker, which resumes the shard store where the dead one stopped
(its committed outcomes are kept; its lock, a ``flock``, died with it).

Progress: every outcome the job records is counted, and the counts go to the client
as small Dask events (``Worker.log_event`` on the run's topic) at most every
`PROGRESS_INTERVAL` seconds, plus once at the end, so the client's bar follows every
worker's documents as they finish, not shard by shard.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from threadloom.core import Span
from threadloom.jobs import FetchJob, FetchOptions

SHARD_STORE: Final = "shard.db"
"""The shard store's file name inside its shard directory."""

PROGRESS_INTERVAL: Final = 0.25
"""Seconds between two progress events of one shard: the bar stays well within a
second of the workers, for at most a few events per second per worker."""


@dataclass(frozen=True, slots=True)
class ShardTask:
    """What a worker needs to run one shard: its number, its directory (on a file system
    the worker can reach), its URLs, the fetch options with this shard's share of the
    per-host budget already applied, whether to record a trace, and the Dask event
    topic progress goes to (None: no progress events)."""

    number: int
    directory: str
    urls: tuple[str, ...]
    options: FetchOptions
    record_trace: bool = False
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class ShardResult:
    """What one shard did: its number and directory, the URLs it finished, the worker
    process that ran it (``worker``: the Dask worker's name; ``pid``), whether Ctrl-C or
    a shutdown stopped it early, and the trace spans it recorded, on the wall clock
    (``time.time()``), for the client to put on its own clock."""

    number: int
    directory: str
    finished: int
    worker: str
    pid: int
    interrupted: bool = False
    spans: tuple[Span, ...] = ()


class _ProgressSender:
    """Counts outcomes and sends the counts not yet sent as one Dask event, at most
    every `PROGRESS_INTERVAL` seconds (called on the job's consuming thread only)."""

    def __init__(self, topic: str | None, shard: int) -> None:
        self._topic = topic
        self._shard = shard
        self._done = self._failed = self._bytes = 0
        self._last = time.monotonic()
        self._worker = _current_worker() if topic is not None else None

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
        if self._worker is None or not (self._done or self._failed):
            return
        message = {
            "shard": self._shard,
            "done": self._done,
            "failed": self._failed,
            "bytes": self._bytes,
        }
        self._done = self._failed = self._bytes = 0
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
    """Fetch the shard's URLs into its shard store and return what it did (the Dask task).

    Runs on a Dask worker (or anywhere: it needs nothing of Dask but progress). The
    shard store is created in ``task.directory``, or resumed if an earlier attempt at
    this shard left one (a worker killed mid-shard): its done URLs are not fetched again.
    Raises what the job raises for a store that cannot be used (Dask retries the task).
    """
    Path(task.directory).mkdir(parents=True, exist_ok=True)
    sender = _ProgressSender(task.topic, task.number)
    job = FetchJob(
        Path(task.directory) / SHARD_STORE,
        task.options,
        progress="quiet",
        record_trace=task.record_trace,
        on_outcome=sender,
    )
    result = job.run(list(task.urls))
    sender.send()
    name = worker_name()
    spans: tuple[Span, ...] = ()
    if result.trace is not None:
        # Monotonic clocks differ between processes (and machines): the wall clock is
        # what the client can line the workers up on.
        shift = time.time() - time.monotonic()
        spans = tuple(
            replace(
                span, start=span.start + shift, end=span.end + shift, pool=f"{span.pool}@{name}"
            )
            for span in result.trace.spans
        )
    return ShardResult(
        number=task.number,
        directory=task.directory,
        finished=result.summary.finished_this_run,
        worker=name,
        pid=os.getpid(),
        interrupted=result.summary.interrupted,
        spans=spans,
    )


def probe_directory(directory: str, token: str) -> bool:
    """Whether ``directory``/``.probe`` holds ``token`` as seen from here (a worker): the
    client writes it there to check every worker reaches the store's file system."""
    try:
        return (Path(directory) / ".probe").read_text(encoding="utf-8") == token
    except OSError:
        return False
