"""``--auto-throttle``: the :class:`~threadloom.core.Throttle` a fetch gives every host.

Each host starts at 2 requests in flight (or ``--per-host`` if lower) and moves within
``[1, --per-host]``: up by one per completion until the first sign of overload ("slow
start"), then up by one per round of healthy answers, cut by a quarter on a sign of
overload. A sign of overload is an answer slower than 1.5 times the host's fastest
answer so far (and slower than :data:`LATENCY_FLOOR`, below which latency is noise), an
HTTP 429 or 503, a timeout, or any answer carrying a Retry-After (honoured as the
spacing between the host's requests while at one request in flight).

Why these values (benchmarks/bench_throttle.py, a host of capacity 8 answering in 20 ms):
a host's queue makes every answer slower as soon as one request too many is in flight,
so the time spent over capacity costs the most; a gentle cut (x 0.75, not x 0.5) spends
fewer rounds far below it, a tight target (1.5x) notices the first excess request, and
the throttle's plateau (``core/_throttle.py``: slow growth near the limit that was cut)
keeps the host just under its capacity most of the time.
"""

from __future__ import annotations

from threadloom.core import Throttle
from threadloom.transport import HttpStatusError, TransferTimeout

__all__ = ["BACKOFF", "LATENCY_FACTOR", "LATENCY_FLOOR", "fetch_throttle", "is_overload"]

LATENCY_FLOOR = 0.02
"""Seconds: an answer faster than this is never a sign of overload."""
LATENCY_FACTOR = 1.5
"""An answer slower than this many times the host's fastest is a sign of overload."""
BACKOFF = 0.75
"""The limit is multiplied by this on a sign of overload."""
OVERLOAD_STATUSES = frozenset({429, 503})


def is_overload(exc: BaseException) -> bool:
    """True for the failures that say a host is overloaded: HTTP 429 and 503, timeouts."""
    if isinstance(exc, HttpStatusError):
        return exc.status in OVERLOAD_STATUSES
    return isinstance(exc, TransferTimeout | TimeoutError)


def fetch_throttle(per_host: int) -> Throttle:
    """The policy of ``--auto-throttle`` with ``--per-host`` as the ceiling."""
    return Throttle(
        target_latency=LATENCY_FLOOR,
        latency_factor=LATENCY_FACTOR,
        start=min(2, per_host),
        min_limit=1,
        max_limit=per_host,
        backoff=BACKOFF,
        overload_on=is_overload,
    )
