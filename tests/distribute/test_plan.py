"""How a scaled-out fetch cuts its URLs into shards (no cluster needed)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from threadloom.distribute._plan import TAIL_SHARD_SIZE, ShardCutter
from threadloom.store import State, UrlRecord


def _records(count: int) -> list[UrlRecord]:
    return [UrlRecord(n + 1, f"http://a/{n}", State.PENDING, 0) for n in range(count)]


def test_shards_are_cut_at_the_size_while_the_total_is_unknown() -> None:
    shards = [s for s in ShardCutter(iter(_records(10_500)), 2000) if isinstance(s, tuple)]
    assert [len(shard) for shard in shards] == [2000] * 5 + [500]
    assert [record for shard in shards for record in shard] == _records(10_500)


def test_the_last_shards_shrink_so_the_lanes_end_together() -> None:
    records = _records(20_000)
    taken = [0]

    def counted() -> Iterator[UrlRecord]:
        for record in records:
            taken[0] += 1
            yield record

    cutter = ShardCutter(iter(counted()), 2000, remaining=lambda: len(records) - taken[0], lanes=2)
    sizes = [len(shard) for shard in cutter if isinstance(shard, tuple)]
    assert sum(sizes) == 20_000
    assert sizes[:3] == [2000, 2000, 2000], "full shards while much remains"
    assert all(a >= b for a, b in itertools.pairwise(sizes)), sizes
    # Near the end: a quarter of what remains (two lanes), never below the floor.
    assert min(sizes[:-1]) == TAIL_SHARD_SIZE
    assert sizes[-1] <= TAIL_SHARD_SIZE
    assert len(sizes) < 30, "the tail adds a few shards, not hundreds"
