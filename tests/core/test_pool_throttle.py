"""A Throttle in the pool: each key's limit follows what its attempts observe, against
the FaultServer's /capacity route (a host that answers C at a time)."""

from __future__ import annotations

import http.client
import itertools
import statistics
import threading
import time

import pytest

from threadloom.core import Pool, TaskEvent, Throttle
from threadloom.server import FaultServer

pytestmark = pytest.mark.timeout(60)


class Overloaded(Exception):
    """The capacity route refused the request (503)."""


def fetch(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    if response.status == 503:
        raise Overloaded(path)
    return response.status


def test_a_key_converges_to_the_capacity_of_its_host() -> None:
    capacity = 4
    requests = 300
    policy = Throttle(
        target_latency=0.005,
        latency_factor=1.5,
        start=1,
        max_limit=16,
        overload_on=(Overloaded,),
    )
    events: list[TaskEvent] = []
    with FaultServer() as server, Pool(24, throttle=policy) as pool:
        pool.subscribe(lambda e: events.append(e) if e.kind == "throttle" else None)
        path = f"/capacity/{capacity}/conv?base=20&retry_after=0"
        futures = [
            pool.submit_task(fetch, (server.port, path), key="host") for _ in range(requests)
        ]
        failed = sum(1 for f in futures if f.exception(30) is not None)
        seen = server.capacity.in_flight_seen("conv")
        refused = server.capacity.refused("conv")

    assert failed == refused  # every failure is a 503 the throttle saw
    # After the first third, the host sees about C in flight, never 2C (no 503s).
    settled = seen[len(seen) // 3 :]
    assert capacity / 2 <= statistics.mean(settled) <= capacity + 2, settled
    assert max(settled) < 2 * capacity, settled
    # 503s: a few at most, while slow start overshoots.
    assert refused <= 10, refused
    limits = [e.limit for e in sorted(events, key=lambda e: e.time)]
    assert limits, "the throttle made no decision"
    assert all(e.limit is not None and 1 <= e.limit <= 16 for e in events)
    assert {e.key for e in events} == {"host"}
    assert statistics.median(limits[len(limits) // 2 :]) <= capacity + 2


def test_set_key_throttle_caps_a_key_at_its_initial_limit_and_none_lifts_it() -> None:
    gate = threading.Event()
    running = 0
    peak = 0
    lock = threading.Lock()

    def hold() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            assert gate.wait(10)
        finally:
            with lock:
                running -= 1

    with Pool(8) as pool:
        pool.set_key_throttle("k", Throttle(target_latency=5.0, start=2, max_limit=2))
        futures = [pool.submit_task(hold, key="k") for _ in range(6)]
        free = pool.submit_task(lambda: "other key", key="other")
        assert free.result(10) == "other key"  # unthrottled keys are not held
        tick = threading.Event()
        while pool.statistics().running < 2:
            tick.wait(0.005)
        assert pool.statistics().running == 2
        pool.set_key_throttle("k", None)  # back to no limit: the parked four start
        while pool.statistics().running < 6:
            tick.wait(0.005)
        gate.set()
        for f in futures:
            f.result(10)
    assert peak == 6


def test_overload_at_the_floor_spaces_starts() -> None:
    starts: list[float] = []
    events: list[TaskEvent] = []

    def refuse() -> None:
        starts.append(time.monotonic())
        raise Overloaded("always")

    policy = Throttle(target_latency=0.05, start=1, max_limit=1, overload_on=(Overloaded,))
    with Pool(4, throttle=policy) as pool:
        pool.subscribe(lambda e: events.append(e) if e.kind == "throttle" else None)
        futures = [pool.submit_task(refuse, key="k") for _ in range(5)]
        for f in futures:
            assert isinstance(f.exception(10), Overloaded)
    intervals = [e.interval for e in events]
    assert intervals[:3] == [0.05, 0.1, 0.2]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # Each start waits the spacing decided after the attempt before it.
    assert all(gap >= 0.04 for gap in gaps[1:]), gaps
