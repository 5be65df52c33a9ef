"""Processing done URLs from their stored bodies, without fetching them again.

A run asked to process (``--process``) first makes this pass over the URLs fetched by
earlier runs whose processing is missing (they were fetched without ``--process``, or
the run stopped in between) or failed (the function has been fixed since), or over
every done URL when asked to redo all (``--reprocess``); then it fetches what is left,
processing as it goes. The pass is a pipeline of one stage (threads ``job-stored-*``,
on the run's timeline) fed by `Store.to_process`, which reads the URLs a page at a
time without their bodies; the stage reads one body when it processes it and drops it
after, so memory holds one page of URLs and one body per worker, whatever the store's
size. The consuming thread records each outcome with `Store.record_processed`, through
the store's writer thread like every other outcome.

Processing results are not tagged with the processor that made them: a URL processed
without error by an earlier run keeps its result when a later run names another
processor; ``--reprocess`` redoes them all with the processor given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from threadloom.jobs._process import Processor, ProcessOutcome, process_stored_url
from threadloom.jobs._progress import ProgressMode, ProgressReporter
from threadloom.store import NOT_PROCESSED, DoneRecord, Store, StoreError
from threadloom.transport import Headers, Response

if TYPE_CHECKING:
    from threadloom.core import Pool

MISSING_BODY = "the stored body is missing"
"""The processing error of a done URL whose body the store no longer has (a directory
store's file deleted by hand)."""


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """What the pass did: URLs processed (with or without error), how many of them
    failed, and whether Ctrl-C stopped it (the rest stay to do for the next run)."""

    processed: int = 0
    failed: int = 0
    interrupted: bool = False


# "HTTP/1.1 200 OK" -> "1.1", "HTTP/2 200" -> "2": as the transport reports it.
_HTTP_VERSION: Final = re.compile(r"HTTP/(\d(?:\.\d)?) ")


@dataclass(slots=True)
class _Stored:
    record: DoneRecord
    outcome: ProcessOutcome | None = None


def stored_response(record: DoneRecord, body: bytes) -> Response:
    """The response a processor sees for a stored body: what the store kept of the
    fetch (URL, final URL, status, Content-Type, and the final response's headers and
    HTTP version from its stored head), so a processor sees the same response as on
    the fetch itself; ``elapsed`` is 0. A URL recorded without a head (by a threadloom
    before schema 2) has only ``content-type`` in ``headers`` and an empty
    ``http_version``. The processor gets it with the URL's input columns
    (`process_stored_url`)."""
    content_type = record.content_type
    head = record.response_head
    headers: Mapping[str, str]
    if head:
        headers = Headers(head.encode("latin-1").splitlines(keepends=True))
        version = _HTTP_VERSION.match(head)
        http_version = version.group(1) if version else ""
    else:
        headers = {} if content_type is None else {"content-type": content_type}
        http_version = ""
    return Response(
        url=record.url,
        final_url=record.final_url or record.url,
        status=record.http_status or 200,
        headers=headers,
        body=body,
        elapsed=0.0,
        http_version=http_version,
        content_type=content_type,
    )


class StoredProcessing:
    """One pass of processing over ``store``'s done URLs (see the module docstring)."""

    def __init__(self, store: Store, processor: Processor, *, redo: bool) -> None:
        self._store = store
        self._processor = processor
        self._redo = redo

    def run(
        self, *, progress: ProgressMode, on_start: Callable[[tuple[Pool, ...]], None]
    ) -> StoredOutcome:
        """Process every URL to do, recording each outcome; ``on_start`` gets the pass's
        pools before any work starts (to trace them). Returns at once when there is
        nothing to do; after Ctrl-C returns with ``interrupted`` set."""
        store = self._store
        total = store.count_to_process(redo=self._redo)
        if total == 0:
            return StoredOutcome()
        processed = failed = 0
        from threadloom.core import Pipeline, Stage  # noqa: PLC0415 (loaded only when used)

        stage = Stage(
            self._process,
            workers=1,
            queue_size=8,
            ordered=False,
            label=_stored_url,
            name="stored",
        )
        works = (_Stored(record) for record in store.to_process(redo=self._redo))
        with Pipeline([stage], name="job").run(works) as run:
            on_start(run.pools)
            try:
                with ProgressReporter(total, mode=progress, label="process") as bar:
                    for work in run:
                        outcome = work.outcome
                        assert outcome is not None  # set by _process
                        ok = outcome.error is None
                        store.record_processed(
                            work.record.url,
                            outcome.value if ok else NOT_PROCESSED,
                            outcome.error,
                        )
                        processed += 1
                        failed += not ok
                        bar.advance(ok=ok)
            except KeyboardInterrupt:
                # Caught here, the run's __exit__ does not see it: wait only a moment
                # for the processing call still running (its URL stays to do).
                run.close(timeout=1.0)
                return StoredOutcome(processed, failed, interrupted=True)
        return StoredOutcome(processed, failed)

    def _process(self, work: _Stored) -> _Stored:
        """The stage: read the body, run the processor; a failure is this URL's outcome."""
        try:
            body = self._store.read_body(work.record.url)
        except (StoreError, OSError) as exc:
            work.outcome = ProcessOutcome(value=None, error=f"cannot read the stored body: {exc}")
            return work
        if body is None:
            work.outcome = ProcessOutcome(value=None, error=MISSING_BODY)
        else:
            response = stored_response(work.record, body)
            work.outcome = process_stored_url(
                self._processor, response, self._store, work.record.url
            )
        return work


def _stored_url(work: _Stored) -> str:
    return work.record.url
