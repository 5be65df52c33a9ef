"""How a scaled-out fetch is cut up: the politeness budget per shard, and the shards.

Politeness stays global without a coordinator: a host's budget (``per_host`` requests
in flight, ``rate`` starts per second) is divided among the shards that can run at
once, each shard holding every host's share. With ``lanes`` shards running at once and
each allowed ``per_host // lanes`` in flight to a host, no host ever sees more than
``per_host`` in flight in all, whichever shards hold its URLs; likewise ``rate / lanes``
each. When there are more task slots than ``per_host`` (8 processes, --per-host 4),
only ``per_host`` shards run at once, each with a share of 1. The cost: a shard whose
URLs are all on another host leaves its share of this host unused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Final

from threadloom.core import IDLE
from threadloom.jobs import FetchOptions
from threadloom.store import UrlRecord

DEFAULT_SHARD_SIZE: Final = 2000
"""URLs per shard. A shard costs its worker a few ms to set up (opening the store, a
transfer thread, the job's pools: ~4 ms measured for a shared store) and, on a
cluster, the client a merge; 2,000 small documents take a process ~0.5 s, so that
setup is under a per cent, while 100,000 URLs still make 50 shards to spread over the
workers and a killed worker loses at most one shard's progress (measured:
benchmarks/README.md)."""

TAIL_SHARD_SIZE: Final = 200
"""The smallest shard cut near the end of a run (see `ShardCutter`): ~4 ms of a
worker's set-up against ~70 ms of fetching 200 small documents."""

CUT_IDLE_AFTER: Final = 1.0
"""Seconds a partial shard may wait for slow input (a pipe) before it is sent as it is:
URLs arriving slowly are fetched within about a second, not when a shard fills."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How many shards run at once (``lanes``), how many may be submitted and not yet
    finished (``in_flight``: running or waiting on the cluster), and the options each
    shard runs with (``shard_options``: the run's options with the per-host share)."""

    lanes: int
    in_flight: int
    shard_options: FetchOptions


def plan(options: FetchOptions, slots: int, max_in_flight: int | None = None) -> Plan:
    """The plan for a run on ``slots`` task slots (the cluster's worker threads).

    ``lanes`` is ``min(slots, per_host)``; each shard gets ``per_host // lanes`` requests
    in flight per host and ``rate / lanes`` starts per second per host (see the module
    docstring). ``in_flight`` defaults to two shards per lane, so a worker finds its
    next shard waiting when one ends, but only when every slot is a lane (the cluster
    runs at most ``slots`` tasks at once); with fewer lanes than slots it is ``lanes``,
    since a waiting shard would start on an idle slot and break the budget.
    """
    if slots < 1:
        raise ValueError(f"the cluster has no worker threads ({slots})")
    lanes = min(slots, options.per_host)
    per_host = options.per_host // lanes
    rate = None if options.rate is None else options.rate / lanes
    default = 2 * lanes if lanes == slots else lanes
    in_flight = default if max_in_flight is None else max(1, min(max_in_flight, default))
    return Plan(lanes, in_flight, replace(options, per_host=per_host, rate=rate))


class ShardCutter:
    """Cuts the URLs a `PendingFollower` yields into shards of at most ``size`` URLs.

    Iterating it yields a tuple of `UrlRecord` per shard, in the follower's order, or
    :data:`IDLE` when no URL is ready
    (the follower is waiting for slow input): the consumer then has time for finished
    shards. A partial shard goes out after `CUT_IDLE_AFTER` seconds of slow input, and
    the last one at the end. Holds at most one shard of URLs in memory.

    ``remaining`` (the URLs the follower has still to yield, None while the input is
    not complete) makes the last shards smaller: a shard started when ``r`` URLs remain
    takes at most ``r / (2 * lanes)`` of them (but `TAIL_SHARD_SIZE` at least), so the
    ``lanes`` shards running at the end are small and end close together, instead of
    one worker fetching a whole last shard while the others wait (measured: half a
    shard of idle worker, ~0.35 s with shards of 2,000 at 100,000 URLs).
    """

    def __init__(
        self,
        records: Iterator[UrlRecord | object],
        size: int,
        *,
        remaining: Callable[[], int | None] | None = None,
        lanes: int = 1,
    ) -> None:
        if size < 1:
            raise ValueError(f"shard size must be at least 1, got {size}")
        self._records = records
        self._size = size
        self._remaining = remaining
        self._lanes = max(1, lanes)

    def _limit(self) -> int:
        """The size of the shard starting now."""
        left = None if self._remaining is None else self._remaining()
        if left is None:
            return self._size
        tail = max(TAIL_SHARD_SIZE, -(-left // (2 * self._lanes)))
        return min(self._size, tail)

    def __iter__(self) -> Iterator[tuple[UrlRecord, ...] | object]:
        batch: list[UrlRecord] = []
        first = 0.0
        limit = self._size
        for record in self._records:
            if isinstance(record, UrlRecord):
                if not batch:
                    first = time.monotonic()
                    limit = self._limit()
                batch.append(record)
                if len(batch) >= limit:
                    yield tuple(batch)
                    batch = []
            elif batch and time.monotonic() - first >= CUT_IDLE_AFTER:
                yield tuple(batch)
                batch = []
            else:
                yield IDLE
        if batch:
            yield tuple(batch)
