"""Refreshing done URLs (``fetch --refresh``): the records, the queries, the writer's item.

A refresh fetches a done URL again, conditionally when the stored head has validators
(``ETag``, ``Last-Modified``), and ends in one of three results (`RefreshResult`):

- confirmed: a ``304 Not Modified``, or a ``200`` whose body has the stored SHA-256.
  The stored body, head and processing result stay; ``confirmed_at`` becomes the time.
- changed: a ``200`` with another body. The new document replaces the URL's row and
  body as `Store.record` would (attempts summed), in the same transaction as the
  refresh columns, so a crash leaves the old document or the new one, never a mix.
- failed: no document (a network error, a 5xx after the retries, a 404, ...). The URL
  stays done with its stored body, head and processing result; ``refresh_error`` says
  why. Nothing of the document is lost.

The columns (schema version 4): ``confirmed_at`` (unix time of the last confirmation;
NULL after a change, whose ``fetched_at`` is the new time), ``refresh_result`` (the
last refresh's result, NULL if never refreshed) and ``refresh_error`` (the last
failure's one-line reason, NULL after a success). They are not among the columns an
outcome row sets (`COLUMNS`), so an ordinary `Store.record` leaves them alone.
"""

from __future__ import annotations

import enum
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from threadloom.store._db import Row
from threadloom.store._rows import outcome_item
from threadloom.store._types import Outcome, State

REFRESH_COLUMNS: Final = ("confirmed_at", "refresh_result", "refresh_error")
"""The columns schema version 4 added (see the module docstring)."""


class RefreshResult(enum.StrEnum):
    """What one refresh of a done URL found (see the module docstring)."""

    CONFIRMED = "confirmed"
    CHANGED = "changed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Refreshed:
    """The result of refreshing the done URL ``url``, handed to `Store.record_refresh`.

    ``attempts``: the requests this refresh made (added to the URL's attempts; for a
    changed document, in place of ``outcome.attempts``). ``at``:
    unix time of the result (None: the time of the `Store.record_refresh` call); for a
    confirmation it becomes ``confirmed_at``. ``error``: a failure's one-line reason
    (required for `RefreshResult.FAILED`, refused otherwise). ``outcome``: the new
    document of a `RefreshResult.CHANGED` (a done `Outcome` of the same URL, required
    then, refused otherwise).
    """

    url: str
    result: RefreshResult
    attempts: int = 1
    at: float | None = None
    error: str | None = None
    outcome: Outcome | None = None

    def __post_init__(self) -> None:
        result = RefreshResult(self.result)
        if not isinstance(self.url, str) or not self.url:
            raise TypeError(f"Refreshed.url must be a non-empty str, not {self.url!r}")
        if (result is RefreshResult.FAILED) != bool(self.error):
            raise ValueError(f"a failed refresh, and only one, has an error: {self.url}")
        changed = result is RefreshResult.CHANGED
        if changed != (self.outcome is not None):
            raise ValueError(f"a changed refresh, and only one, has an outcome: {self.url}")
        if self.outcome is not None and (
            self.outcome.url != self.url or State(self.outcome.state) is not State.DONE
        ):
            raise ValueError(f"a changed refresh's outcome is a done outcome of {self.url}")


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """A done URL to refresh, as `Store.to_refresh` yields it: its input position,
    the stored response head (None if the store has none: a plain refetch then) and
    the SHA-256 of the stored body (a 200 with the same body counts as confirmed)."""

    seq: int
    url: str
    response_head: bytes | None
    sha256: str | None


@dataclass(frozen=True, slots=True)
class RefreshUpdate:
    """What the writer queue carries for `Store.record_refresh`: the refresh columns'
    new values and, for a changed document, the row and body to write first (an
    ``Item`` of the store's writer) and the body reference it supersedes (a directory
    store's other file, removed once the transaction is committed)."""

    url: str
    result: RefreshResult
    at: float
    attempts: int
    error: str | None
    item: tuple[Row, bytes | None] | None = None
    superseded: str | None = None


def to_refresh_condition(older_than: float | None) -> tuple[str, tuple[float, ...]]:
    """The WHERE condition (and its parameters) of done URLs to refresh: every one, or
    with ``older_than`` (a unix time) those whose last fetch or confirmation is older."""
    # "+state" keeps SQLite on the rowid order (one forward scan), as for pending().
    if older_than is None:
        return "+state = 'done'", ()
    return (
        "+state = 'done' AND max(coalesce(fetched_at, 0), coalesce(confirmed_at, 0)) < ?",
        (older_than,),
    )


def to_refresh_sql(
    head_column: str, older_than: float | None, has_columns: bool
) -> tuple[str, tuple[float, ...]]:
    """The paged query of `Store.to_refresh` and its parameters; ``head_column`` is
    ``response_head`` or NULL, ``has_columns`` False for a store older than schema
    version 4 (opened read-only: no confirmation to go by, every done URL is stale)."""
    condition, parameters = to_refresh_condition(older_than if has_columns else None)
    sql = (
        f"SELECT seq, url, {head_column}, sha256 FROM urls"
        f" WHERE {condition} AND seq > ? ORDER BY seq LIMIT ?"
    )
    return sql, parameters


def refresh_update(
    refreshed: Refreshed, keep_new_body: Callable[[str, bytes], tuple[str | None, str | None]]
) -> RefreshUpdate:
    """The writer's item for ``refreshed`` (built in the recording thread): a changed
    document's row and body as `outcome_item` builds them, its body kept by
    ``keep_new_body(url, body)`` (a reference for the row, or None to send the body to
    the writer, and the reference it supersedes)."""
    at = time.time() if refreshed.at is None else float(refreshed.at)
    item = superseded = None
    if refreshed.outcome is not None:
        row, body = outcome_item(refreshed.outcome, _send_body)
        assert body is not None  # a done outcome's, left in the item by _send_body
        row = (*row[:5], refreshed.attempts, *row[6:])  # the refresh's count decides
        ref, superseded = keep_new_body(refreshed.url, body)
        item = (row, body) if ref is None else ((*row[:-1], ref), None)
    return RefreshUpdate(
        refreshed.url, refreshed.result, at, refreshed.attempts, refreshed.error, item, superseded
    )


def _send_body(url: str, body: bytes) -> None:
    """A ``keep_body`` for `outcome_item` that keeps nothing: the body stays in the item."""


def apply_refresh(conn: sqlite3.Connection, updates: list[RefreshUpdate]) -> None:
    """Set the refresh columns of done URLs (inside the writer's transaction, after the
    rows of changed documents were written); a URL not done is left as it is. A
    changed document's attempts were summed by its row's upsert; the others' are
    added here."""
    conn.executemany(
        "UPDATE urls SET refresh_result = ?, refresh_error = ?,"
        " confirmed_at = CASE ? WHEN 'confirmed' THEN ? WHEN 'changed' THEN NULL"
        " ELSE confirmed_at END,"
        " attempts = attempts + ? WHERE url = ? AND state = 'done'",
        [
            (
                u.result.value,
                u.error,
                u.result.value,
                u.at,
                0 if u.item is not None else u.attempts,
                u.url,
            )
            for u in updates
        ],
    )


@dataclass(frozen=True, slots=True)
class RefreshCounts:
    """Committed refresh results of a store's done URLs, by their last refresh:
    ``confirmed``, ``changed``, ``failed`` (a failed one keeps its stored body)."""

    confirmed: int = 0
    changed: int = 0
    failed: int = 0


def refresh_counts(conn: sqlite3.Connection, has_columns: bool) -> RefreshCounts:
    """`RefreshCounts` of the store on ``conn`` (zeros for a store older than schema
    version 4 opened read-only: ``has_columns`` False)."""
    if not has_columns:
        return RefreshCounts()
    found = dict(
        conn.execute(
            "SELECT refresh_result, count(*) FROM urls WHERE state = 'done'"
            " AND refresh_result IS NOT NULL GROUP BY refresh_result"
        ).fetchall()
    )
    return RefreshCounts(
        confirmed=int(found.get(RefreshResult.CONFIRMED.value, 0)),
        changed=int(found.get(RefreshResult.CHANGED.value, 0)),
        failed=int(found.get(RefreshResult.FAILED.value, 0)),
    )


def count_to_refresh(conn: sqlite3.Connection, older_than: float | None) -> int:
    """How many done URLs `to_refresh_condition` selects on ``conn``."""
    condition, parameters = to_refresh_condition(older_than)
    return int(
        conn.execute(f"SELECT count(*) FROM urls WHERE {condition}", parameters).fetchone()[0]
    )
