"""The plain fetch pass: URLs from the store to the transfer thread and back into the
store, without a pool task per URL.

A run that asks nothing of a URL but its fetch (no processor, no robots.txt, no adaptive
limits, no trace: `FetchJob._plain`) needs none of the pipeline's machinery per URL (a
task, its futures, its ledger moves and events, a hand-off to the consuming thread per
result). `DirectFetch` is a `TransferFeed`: the client's transfer thread asks it for
requests when it has room and hands it each wake-up's finished transfers as one list,
and it records them there, so a URL costs no thread hand-off from its start to its row
in the writer's queue::

    thread running the job                    threadloom-http (the transfer thread)
    PendingFollower --pages of Work--> inbox --take(room)--> KeyGate (per host) --> curl
                                                 finished(batch) <-- transfers that ended
    progress bar, on_outcome <--counts--         record_document / record --> store writer

The guarantees are the pipeline's, through the same parts: per-host limits and rates
are a `KeyGate` (the pool's own, keyed by host, ``per_host`` and ``rate``); retries are
the fetch stage's `Retry` policy, waited out on a `Scheduler` (no thread sleeps); an
outcome is recorded exactly as the pipeline's consumer records it (`record_work`).
Ctrl-C stops reading, detaches the feed (transfers in flight aborted) and leaves every
URL not recorded pending in the store, so the next run resumes it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from functools import partial
from typing import Final

from threadloom.core import IDLE, KeyGate, Retry, Scheduler
from threadloom.jobs._input import PendingFollower
from threadloom.jobs._progress import ProgressReporter
from threadloom.jobs._work import Work, fail_work, host_of, record_work
from threadloom.store import Store, UrlRecord
from threadloom.transport import FeedLink, FeedResult, HttpClient

_log = logging.getLogger("threadloom.jobs")

INBOX: Final = 256
"""URLs read from the store ahead of the transfer thread: the thread running the job
tops the inbox up to this many when it falls to half, so it wakes once per ~128 URLs
rather than per URL, and a transfer that ends never waits for a URL to start next."""

REPORT_EVERY: Final = 0.25
"""Seconds between two updates of the progress display and ``on_outcome`` calls while
the job's thread waits (and the longest it sleeps without looking at Ctrl-C)."""


class DirectFetch:
    """Fetch every URL ``source`` yields through ``client``'s transfer thread and record
    its outcome in ``store``; see the module docstring.

    per_host: most transfers to one host at once; rate: most starts per second per host
    (None: none); retry: the policy for failed attempts (``retry_on`` decides which
    errors deserve one; each is waited out without holding a transfer); max_waiting: most
    URLs waiting for a busy host or a retry's delay before the input stops being read
    (URLs of other hosts are read past them until then). The client's ``max_transfers``
    caps the transfers of all hosts together. ``on_outcome(done, size)`` is called on
    the thread running `run` for each URL recorded, within `REPORT_EVERY` seconds of
    its recording.
    """

    def __init__(
        self,
        client: HttpClient,
        store: Store,
        *,
        per_host: int | None,
        rate: float | None,
        retry: Retry,
        max_waiting: int,
        on_outcome: Callable[[bool, int], None] | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._retry = retry
        self._max_waiting = max_waiting
        self._on_outcome = on_outcome
        # Rate ticks and retry delays; its thread starts only when one is scheduled.
        self._scheduler = Scheduler("job-fetch-timers")
        self._gate: KeyGate[Work] = KeyGate(
            per_host, self._scheduler, self._tick, default_rate=rate
        )
        self._link: FeedLink | None = None
        # Shared, under _lock: URLs to start (from the job's thread), retries whose
        # delay is over and keys whose rate lets one start (from the scheduler thread).
        self._lock = threading.Lock()
        self._wake_job = threading.Condition(self._lock)
        self._inbox: deque[Work] = deque()
        self._due: list[Work] = []
        self._ticks: list[Hashable] = []
        self._job_waits = False  # the job's thread sleeps on _wake_job (or is about to)
        # Written by the transfer thread only; the job's thread reads them (one writer
        # each, so a read is at worst a moment old, never torn).
        self._ready: deque[Work] = deque()  # hold a slot of their host, to start next
        self._parked = 0  # behind their host's limit or rate, in the gate
        self._retrying = 0  # waiting out a retry's delay on the scheduler
        self._settled = self._done = self._failed = self._bytes = 0
        self._outcomes: deque[tuple[bool, int]] | None = deque() if on_outcome is not None else None
        self._error: BaseException | None = None
        self._gone = False  # detached by the transfer thread
        self._stopping = False  # set by the job's thread: take and record nothing more
        # Written by the job's thread only.
        self._added = 0
        self._input_done = False  # every URL of the source is in the inbox

    # ---- the job's thread -----------------------------------------------------------

    def run(self, source: PendingFollower, bar: ProgressReporter) -> tuple[int, bool]:
        """Fetch and record every URL ``source`` yields; return how many were recorded
        and whether Ctrl-C stopped the run (URLs not recorded then stay pending).
        Raises what recording raised (a store that cannot be written), or the transfer
        thread's failure; the URLs not recorded stay pending then too."""
        self._link = self._client.attach(self)
        interrupted = False
        reported = [0, 0, 0]
        try:
            self._loop(iter(source), source, bar, reported)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self._stop()
            self._report(source, bar, reported)
        if self._error is not None and not interrupted:
            raise self._error
        return self._settled, interrupted

    def _loop(
        self,
        records: Iterator[UrlRecord | object],
        source: PendingFollower,
        bar: ProgressReporter,
        reported: list[int],
    ) -> None:
        lock = self._lock
        inbox = self._inbox
        exhausted = False
        while self._error is None and not self._gone:
            if not exhausted and self._wants_input():
                exhausted = self._input_done = self._read(records, INBOX - len(inbox))
            elif exhausted and self._settled == self._added:
                return
            else:
                with lock:
                    self._job_waits = True
                    if not self._should_wake_job():
                        self._wake_job.wait(REPORT_EVERY)
                    self._job_waits = False
            self._report(source, bar, reported)

    def _read(self, records: Iterator[UrlRecord | object], count: int) -> bool:
        """Move up to ``count`` URLs from ``records`` to the inbox (fewer if the input
        pauses: IDLE) and wake the transfer thread for them; True when ``records`` is
        exhausted."""
        works: list[Work] = []
        exhausted = True
        for record in records:
            if record is IDLE:
                exhausted = False
                break
            assert isinstance(record, UrlRecord)
            works.append(Work(record, host_of(record.url)))
            if len(works) >= count:
                exhausted = False
                break
        if works:
            with self._lock:
                self._inbox.extend(works)
                self._added += len(works)
            assert self._link is not None
            self._link.wake()
        return exhausted

    def _wants_input(self) -> bool:
        """Room in the inbox (half of it empty) and for URLs that may have to wait."""
        return len(self._inbox) <= INBOX // 2 and self._parked + self._retrying < self._max_waiting

    def _should_wake_job(self) -> bool:
        return (
            (not self._input_done and self._wants_input())
            or self._settled == self._added
            or self._error is not None
            or self._gone
        )

    def _report(self, source: PendingFollower, bar: ProgressReporter, reported: list[int]) -> None:
        """Bring the progress display and ``on_outcome`` up to date."""
        done, failed, size = self._done, self._failed, self._bytes
        last_done, last_failed, last_size = reported
        if done != last_done or failed != last_failed or source.total is not None:
            bar.add(
                done=done - last_done,
                failed=failed - last_failed,
                size=size - last_size,
                total=source.total,
            )
            reported[:] = done, failed, size
        outcomes, hook = self._outcomes, self._on_outcome
        if outcomes is not None and hook is not None:
            while outcomes:
                hook(*outcomes.popleft())

    def _stop(self) -> None:
        """Take and record nothing more, let the feed go (its transfers aborted) and
        cancel the timers; URLs not recorded stay pending."""
        self._stopping = True
        if self._link is not None:
            # A batch being recorded is finished first; bounded, so that Ctrl-C is not
            # held by a store whose writer is stuck.
            self._link.detach(timeout=1.0)
        self._scheduler.close()

    # ---- the scheduler thread -------------------------------------------------------

    def _tick(self, key: Hashable) -> None:
        """``key``'s rate lets a parked URL start now."""
        with self._lock:
            self._ticks.append(key)
        if self._link is not None:
            self._link.wake()

    def _retry_due(self, work: Work) -> None:
        """``work``'s retry delay is over."""
        with self._lock:
            self._due.append(work)
        if self._link is not None:
            self._link.wake()

    # ---- the transfer thread (TransferFeed) -----------------------------------------

    def take(self, room: int) -> Sequence[tuple[str, object]]:
        """Up to ``room`` URLs to start: those a host let go first, then retries whose
        delay is over, then new ones from the inbox, each admitted by its host's gate
        (or parked behind it)."""
        if self._stopping:
            return ()
        gate, ready = self._gate, self._ready
        if self._due or self._ticks:
            with self._lock:
                due, self._due = self._due, []
                ticks, self._ticks = self._ticks, []
            for key in ticks:
                self._release(gate.tick(key))
            self._retrying -= len(due)
            for work in due:
                self._admit(work)
        out: list[tuple[str, object]] = []
        while ready and len(out) < room:
            work = ready.popleft()
            work.attempts += 1
            out.append((work.record.url, work))
        inbox = self._inbox
        if len(out) < room and inbox:
            admit, park = gate.admit, gate.park
            parked = 0
            with self._lock:
                while inbox and len(out) < room:
                    work = inbox.popleft()
                    if admit(work):
                        work.attempts += 1
                        out.append((work.record.url, work))
                    else:
                        park(work)
                        parked += 1
                self._parked += parked
        self._poke_job()
        return out

    def _admit(self, work: Work) -> None:
        """A retry whose delay is over: to start next, or parked behind its host."""
        if self._gate.admit(work):
            self._ready.append(work)
        else:
            self._gate.park(work)
            self._parked += 1

    def _release(self, works: Sequence[Work]) -> None:
        """Parked URLs their host let go (each holds a slot now): to start next."""
        if works:
            self._ready.extend(works)
            self._parked -= len(works)

    def finished(self, results: list[FeedResult]) -> None:
        """Record what ended (or schedule its retry); a failure to record stops the run."""
        if self._stopping:
            return  # the run stops: these URLs stay pending
        gate, store, outcomes = self._gate, self._store, self._outcomes
        try:
            for tag, result in results:
                work: Work = tag  # type: ignore[assignment]
                if work.keyed:
                    self._release(gate.release(work))
                error: BaseException | None
                if isinstance(result, BaseException):
                    error = result
                else:
                    try:
                        work.took(result)  # raises for a final 3xx: no document
                    except Exception as exc:
                        error = exc
                    else:
                        error = None
                if error is not None:
                    if self._retry_later(work, error):
                        continue
                    fail_work(work, error)
                ok, size = record_work(store, work)
                if ok:
                    self._done += 1
                    self._bytes += size
                else:
                    self._failed += 1
                if outcomes is not None:
                    outcomes.append((ok, size))
                # Last: the job's thread may end the run as soon as every URL is settled,
                # and must find its outcome counted by then.
                self._settled += 1
        except BaseException as exc:
            # A store that cannot be written (or a bug): the run stops with it, and every
            # URL not recorded stays pending.
            self._error = exc
            self._stopping = True
            with self._lock:
                self._wake_job.notify()
            return
        self._poke_job()

    def _retry_later(self, work: Work, error: BaseException) -> bool:
        """Schedule another attempt at ``work`` if the policy allows one."""
        retry, attempt = self._retry, work.attempts
        if not retry.should_retry(error, attempt):
            return False
        self._retrying += 1
        self._scheduler.call_later(retry.delay(error, attempt), partial(self._retry_due, work))
        return True

    def detached(self, error: BaseException | None) -> None:
        """The transfer thread let the feed go; with ``error``, the run stops with it."""
        if error is not None and self._error is None and not self._stopping:
            self._error = error
        self._gone = True
        with self._lock:
            self._wake_job.notify()

    def _poke_job(self) -> None:
        """Wake the job's thread if it sleeps and has something to do."""
        if self._job_waits and self._should_wake_job():
            with self._lock:
                self._wake_job.notify()
