"""``Pool.set_key_rate``: a key's rate changed at run time (a host's Crawl-delay, learnt
from its robots.txt once tasks of other hosts are already running)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from concurrent.futures import wait

import pytest

from threadloom.core import Pool


class _Starts:
    def __init__(self) -> None:
        self.times: list[float] = []
        self._lock = threading.Lock()

    def record(self) -> None:
        with self._lock:
            self.times.append(time.monotonic())

    def gaps(self) -> list[float]:
        with self._lock:
            return [b - a for a, b in itertools.pairwise(sorted(self.times))]


def test_a_rate_set_before_the_key_is_used_spaces_its_tasks_and_outlives_idle_keys() -> None:
    starts = _Starts()
    with Pool(max_workers=4) as pool:
        pool.set_key_rate("host", 20.0)  # 50 ms apart; the tasks ask for no rate at all
        wait([pool.submit_task(starts.record, key="host") for _ in range(4)], timeout=10)
        # The key goes idle and its state is dropped; the rate set for it is kept.
        deadline = time.monotonic() + 10
        while "host" in pool._gate._keys and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "host" not in pool._gate._keys
        wait([pool.submit_task(starts.record, key="host") for _ in range(3)], timeout=10)
    gaps = starts.gaps()
    assert len(gaps) == 6
    assert all(gap >= 0.05 * 0.9 for gap in gaps), gaps


def test_a_slower_rate_holds_back_the_waiting_tasks_of_a_key_in_use() -> None:
    starts = _Starts()
    with Pool(max_workers=4) as pool:
        # One start a minute: the key's state stays while the test runs.
        first = pool.submit_task(starts.record, key="host", key_rate=1 / 60)
        first.result(timeout=10)
        pool.set_key_rate("host", 5.0)  # 200 ms apart, counted from the first start
        later = [pool.submit_task(starts.record, key="host", key_rate=1 / 60) for _ in range(2)]
        wait(later, timeout=10)
        assert all(future.done() for future in later)
    gaps = starts.gaps()
    assert all(gap >= 0.2 * 0.9 for gap in gaps), gaps


def test_a_faster_rate_releases_a_parked_task_at_once() -> None:
    started = threading.Event()
    with Pool(max_workers=2) as pool:
        # One start a minute: the second task parks behind the key for a minute.
        pool.submit_task(int, key="host", key_rate=1 / 60).result(timeout=10)
        parked = pool.submit_task(started.set, key="host", key_rate=1 / 60)
        assert not started.wait(0.2)
        began = time.monotonic()
        pool.set_key_rate("host", 1000.0)
        assert started.wait(10)
        parked.result(timeout=10)
        assert time.monotonic() - began < 5, "released long before the old minute"


def test_set_key_rate_refuses_a_rate_that_is_not_positive() -> None:
    with Pool(max_workers=1) as pool:
        for bad in (0.0, -1.0, math.nan):
            with pytest.raises(ValueError, match="key rate must be > 0"):
                pool.set_key_rate("host", bad)
