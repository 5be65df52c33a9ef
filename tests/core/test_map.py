"""map (Executor contract + buffersize), imap, imap_unordered."""

from __future__ import annotations

import gc
import itertools
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any

import pytest

from threadloom.core import Pool


def test_map_matches_builtin_map_with_several_iterables() -> None:
    with Pool(max_workers=4) as pool:
        assert list(pool.map(pow, range(1000), itertools.repeat(2))) == [i**2 for i in range(1000)]
        assert list(pool.map(pow, [])) == []


def test_map_runs_everything_even_if_results_are_never_read() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def record(i: int) -> None:
        with lock:
            seen.append(i)

    with Pool(max_workers=3) as pool:
        results = pool.map(record, range(200))
        assert results is not None  # never iterated
    assert sorted(seen) == list(range(200))


def test_map_reads_all_input_eagerly_without_buffersize() -> None:
    consumed = 0

    def source() -> Iterator[int]:
        nonlocal consumed
        for i in range(50):
            consumed += 1
            yield i

    with Pool(max_workers=2) as pool:
        results = pool.map(abs, source())
        assert consumed == 50
        assert list(results) == list(range(50))


def test_map_buffersize_reads_lazily_and_bounds_outstanding() -> None:
    consumed = 0

    def source() -> Iterator[int]:
        nonlocal consumed
        for i in itertools.count():
            consumed += 1
            yield i

    with Pool(max_workers=4) as pool:
        results = pool.map(abs, source(), buffersize=8)
        first = list(itertools.islice(results, 100))
        assert first == list(range(100))
        # at most buffersize items beyond what was yielded (+1 for zip's look-ahead)
        assert consumed <= 100 + 8 + 1
        results.close()  # type: ignore[attr-defined]


def test_map_buffersize_validation() -> None:
    with Pool(max_workers=1) as pool, pytest.raises(ValueError):
        pool.map(abs, [1], buffersize=0)


def test_map_raises_item_exception_in_order() -> None:
    def check(i: int) -> int:
        if i == 5:
            raise ValueError("five")
        return i

    with Pool(max_workers=4) as pool:
        results = pool.map(check, range(10))
        assert [next(results) for _ in range(5)] == list(range(5))
        with pytest.raises(ValueError, match="five"):
            next(results)


def test_map_timeout() -> None:
    gate = threading.Event()
    with Pool(max_workers=1) as pool:
        results = pool.map(gate.wait, [5.0], timeout=0.05)
        with pytest.raises(FuturesTimeoutError):
            next(results)
        gate.set()


def test_closing_map_iterator_cancels_unstarted_items() -> None:
    started = 0
    lock = threading.Lock()
    gate = threading.Event()

    def work(i: int) -> int:
        nonlocal started
        with lock:
            started += 1
        if i:
            gate.wait(10)
        return i

    with Pool(max_workers=2) as pool:
        results = pool.map(work, range(1000))
        assert next(results) == 0
        results.close()  # type: ignore[attr-defined]
        gate.set()
    assert started < 10
    stats = pool.statistics()
    assert stats.cancelled == 1000 - started
    assert stats.succeeded == started


def test_imap_endless_generator_in_constant_memory() -> None:
    with Pool(max_workers=4) as pool:
        results = pool.imap(lambda x: x * 2, itertools.count(), buffersize=64)
        assert list(itertools.islice(results, 5000)) == [2 * i for i in range(5000)]
        results.close()  # type: ignore[attr-defined]
        assert pool.statistics().submitted <= 5000 + 64 + 1


def test_imap_unordered_yields_in_completion_order() -> None:
    slow_started = threading.Event()
    release = threading.Event()

    def work(i: int) -> int:
        if i == 0:
            slow_started.set()
            release.wait(10)
        return i

    with Pool(max_workers=2) as pool:
        results = pool.imap_unordered(work, range(20))
        assert slow_started.wait(10)
        others = [next(results) for _ in range(19)]  # the slow head does not block them
        assert sorted(others) == list(range(1, 20))
        release.set()
        assert list(results) == [0]


def test_imap_reraises_input_error_after_earlier_results() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("input broke")

    with Pool(max_workers=2) as pool:
        results = pool.imap(abs, source())
        assert next(results) == 1
        assert next(results) == 2
        with pytest.raises(OSError, match="input broke"):
            next(results)


def test_map_item_failures_are_counted_even_if_never_read() -> None:
    with Pool(max_workers=2) as pool:
        pool.map(lambda i: 1 // (i % 2), range(10))
    stats = pool.statistics()
    assert (stats.submitted, stats.succeeded, stats.failed) == (10, 5, 5)


class _Result:
    """A result that can be watched: ``collected`` is set once nothing refers to it."""

    def __init__(self, i: int) -> None:
        self.i = i
        self.collected = threading.Event()
        weakref.finalize(self, self.collected.set)


_MAPS: dict[str, Callable[[Pool, Callable[[int], Any], list[int]], Iterator[Any]]] = {
    "map": lambda pool, fn, items: pool.map(fn, items),
    "map-buffersize": lambda pool, fn, items: pool.map(fn, items, buffersize=2),
    "imap": lambda pool, fn, items: pool.imap(fn, items),
    "imap-buffersize": lambda pool, fn, items: pool.imap(fn, items, buffersize=2),
    "imap_unordered": lambda pool, fn, items: pool.imap_unordered(fn, items),
    "imap_unordered-buffersize": lambda pool, fn, items: pool.imap_unordered(
        fn, items, buffersize=2
    ),
}


@pytest.mark.parametrize("how", sorted(_MAPS))
def test_a_yielded_result_is_not_kept_by_the_iterator(how: str) -> None:
    # bpo-14406: the caller drops each result while the map is still going; nothing in
    # the pool may keep it (before the fix the generator's local held the last one).
    with Pool(max_workers=2) as pool:
        results = _MAPS[how](pool, _Result, list(range(20)))
        seen = []
        for result in results:
            seen.append(result.i)
            collected = result.collected
            del result
            gc.collect()
            assert collected.wait(5), f"result {seen[-1]} outlived its use"
    assert sorted(seen) == list(range(20))


@pytest.mark.parametrize("how", sorted(_MAPS))
def test_a_worker_does_not_keep_results_while_it_runs_the_next_item(how: str) -> None:
    # One worker: item 0 is its first chunk alone (chunks start at one item), item 1 its
    # next. Item 1 waits until the caller has dropped result 0; before the fix the
    # worker's own reference to its previous chunk's results kept it until item 1 ended.
    first_collected: list[threading.Event] = []  # item 0 runs first: one worker

    def work(i: int) -> object:
        if i == 0:
            result = _Result(0)
            first_collected.append(result.collected)
            return result
        return first_collected[0].wait(5)

    with Pool(max_workers=1) as pool:
        results = _MAPS[how](pool, work, [0, 1])
        result = next(results)
        assert result.i == 0
        del result
        assert next(results) is True, "result 0 was still referenced while item 1 ran"
