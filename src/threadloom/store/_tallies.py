"""The aggregate reads of a store's index: totals by state and the most frequent reasons."""

from __future__ import annotations

import sqlite3

from threadloom.store._types import State, StoreCounts


def state_counts(conn: sqlite3.Connection) -> StoreCounts:
    """`Store.counts` on ``conn``: committed totals by state, the bytes of all done
    bodies and the done URLs whose processing failed, in one pass over the table."""
    by_state = dict.fromkeys(State, 0)
    total_bytes = process_failed = 0
    rows = conn.execute(
        "SELECT state, count(*), coalesce(sum(size), 0), count(process_error)"
        " FROM urls GROUP BY state"
    ).fetchall()
    for state, count, size, with_process_error in rows:
        by_state[State(state)] = count
        if state == State.DONE:
            total_bytes = size
            process_failed = with_process_error
    return StoreCounts(
        total=sum(by_state.values()),
        done=by_state[State.DONE],
        failed=by_state[State.FAILED],
        invalid=by_state[State.INVALID],
        pending=by_state[State.PENDING],
        bytes=total_bytes,
        process_failed=process_failed,
    )


def error_reasons(conn: sqlite3.Connection, limit: int) -> list[tuple[str, int]]:
    """`Store.error_reasons` on ``conn``: the ``limit`` most frequent reasons of failed
    and invalid URLs with counts, most frequent first (ties by reason text)."""
    rows = conn.execute(
        "SELECT error, count(*) AS n FROM urls WHERE state IN ('failed', 'invalid')"
        " GROUP BY error ORDER BY n DESC, error LIMIT ?",
        (limit,),
    ).fetchall()
    return [(reason if reason is not None else "(no reason)", n) for reason, n in rows]


def process_error_reasons(conn: sqlite3.Connection, limit: int) -> list[tuple[str, int]]:
    """`Store.process_error_reasons` on ``conn``: the ``limit`` most frequent
    ``process_error`` reasons of done URLs with counts (ties by reason text)."""
    rows = conn.execute(
        "SELECT process_error, count(*) AS n FROM urls"
        " WHERE state = 'done' AND process_error IS NOT NULL"
        " GROUP BY process_error ORDER BY n DESC, process_error LIMIT ?",
        (limit,),
    ).fetchall()
    return [(str(reason), int(n)) for reason, n in rows]
