"""Turning an `Outcome` into the row (and body) the store's writer commits."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Final

from threadloom.store._db import Row
from threadloom.store._types import NOT_PROCESSED, Outcome, State

Item = tuple[Row, bytes | None]
"""What the writer queue carries for an outcome: the row to upsert and, for stores that
keep bodies themselves rather than as files, the body."""

# The states an outcome may have, by value (a State or its text), to the text stored.
_RECORDABLE_TEXT: Final[dict[str, str]] = {"done": "done", "failed": "failed"}


def outcome_item(outcome: Outcome, keep_body: Callable[[str, bytes], str | None]) -> Item:
    """Validate ``outcome`` and build its `Item` (in the recording thread).

    Raises `ValueError`/`TypeError` for a malformed outcome (a state other than
    done/failed, a done without body, a failed without error, a ``processed`` value
    JSON cannot encode). For a done outcome the body is hashed and handed to
    ``keep_body(url, body)``: a reference it returns (a directory store's file name)
    goes into the row and the body stays out of the queue; None sends the body along.
    """
    # A dict lookup instead of State(...) and .value (an enum call and a property,
    # ~1 us together per outcome): the state's text is what the row stores. A State is
    # a str enum, so it finds its text too.
    try:
        state = _RECORDABLE_TEXT.get(outcome.state)
    except TypeError:  # unhashable: State() below says what is wrong with it
        state = None
    if state is None:
        raise ValueError(f"an outcome is done or failed, not {State(outcome.state).value!r}")
    if not isinstance(outcome.url, str) or not outcome.url:
        raise TypeError(f"Outcome.url must be a non-empty str, not {outcome.url!r}")
    processed = None if outcome.processed is NOT_PROCESSED else json.dumps(outcome.processed)
    fetched_at = time.time() if outcome.fetched_at is None else float(outcome.fetched_at)
    size = sha256 = body_ref = None
    body = None
    head = outcome.response_head if state == "done" else None
    if state == "done":
        if outcome.body is None:
            raise ValueError(f"a done outcome needs a body (may be b''): {outcome.url}")
        body = bytes(outcome.body)
        size = len(body)
        sha256 = hashlib.sha256(body).hexdigest()
        body_ref = keep_body(outcome.url, body)
        if body_ref is not None:
            body = None
    elif not outcome.error:
        raise ValueError(f"a failed outcome needs an error reason: {outcome.url}")
    row: Row = (
        outcome.url,
        state,
        outcome.http_status,
        size,
        sha256,
        outcome.attempts,
        outcome.error,
        fetched_at,
        outcome.content_type,
        outcome.final_url,
        processed,
        outcome.process_error,
        # As text: latin-1 maps every byte to one character, so it is lossless and
        # costs a copy (0.1 us for a 250-byte head; zlib would cost 10 us a row).
        None if head is None else head.decode("latin-1"),
        body_ref,
    )
    return row, body


def document_item(
    url: str,
    http_status: int | None,
    body: bytes,
    attempts: int,
    content_type: str | None,
    final_url: str | None,
    head: bytes | None,
    keep_body: Callable[[str, bytes], str | None],
) -> Item:
    """The `Item` of a done document without processing: what `outcome_item` builds for
    ``Outcome(url, State.DONE, http_status, body, attempts, content_type=content_type,
    final_url=final_url, response_head=head)`` recorded now, without the `Outcome`
    (a frozen dataclass of twelve fields) and its checks: the caller passes a non-empty
    str ``url`` and a bytes ``body``, as a transport's response has them."""
    body_ref = keep_body(url, body)
    row: Row = (
        url,
        "done",
        http_status,
        len(body),
        hashlib.sha256(body).hexdigest(),
        attempts,
        None,
        time.time(),
        content_type,
        final_url,
        None,
        None,
        None if head is None else head.decode("latin-1"),
        body_ref,
    )
    return row, (body if body_ref is None else None)
