"""Task priorities: higher first, FIFO among equals, with keys, retries and maps."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from threadloom.core import Pool, Retry

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def one_worker() -> Iterator[tuple[Pool, threading.Event, list[str]]]:
    """A one-worker pool whose worker is held by a gate task until the Event is set."""
    gate = threading.Event()
    started = threading.Event()
    order: list[str] = []

    def hold() -> None:
        started.set()
        assert gate.wait(10)

    with Pool(1) as pool:
        pool.submit(hold)
        assert started.wait(10)
        yield pool, gate, order
        gate.set()


def test_higher_priority_first_fifo_among_equals(
    one_worker: tuple[Pool, threading.Event, list[str]],
) -> None:
    pool, gate, order = one_worker
    plan = [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1), ("f", 9)]
    futures = [
        pool.submit_task(order.append, (name,), priority=prio, label=name) for name, prio in plan
    ]
    gate.set()
    for future in futures:
        future.result(10)
    assert order == ["f", "b", "d", "a", "c", "e"]


def test_plain_tasks_queued_before_the_first_priority_are_passed(
    one_worker: tuple[Pool, threading.Event, list[str]],
) -> None:
    pool, gate, order = one_worker
    futures = [pool.submit(order.append, name) for name in "xyz"]
    futures.append(pool.submit_task(order.append, ("urgent",), priority=1))
    futures.append(pool.submit(order.append, "later"))
    gate.set()
    for future in futures:
        future.result(10)
    assert order == ["urgent", "x", "y", "z", "later"]


def test_parked_tasks_of_a_key_start_by_priority() -> None:
    gate = threading.Event()
    started = threading.Event()
    order: list[str] = []

    def hold() -> None:
        started.set()
        assert gate.wait(10)

    with Pool(4) as pool:
        first = pool.submit_task(hold, key="host", key_limit=1)
        assert started.wait(10)
        parked = threading.Semaphore(0)

        def on_wait(delta: int) -> None:
            if delta > 0:
                parked.release()

        futures = [
            pool.submit_task(
                order.append, (name,), key="host", key_limit=1, priority=prio, on_wait=on_wait
            )
            for name, prio in [("low", 0), ("high", 3), ("mid", 1), ("high2", 3)]
        ]
        # Every one of them is parked behind the key before the slot frees.
        for _ in range(4):
            assert parked.acquire(timeout=10)
        assert not first.done()
        gate.set()
        for future in futures:
            future.result(10)
    assert order == ["high", "high2", "mid", "low"]


def test_a_retry_keeps_its_priority(one_worker: tuple[Pool, threading.Event, list[str]]) -> None:
    pool, gate, order = one_worker
    failed_once = threading.Event()
    retried = threading.Event()

    def flaky() -> None:
        order.append("flaky")
        if not failed_once.is_set():
            failed_once.set()
            raise ValueError("first attempt fails")

    retry = Retry(attempts=2, backoff=0.5, jitter=0.0)
    pool.subscribe(lambda e: retried.set() if e.kind == "retry" else None)
    urgent = pool.submit_task(flaky, priority=5, retry=retry)

    def block_then(name: str) -> None:
        order.append(name)
        if name == "p0":
            # The retry is back in the queue while this one runs: it must pass the
            # plain tasks queued before it.
            assert retried.wait(10)
            while pool.statistics().waiting_retry:
                threading.Event().wait(0.005)

    futures = [pool.submit(block_then, name) for name in ("p0", "p1", "p2")]
    gate.set()
    urgent.result(10)
    for future in futures:
        future.result(10)
    assert urgent.attempts == 2
    assert order == ["flaky", "p0", "flaky", "p1", "p2"]


def test_map_priority_ranks_the_whole_call(
    one_worker: tuple[Pool, threading.Event, list[str]],
) -> None:
    pool, gate, order = one_worker
    low = pool.submit(order.append, "task")
    results = pool.imap(lambda x: order.append(f"map{x}"), range(3), priority=2)
    gate.set()
    list(results)
    low.result(10)
    assert order[:3] == ["map0", "map1", "map2"]
    assert order[3] == "task"


def test_cancelling_shutdown_drains_prioritized_tasks() -> None:
    gate = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        assert gate.wait(10)

    pool = Pool(1)
    pool.submit(hold)
    assert started.wait(10)
    queued = [pool.submit_task(print, priority=i) for i in range(3)]
    gate.set()
    pool.shutdown(wait=True, cancel_futures=True)
    assert all(f.cancelled() or f.done() for f in queued)
    assert pool.statistics().queued == 0
