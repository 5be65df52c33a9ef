"""The store's value types: URL states, outcomes to record, records and counts read back."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class State(enum.StrEnum):
    """The state of one URL in a store. Every URL is in exactly one state.

    ``PENDING``: added, not yet fetched (or fetched, but the outcome was never committed).
    ``DONE``: fetched; the body is stored. ``FAILED``: fetched and gave up; ``error`` says why.
    ``INVALID``: the input line is not a fetchable URL; ``error`` says why. Never fetched.
    """

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    INVALID = "invalid"


class _NotProcessed:
    """The type of `NOT_PROCESSED`."""

    def __repr__(self) -> str:
        return "NOT_PROCESSED"


NOT_PROCESSED: Final = _NotProcessed()
"""`Outcome.processed` of a URL that was not processed (the default): unlike None, which
is a processing result (JSON null), it leaves the URL to be processed by a later run."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one URL, handed to `Store.record`.

    ``state`` is `State.DONE` (``body`` required, may be empty) or `State.FAILED`
    (``error`` required: one human line, without the URL, so equal reasons group in
    summaries). ``attempts`` counts the tries of this run; the store adds it to the
    attempts of earlier runs. ``fetched_at`` is a unix time (``None``: the time of the
    `Store.record` call). ``processed`` is the processing stage's result, any value
    `json.dumps` accepts, None included (serialised inside `Store.record`, so a bad value
    raises there), or `NOT_PROCESSED` (the default) when the URL was not processed or its
    processing failed; ``process_error`` is the processing stage's one-line failure.
    ``body`` is ignored for failed outcomes. ``response_head`` is the final response's
    status line and header lines as received (``HTTP/1.1 200 OK\\r\\nName: value\\r\\n...``, bytes
    taken as latin-1), kept as it is: `Store.export` parses it into ``status_line`` and
    ``headers``; `Store.read_head` gives it back.
    """

    url: str
    state: State
    http_status: int | None = None
    body: bytes | None = None
    attempts: int = 1
    error: str | None = None
    fetched_at: float | None = None
    content_type: str | None = None
    final_url: str | None = None
    processed: object = NOT_PROCESSED
    process_error: str | None = None
    response_head: bytes | None = None


@dataclass(frozen=True, slots=True)
class UrlRecord:
    """A URL still to fetch, as `Store.pending` yields it.

    ``seq`` is its input position (strictly increasing in input order); ``state`` is
    `State.PENDING` or `State.FAILED`; ``attempts`` is the total of earlier runs.
    """

    seq: int
    url: str
    state: State
    attempts: int


@dataclass(frozen=True, slots=True)
class DoneRecord:
    """A done URL to process from its stored body, as `Store.to_process` yields it.

    ``seq`` is its input position; ``http_status``, ``content_type``, ``final_url`` and
    ``response_head`` (the final response's status line and header lines, as latin-1
    text; None if recorded without) are those recorded when it was fetched (the body is
    read separately, when needed, with `Store.read_body`).
    """

    seq: int
    url: str
    http_status: int | None
    content_type: str | None
    final_url: str | None
    response_head: str | None = None


@dataclass(frozen=True, slots=True)
class AddResult:
    """What one `Store.add_urls` call did with its lines.

    ``added``: new valid URLs (now pending). ``duplicates``: lines whose URL (or, for an
    invalid line, whose text) was already in the store, including earlier in the same call.
    ``invalid``: new invalid lines, stored in state invalid with a reason. ``skipped``:
    blank lines and ``#`` comments.
    """

    added: int = 0
    duplicates: int = 0
    invalid: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Committed totals of a store. ``total`` is the sum of the four states; ``bytes``
    is the sum of the stored body sizes of done URLs; ``process_failed`` counts the done
    URLs whose processing failed (they have a ``process_error``)."""

    total: int
    done: int
    failed: int
    invalid: int
    pending: int
    bytes: int
    process_failed: int = 0


class StoreError(Exception):
    """Base class of the store's own errors."""


class StoreClosedError(StoreError):
    """The store was closed (or opened read-only) and cannot record any more."""


class StoreWriteError(StoreError):
    """The writer thread failed to commit; ``__cause__`` is the original exception.

    Outcomes from the failed batch onwards are not committed (their URLs stay pending, so
    a later run fetches them again); the store accepts no more records.
    """


class StoreBusyError(StoreError):
    """Another process has this store open for writing."""


class NotAStoreError(StoreError):
    """The path holds something that is not a threadloom store: a user's own file, a
    non-empty directory without a store in it, another program's database. Nothing in
    it was read past its start or changed."""


class MissingDirectoryError(StoreError):
    """The directory a new store would go in does not exist (``create_dirs=False``).
    ``directory`` is that directory, as given."""

    def __init__(self, directory: str) -> None:
        super().__init__(f"no such directory: {directory}")
        self.directory = directory
