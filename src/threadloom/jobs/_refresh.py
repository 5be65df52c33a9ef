"""Refreshing done URLs (``fetch --refresh``): conditional requests from the stored heads.

A run asked to refresh first makes a pass over the store's done URLs (with
``refresh_older_than``, those whose last fetch or confirmation is older), before the
processing of stored bodies and the fetch of what is still to do. Each URL is fetched
again through the same stages, limits and retries as a fetch (the caller gives the
stages), with ``If-None-Match`` from the stored ``ETag`` and ``If-Modified-Since`` from
the stored ``Last-Modified`` (both when both were stored: a server that knows ETags
decides by the ETag, RFC 9110 13.2.2); a head without validators makes a plain request,
whose body is compared with the stored one by SHA-256. This is ``wget -N`` or
``curl -z`` for a whole store, with ETags as well as dates.

Results (`RefreshResult`, recorded with `Store.record_refresh`): a ``304`` or a body
with the stored SHA-256 confirms the stored document (its body, head and processing
stay; ``confirmed_at`` is set); another body replaces it (and goes through the process
stage when the run processes); anything else (a network error, a 5xx after the
retries, a 404) is a failed refresh that keeps the stored document and says why.

Crash safety is the store's: each result is one writer item committed in one
transaction, so a kill -9 leaves every URL with its old document or its new one; a URL
whose result was not committed is still stale and is refreshed by the next run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from threadloom.jobs._progress import ProgressMode, ProgressReporter
from threadloom.jobs._work import Work, host_of
from threadloom.store import (
    Outcome,
    Refreshed,
    RefreshRecord,
    RefreshResult,
    State,
    Store,
    UrlRecord,
    parse_head,
)
from threadloom.transport import Response

if TYPE_CHECKING:
    from threadloom.core import Pool, Stage


@dataclass(frozen=True, slots=True)
class RefreshTally:
    """What a refresh pass did: URLs ``confirmed`` (unchanged), ``changed`` (replaced),
    ``failed`` (stored document kept), how many changed ones were processed, and
    whether Ctrl-C stopped it (the rest stay stale for the next run)."""

    confirmed: int = 0
    changed: int = 0
    failed: int = 0
    processed: int = 0
    interrupted: bool = False

    @property
    def total(self) -> int:
        """URLs refreshed (each confirmed, changed or failed)."""
        return self.confirmed + self.changed + self.failed


def conditions(head: bytes | None) -> tuple[str, ...]:
    """The request header lines that make a refresh of a URL with the stored ``head``
    conditional: ``If-None-Match`` with its ``ETag`` and ``If-Modified-Since`` with
    its ``Last-Modified`` (the last of each, if sent twice, and only an ASCII one);
    none without them."""
    if head is None:
        return ()
    _status_line, fields = parse_head(head.decode("latin-1"))
    lines = []
    for field_name, condition in (
        ("etag", "If-None-Match"),
        ("last-modified", "If-Modified-Since"),
    ):
        value = fields.get(field_name)
        if isinstance(value, list):
            value = value[-1]
        # A value with bytes outside ASCII (obs-text) would not go out byte for byte
        # (header lines are sent as UTF-8): leave it out; the body comparison decides.
        if value and value.isascii():
            lines.append(f"{condition}: {value}")
    return tuple(lines)


@dataclass(slots=True)
class RefreshWork(Work):
    """A done URL on its way through the stages again; ``stored_sha256`` is the stored
    body's, ``unchanged`` is set when the answer confirms it."""

    stored_sha256: str | None = None
    unchanged: bool = False

    def took(self, response: Response) -> Work:
        """As `Work.took`, except that a ``304`` to a conditional request, or a body
        with the stored SHA-256, confirms the stored document (on the transport's
        thread: the body is dropped at once)."""
        self.http_status = response.status
        if response.status == 304 and self.headers:
            self.unchanged = True
            return self
        if 300 <= response.status < 400:
            return Work.took(self, response)  # raises: no document
        if (
            self.stored_sha256 is not None
            and hashlib.sha256(response.body).hexdigest() == self.stored_sha256
        ):
            self.unchanged = True
            return self
        self.response = response
        return self


class RefreshPass:
    """One pass of refreshing over ``store``'s done URLs (see the module docstring).

    ``older_than``: a unix time, or None for every done URL. ``stages``: the fetch
    stage (and the process stage), as a fetch pass uses them. ``outcome``: turns a
    work whose document changed into the done `Outcome` to store.
    """

    def __init__(
        self,
        store: Store,
        *,
        older_than: float | None,
        stages: list[Stage],
        outcome: Callable[[Work], Outcome],
    ) -> None:
        self._store = store
        self._older_than = older_than
        self._stages = stages
        self._outcome = outcome

    def run(
        self, *, progress: ProgressMode, on_start: Callable[[tuple[Pool, ...]], None]
    ) -> RefreshTally:
        """Refresh every URL to refresh, recording each result; ``on_start`` gets the
        pass's pools before any work starts (to trace them). Returns at once when there
        is nothing to refresh; after Ctrl-C returns with ``interrupted`` set."""
        store = self._store
        total = store.count_to_refresh(older_than=self._older_than)
        if total == 0:
            return RefreshTally()
        counts = dict.fromkeys(RefreshResult, 0)
        processed = 0
        works: Iterable[Work] = (
            _work(record) for record in store.to_refresh(older_than=self._older_than)
        )
        from threadloom.core import Pipeline  # noqa: PLC0415 (only a refresh loads pipelines)

        with Pipeline(self._stages, name="job").run(works) as run:
            on_start(run.pools)
            try:
                with ProgressReporter(total, mode=progress, label="refresh") as bar:
                    for work in run:
                        refreshed = store.record_refresh(self._refreshed(work))
                        counts[refreshed.result] += 1
                        processed += work.processed is not None
                        body = refreshed.outcome.body if refreshed.outcome is not None else None
                        bar.advance(
                            ok=refreshed.result is not RefreshResult.FAILED,
                            size=len(body) if body is not None else 0,
                        )
            except KeyboardInterrupt:
                # Caught here, the run's __exit__ does not see it: wait only a moment
                # for a --process call still running (its URL stays stale).
                run.close(timeout=1.0)
                return _tally(counts, processed, interrupted=True)
        return _tally(counts, processed, interrupted=False)

    def _refreshed(self, work: Work) -> Refreshed:
        url = work.record.url
        if isinstance(work, RefreshWork) and work.unchanged:
            return Refreshed(url, RefreshResult.CONFIRMED, attempts=work.attempts)
        if work.response is not None:
            return Refreshed(
                url, RefreshResult.CHANGED, attempts=work.attempts, outcome=self._outcome(work)
            )
        return Refreshed(
            url,
            RefreshResult.FAILED,
            attempts=work.attempts,
            error=work.error or "unknown failure",
        )


def _work(record: RefreshRecord) -> RefreshWork:
    return RefreshWork(
        UrlRecord(record.seq, record.url, State.DONE, 0),
        host_of(record.url),
        headers=conditions(record.response_head),
        stored_sha256=record.sha256,
    )


def _tally(counts: dict[RefreshResult, int], processed: int, *, interrupted: bool) -> RefreshTally:
    return RefreshTally(
        confirmed=counts[RefreshResult.CONFIRMED],
        changed=counts[RefreshResult.CHANGED],
        failed=counts[RefreshResult.FAILED],
        processed=processed,
        interrupted=interrupted,
    )
