"""The fetch job: URLs in, through a fetch stage and a process stage, into a store.

The flow is the job the threading tutorials end with ("500 XML documents to download,
4 at a time", written to a shared place and processed afterwards), done for real::

    input lines --add_urls--> store (pending) --pending()--> fetch stage (a pool whose
    tasks start transfers on the HttpClient's CurlMulti thread, -j in flight; per-host
    key limit; retries on the pool's scheduler) --> process stage --> main thread
    --record()--> store writer thread (batched transactions)

With a processor, a pass over the URLs done by earlier runs comes first: those whose
processing is missing or failed (every one with ``reprocess``) are processed from their
stored bodies, not fetched again (``_stored.py``). With ``refresh``, a pass before that
fetches the (stale) done URLs again, conditionally, through the same stages
(``_refresh.py``).

Every URL that leaves the fetch stage becomes exactly one recorded outcome: done with
its body, or failed with a one-line reason. A URL still in flight when the run stops
(Ctrl-C, kill -9) stays pending in the store, so running the same command again
resumes where this run stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from threadloom.core import Retry
from threadloom.jobs._direct import DirectFetch
from threadloom.jobs._input import InputReader, PendingFollower, input_outcome
from threadloom.jobs._process import (
    Processor,
    load_processor,
    process_stored_url,
)
from threadloom.jobs._progress import ProgressMode, ProgressReporter
from threadloom.jobs._summary import RunSummary, summarise_store
from threadloom.jobs._work import (
    Work,
    fail_work,
    host_of,
    record_work,
    retryable,
    work_host,
    work_outcome,
    work_url,
)
from threadloom.store import (
    AddItem,
    AddResult,
    Store,
    StoreError,
    UrlRecord,
    open_store,
    store_owns,
)
from threadloom.transport import (
    DEFAULT_USER_AGENT,
    MAX_SECONDS,
    HttpClient,
    TransportOptions,
    check_cookie_file,
)

if TYPE_CHECKING:
    from threadloom.core import Pool, Stage, TraceRecorder
    from threadloom.jobs._refresh import RefreshTally
    from threadloom.jobs._trace import RunTrace

DEFAULT_MAX_SIZE: Final = 100 * 1024 * 1024
"""Bodies are held in memory until stored, up to ``jobs`` at once, and a small gzip body
can decode to a thousand times its size: without a cap, a 2 MB "gzip bomb" takes 2 GB.
100 MiB is above common large documents (a sitemap may be 50 MB)."""

MIN_RATE: Final = 1 / 86_400
"""The slowest ``rate``: one request a day (slower ones overflow the scheduler's wait)."""

MAX_TIME_FACTOR: Final = 10
"""The default ``max_time`` is this many times ``timeout`` (300 s for the default 30 s):
room for a slow but steady transfer of a large body (the default 100 MiB ``max_size`` at
350 KB/s), while a server trickling a byte now and then (which the stall cut never
sees) holds its slot for minutes, once, instead of for as long as it likes."""


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Everything a fetch run is configured with (the CLI's options, and two more).

    jobs: most requests in flight at once (all driven by one transfer thread).
    per_host: most requests in flight to one host at once.
    rate: most requests started per second per host (None: no rate limit).
    timeout: seconds allowed to connect, and seconds without any data before a transfer
    counts as stalled. max_time: seconds one attempt may take in all, however steadily
    data comes (None, the default: :data:`MAX_TIME_FACTOR` x ``timeout``; 0: no limit;
    see :attr:`attempt_time_limit`); an attempt it cuts is not retried, so a URL spends
    at most one ``max_time`` trickling. retries: further attempts after the first for
    retryable failures (connection errors, connect and stall timeouts, 408, 429, 5xx);
    each attempt is bounded by ``max_time``. max_size: largest body in bytes after
    decoding, enforced while downloading (default :data:`DEFAULT_MAX_SIZE`; None: no
    limit). process: ``"xml"``, ``"MODULE:FUNCTION"`` or None; a run with a processor
    first processes the done URLs of earlier runs whose processing is missing or
    failed, from their stored bodies (every done URL with ``reprocess``), then fetches.
    retry_failed: fetch URLs that failed in an earlier run again (the default).
    verify_tls: verify TLS certificates (keep it on outside tests). ca_bundle: a PEM
    file of CA certificates to verify against instead of the system's (a private CA).
    backoff: seconds before the first retry (doubling, with jitter, up to 30 s), and
    max_retry_after: the longest wait a server's Retry-After can impose; these two have
    no command-line option (tests and library users tune them).
    headers, user_agent, proxy, noproxy, cookie_file, netrc, netrc_file, max_redirects:
    what every request carries and how it travels, as the ``TransportOptions`` fields
    of those names say (``-H``, ``-A``, ``--proxy``, ``--noproxy``, ``--cookie``,
    ``--netrc``, ``--netrc-file``, ``--max-redirects``).
    refresh: fetch the store's done URLs again first, conditionally (``ETag``,
    ``Last-Modified`` of the stored head; see ``_refresh.py``): unchanged ones are
    confirmed, changed ones replaced (and processed with a processor), a failure keeps
    the stored document. refresh_older_than: seconds; only done URLs whose last fetch
    or confirmation is older than that (None: all; needs ``refresh``).
    robots: obey each origin's robots.txt, read once per run, for the User-Agent in
    use; a disallowed URL fails with the reason "disallowed by robots.txt", never
    fetched; Crawl-delay lowers the host's ``rate`` (the stricter wins). See
    ``_robots.py`` for what each robots.txt outcome means.
    auto_throttle: adapt each host's requests in flight to how it answers, within
    ``[1, per_host]`` (``_throttling.py`` says how); off: ``per_host`` for every host.
    """

    jobs: int = 8
    per_host: int = 4
    rate: float | None = None
    timeout: float = 30.0
    max_time: float | None = None
    retries: int = 3
    max_size: int | None = DEFAULT_MAX_SIZE
    process: str | None = None
    reprocess: bool = False
    retry_failed: bool = True
    verify_tls: bool = True
    ca_bundle: str | None = None
    backoff: float = 0.5
    max_retry_after: float = 60.0
    headers: tuple[str, ...] = ()
    user_agent: str = DEFAULT_USER_AGENT
    proxy: str | None = None
    noproxy: str | None = None
    cookie_file: str | None = None
    netrc: bool = False
    netrc_file: str | None = None
    max_redirects: int = 10
    refresh: bool = False
    refresh_older_than: float | None = None
    robots: bool = False
    auto_throttle: bool = False

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {self.jobs}")
        if self.per_host < 1:
            raise ValueError(f"per-host must be at least 1, got {self.per_host}")
        # "not a <= x" rather than "x < a": nan fails every comparison.
        if self.rate is not None and not MIN_RATE <= self.rate < math.inf:
            raise ValueError(
                f"rate must be a finite number of requests/s of at least {MIN_RATE:.3g}"
                f" (one a day), got {self.rate}"
            )
        if not 0 < self.timeout < math.inf:
            raise ValueError(f"timeout must be a positive finite number, got {self.timeout}")
        if self.max_time is not None and not 0 <= self.max_time <= MAX_SECONDS:
            raise ValueError(
                f"max-time must be from 0 to {MAX_SECONDS} seconds, got {self.max_time}"
            )
        if self.reprocess and not self.process:
            raise ValueError("reprocess needs a processor (process)")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")
        if self.max_size is not None and self.max_size < 1:
            raise ValueError(f"max-size must be at least 1 byte, got {self.max_size}")
        if self.max_redirects < 0:
            raise ValueError(f"max-redirects must be 0 or more, got {self.max_redirects}")
        if self.refresh_older_than is not None and not (
            self.refresh and 0 <= self.refresh_older_than < math.inf
        ):
            raise ValueError("refresh-older-than needs refresh and a finite number of seconds")

    @property
    def attempt_time_limit(self) -> float | None:
        """The seconds one attempt may take (None: no limit): ``max_time``, or
        :data:`MAX_TIME_FACTOR` x ``timeout`` when ``max_time`` is None."""
        if self.max_time is None:
            # Capped at the longest limit libcurl takes (~24.8 days), for a huge timeout.
            return min(MAX_TIME_FACTOR * self.timeout, MAX_SECONDS)
        return self.max_time or None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a run did: the input it read (None when Ctrl-C stopped the reading), the
    summary, when it started (UTC), what every worker did (when the run was asked to
    record it), why the input could not be read to its end (None if it could or if
    the run was interrupted; ``added`` then counts the lines read before), and
    ``notes``: one-line warnings about the store for the user (the processor changed
    since results were kept: see `Store.processor`)."""

    added: AddResult | None
    summary: RunSummary
    started_at: datetime
    trace: RunTrace | None = None
    input_error: str | None = None
    notes: tuple[str, ...] = ()


class StoreUnavailable(StoreError):
    """The store could not be opened (a bad path, a busy or corrupt store); one line.

    A :class:`StoreError`, so one ``except StoreError`` catches every store failure;
    ``__cause__`` is the error that stopped the opening."""


class RequestSetupError(Exception):
    """The request settings could not be applied when the run started (a cookie file
    removed or made unreadable since the options were checked); one line. Nothing was
    opened or fetched."""


class FetchJob:
    """One run of the fetch job over a store; see the module docstring for the flow.

    Construct it, then call :meth:`run` once from the thread that should see Ctrl-C
    (normally the main thread). ``outputs`` are the files the caller will write after
    the run (a trace, a report): `run` refuses to start if one is part of the store.
    ``on_outcome``, if given, is called on the consuming thread as ``on_outcome(done,
    size)`` for each URL the fetch pass recorded, right after recording it: whether it
    ended done, and its body's size in bytes (0 if not done). A shard run by a Dask
    worker reports its progress through it; it must be quick and must not raise.
    """

    def __init__(
        self,
        store_path: str | Path,
        options: FetchOptions,
        *,
        progress: ProgressMode = "auto",
        record_trace: bool = False,
        outputs: Iterable[str | Path] = (),
        on_outcome: Callable[[bool, int], None] | None = None,
    ) -> None:
        self._store_path = str(store_path)
        self._on_outcome = on_outcome
        self._outputs = tuple(outputs)
        self._options = options
        self._progress = progress
        self._record_trace = record_trace
        self._processor: Processor | None = (
            load_processor(options.process) if options.process else None
        )
        self._transport = TransportOptions(
            connect_timeout=options.timeout,
            low_speed_time=options.timeout,
            timeout=options.attempt_time_limit,
            max_size=options.max_size,
            verify_tls=options.verify_tls,
            ca_bundle=options.ca_bundle,
            headers=options.headers,
            user_agent=options.user_agent,
            proxy=options.proxy,
            noproxy=options.noproxy,
            cookie_file=options.cookie_file,
            netrc=options.netrc,
            netrc_file=options.netrc_file,
            max_redirects=options.max_redirects,
        )
        if options.cookie_file is not None:
            check_cookie_file(options.cookie_file)  # ValueError now, not mid-run
        self._client: HttpClient | None = None
        self._store: Store | None = None  # for the process stage (input columns)

    def run(self, lines: Iterable[AddItem] | None) -> FetchResult:
        """Add ``lines`` (if given) to the store, fetch every URL still to do, record all.

        Input is read on a thread of its own while fetching goes on, in bounded memory.
        Returns when every URL has an outcome, or after Ctrl-C (the summary then says
        ``interrupted`` and the store is left resumable; ``added`` is None when the input
        was not read to its end). Never raises for a bad URL or a failed fetch; raises for
        a store that cannot be opened or written.
        """
        started = time.monotonic()
        started_at = datetime.now(UTC)
        finished = processed = 0
        interrupted = False
        trace: RunTrace | None = None
        recorders: list[TraceRecorder] = []  # one, shared by the run's pipelines

        def record_trace(pools: tuple[Pool, ...]) -> None:
            if not self._record_trace:
                return
            if recorders:
                recorders[0].attach(*pools)
            else:
                from threadloom.core import TraceRecorder  # noqa: PLC0415 (only a trace)

                recorders.append(TraceRecorder(*pools))

        try:
            client = self._client = HttpClient(self._transport, max_transfers=self._options.jobs)
        except ValueError as exc:  # a cookie file gone or unreadable since it was checked
            raise RequestSetupError(str(exc)) from exc
        try:
            store = open_store(self._store_path)
        except (StoreError, ValueError, OSError) as exc:
            client.close()
            raise StoreUnavailable(f"{self._store_path}: {exc}") from exc
        clashing = [str(path) for path in self._outputs if store_owns(store, path)]
        if clashing:
            store.close()
            client.close()
            raise StoreUnavailable(
                f"{self._store_path}: {clashing[0]} is part of this store; write it elsewhere"
            )
        reader: InputReader | None = None
        self._store = store
        try:
            reader = (
                InputReader(store, lines, include_failed=self._options.retry_failed)
                if lines is not None
                else None
            )
            notes = tuple(filter(None, [self._processor_change(store)]))
            try:
                # Stale documents first: a changed one is processed with its new body,
                # and the stored pass below then finds it processed.
                refreshed = self._refresh_pass(store, record_trace)
                interrupted = refreshed is not None and refreshed.interrupted
                processed = 0 if refreshed is None else refreshed.processed
                if self._processor is not None and not interrupted:
                    # Earlier runs' done URLs first: their outcomes never wait behind the
                    # fetch, and URLs fetched below are processed once, as they arrive.
                    from threadloom.jobs._stored import StoredProcessing  # noqa: PLC0415

                    stored = StoredProcessing(
                        store, self._processor, redo=self._options.reprocess
                    ).run(progress=self._progress, on_start=record_trace)
                    processed += stored.processed
                    interrupted = stored.interrupted
                if not interrupted:
                    finished, fetched_processed, interrupted = self._fetch_pass(
                        store, reader, record_trace
                    )
                    processed += fetched_processed
                if self._options.process is not None and not interrupted:
                    store.set_processor(self._options.process)
            finally:
                if recorders:
                    from threadloom.jobs._trace import RunTrace  # noqa: PLC0415 (only a trace)

                    recorders[0].close()
                    trace = RunTrace(recorders[0], origin=started)
            added, input_error = input_outcome(reader)
            store.flush()
            summary = self._summary(
                store, finished, processed, time.monotonic() - started, interrupted, refreshed
            )
        finally:
            if reader is not None:
                reader.stop()
            store.close()
            client.close()
        return FetchResult(
            added=added,
            summary=summary,
            started_at=started_at,
            trace=trace,
            input_error=input_error,
            notes=notes,
        )

    def _processor_change(self, store: Store) -> str | None:
        """A note when this run names another processor than the one whose results the
        store keeps (they are kept: results are not tagged one by one), unless it
        redoes them all."""
        spec, previous = self._options.process, store.processor
        if spec is None or self._options.reprocess or previous in (None, spec):
            return None
        kept = store.counts().done - store.count_to_process()
        if not kept:
            return None
        return (
            f"{kept} done URLs keep their results of --process {previous};"
            f" add --reprocess to redo them with {spec}"
        )

    def _refresh_pass(
        self, store: Store, record_trace: Callable[[tuple[Pool, ...]], None]
    ) -> RefreshTally | None:
        """With ``refresh``, fetch the store's (stale) done URLs again, conditionally
        (`RefreshPass`), through the stages a fetch uses; else do nothing (None)."""
        options = self._options
        if not options.refresh:
            return None
        # Imported here: the refresh pass (its dataclasses, ~3 ms) is for --refresh only.
        from threadloom.jobs._refresh import RefreshPass  # noqa: PLC0415

        older_than = options.refresh_older_than
        return RefreshPass(
            store,
            older_than=None if older_than is None else time.time() - older_than,
            stages=self._stages(),
            outcome=work_outcome,
        ).run(progress=self._progress, on_start=record_trace)

    def _fetch_pass(
        self,
        store: Store,
        reader: InputReader | None,
        record_trace: Callable[[tuple[Pool, ...]], None],
    ) -> tuple[int, int, bool]:
        """Fetch (and process) every URL still to do, recording each outcome; return how
        many finished, how many of them were processed, and whether Ctrl-C stopped it."""
        finished = processed = 0
        source = self._to_fetch(store, reader)
        if self._plain():
            finished, interrupted = self._direct_pass(store, source)
            return finished, 0, interrupted
        works = (
            Work(record, host_of(record.url)) if isinstance(record, UrlRecord) else record
            for record in source
        )
        # Pipelines, robots.txt and throttles are loaded only by the runs that use them:
        # a plain run's start-up is most of a short run's time.
        from threadloom.core import Pipeline  # noqa: PLC0415
        from threadloom.jobs._robots import RobotsGate, user_agent_in_use  # noqa: PLC0415
        from threadloom.jobs._throttling import fetch_throttle  # noqa: PLC0415

        stages = self._stages()
        gate = None
        if self._options.robots:
            assert self._client is not None
            options = self._options
            gate = RobotsGate(self._client, user_agent_in_use(options.user_agent, options.headers))
            stages.insert(0, gate.stage(stages[0], work_url))
        with Pipeline(stages, name="job").run(works) as run:
            if gate is not None:
                gate.attach(timers=run.pools[0], fetch_pool=run.pools[1])
            if self._options.auto_throttle:
                fetch_pool = run.pools[0 if gate is None else 1]
                fetch_pool.set_throttle(fetch_throttle(self._options.per_host))
            record_trace(run.pools)
            try:
                with ProgressReporter(source.expected, mode=self._progress) as bar:
                    for work in run:
                        ok, size = record_work(store, work)
                        processed += work.processed is not None
                        if self._on_outcome is not None:
                            self._on_outcome(ok, size)
                        finished += 1
                        bar.advance(ok=ok, size=size, total=source.total)
            except KeyboardInterrupt:
                # Caught here, it is not seen by the run's __exit__: wait only a
                # moment for a --process call still running (its URL stays pending).
                run.close(timeout=1.0)
                return finished, processed, True
        return finished, processed, False

    def _plain(self) -> bool:
        """Whether nothing of this run needs a pool task per URL: no processor (a
        stage of its own), no robots.txt (a stage before the fetch), no adaptive
        per-host limit (fed by each attempt's task) and no trace (the tasks' spans).
        Such a run fetches through `DirectFetch` instead of a pipeline."""
        options = self._options
        return (
            self._processor is None
            and not options.robots
            and not options.auto_throttle
            and not self._record_trace
        )

    def _direct_pass(self, store: Store, source: PendingFollower) -> tuple[int, bool]:
        """The fetch pass of a plain run (see `_plain`): `DirectFetch`, same limits,
        retries and outcomes as the pipeline's fetch stage."""
        assert self._client is not None  # set by run() before the passes
        options = self._options
        direct = DirectFetch(
            self._client,
            store,
            per_host=options.per_host,
            rate=options.rate,
            retry=self._retry(),
            max_waiting=self._max_waiting(),
            on_outcome=self._on_outcome,
        )
        with ProgressReporter(source.expected, mode=self._progress) as bar:
            return direct.run(source, bar)

    def _retry(self) -> Retry:
        """The fetch's retry policy: ``retries`` more attempts for what the transport
        calls retryable, backing off from ``backoff`` up to 30 s."""
        options = self._options
        return Retry(
            attempts=options.retries + 1,
            backoff=options.backoff,
            max_backoff=30.0,
            retry_on=retryable,
            max_retry_after=options.max_retry_after,
        )

    def _max_waiting(self) -> int:
        """How many URLs may wait for a busy host or a retry's delay beyond those in
        flight: URLs of other hosts are read past them (~3 KB each while they wait)."""
        return max(2048, self._options.jobs * 256)

    def _to_fetch(self, store: Store, reader: InputReader | None) -> PendingFollower:
        """The URLs the fetch pass fetches: every URL of ``store`` still to do, following
        the input ``reader`` adds (a shard of a scaled-out fetch narrows it)."""
        return PendingFollower(store, self._options.retry_failed, reader)

    def _stages(self) -> list[Stage]:
        from threadloom.core import Stage  # noqa: PLC0415 (see _fetch_pass)

        options = self._options
        stages = [
            Stage(
                self._fetch,
                workers=1,
                returns_future=True,
                # Starting a transfer is one quick submit(): no hand-off to the worker.
                start_inline=True,
                # Transfers run on the client's thread, so the stage's items are the
                # requests in flight (-j of them) plus finished ones not yet taken.
                queue_size=options.jobs,
                max_waiting=self._max_waiting(),
                ordered=False,
                on_error=fail_work,
                key=work_host,
                key_limit=options.per_host,
                key_rate=options.rate,
                retry=self._retry(),
                label=work_url,
                name="fetch",
            )
        ]
        if self._processor is not None:
            stages.append(
                Stage(
                    self._process,
                    workers=1,
                    queue_size=options.jobs * 4,
                    ordered=False,
                    label=work_url,
                    name="process",
                )
            )
        return stages

    def _fetch(self, work: Work) -> Future[Work]:
        """The fetch stage: start one HTTP attempt on the client's transfer thread (the
        pool retries it per the Retry policy); the future resolves to ``work``."""
        assert self._client is not None  # set by run() before the stages start
        if work.error is not None:  # refused by robots.txt (_robots.py): never requested
            done: Future[Work] = Future()
            done.set_result(work)
            return done
        work.attempts += 1
        return self._client.submit(work.record.url, headers=work.headers, then=work.took)

    def _process(self, work: Work) -> Work:
        """The process stage: runs the processor; its failure is confined to this URL."""
        if work.response is not None and self._processor is not None:
            assert self._store is not None  # set by run() before the stages start
            work.processed = process_stored_url(
                self._processor, work.response, self._store, work.record.url
            )
        return work

    def _summary(
        self,
        store: Store,
        finished: int,
        processed: int,
        elapsed: float,
        interrupted: bool,
        refreshed: RefreshTally | None,
    ) -> RunSummary:
        return summarise_store(
            store,
            self._store_path,
            processor=self._options.process,
            finished=finished + (0 if refreshed is None else refreshed.total),
            processed=processed,
            elapsed=elapsed,
            interrupted=interrupted,
            refresh=None
            if refreshed is None
            else (refreshed.confirmed, refreshed.changed, refreshed.failed),
        )
