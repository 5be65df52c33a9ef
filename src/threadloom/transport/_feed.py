"""``TransferFeed``: requests drawn by the transfer thread, results handed back in batches.

``submit`` costs a ``Future`` per request and a done-callback per result, run one by
one on the transfer thread, and the caller needs a thread of its own to start the next
request when one ends. A bulk fetch needs neither: a feed is asked for requests when the
transfer thread has room and given each wake-up's finished transfers as one list, all
on the transfer thread. Measured (20,000 small documents from nginx on loopback, -j 8):
the fetch job's per-URL Pool task, its futures and the thread hand-off per result were
~30% of its Python time; see benchmarks/README.md, "Where the CPU goes".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from threadloom.transport._response import Response

FeedResult = tuple[object, Response | BaseException]
"""A finished request: the tag it was taken with, and its `Response` or the error that
`HttpClient.get` would have raised for it."""


class TransferFeed(Protocol):
    """A source of requests and a sink of their results, called on the transfer thread
    only (so a feed needs no lock for what only these methods touch).

    Attach one with `HttpClient.attach`; one feed per client at a time, besides any
    number of ``submit`` calls. None of these methods may block for long or raise: one
    that raises is logged (CRITICAL) and the feed is detached with that error (its
    transfers in flight aborted, their results dropped), the driver carries on.
    """

    def take(self, room: int) -> Sequence[tuple[str, object]]:
        """Up to ``room`` requests to start now, as ``(url, tag)`` pairs, in the order
        they should start; fewer (none) when the feed has no more now. Called whenever
        the transfer thread has room after starting the requests submitted to the
        client (they go first): at attachment, after each batch of results, and after
        each `FeedLink.wake`."""
        ...

    def finished(self, results: list[FeedResult]) -> None:
        """The requests that ended since the last call, in the order they ended: each
        ``(tag, response or error)``, exactly as ``HttpClient.submit``'s future would
        have resolved (a final status >= 400 is an ``HttpStatusError``). The list is the
        feed's to keep."""
        ...

    def detached(self, error: BaseException | None) -> None:
        """Called once, last: the feed is detached. ``error`` is None after
        `FeedLink.detach`; else why the transfer thread let the feed go (the client
        closed, the feed or the thread failed). Requests still in flight were aborted
        and their results are not delivered."""
        ...
