"""The seeds' two races, caught at the first unguarded access; guarded, they lose nothing."""

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable

import pytest

import threadloom.sync as tsync


class Counter:
    """Seed 003's shared counter, with its lock declared."""

    value = tsync.guarded_by[int]("lock")

    def __init__(self) -> None:
        self.lock = tsync.Lock()
        self.value = 0


def run_threads(target: Callable[[], None], count: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run() -> None:
        start.wait()
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_unguarded_counter_update_is_caught_at_the_first_access() -> None:
    counter = Counter()

    def racy_increment() -> None:
        for _ in range(1000):
            counter.value += 1  # read, add, write: the lost-update race

    errors = run_threads(racy_increment, 4)
    assert len(errors) == 4
    assert all(isinstance(e, tsync.UnguardedAccessError) for e in errors)
    assert "Counter.value read by thread" in str(errors[0])
    with counter.lock:
        assert counter.value == 0  # not a single unguarded update got through


def test_guarded_counter_loses_no_update() -> None:
    counter = Counter()

    def increment() -> None:
        for _ in range(2000):
            with counter.lock:
                counter.value += 1

    assert run_threads(increment, 4) == []
    with counter.lock:
        assert counter.value == 8000


def test_dict_iterated_without_its_lock_is_caught() -> None:
    # Seed 002: check_cache iterates while add_to_cache inserts.
    cache = tsync.Guarded({str(i): i for i in range(100)}, tsync.Lock())

    def check_cache() -> None:
        for _key, _value in cache.value.items():
            pass

    with pytest.raises(tsync.UnguardedAccessError, match="guarded value read"):
        check_cache()
    with pytest.raises(tsync.UnguardedAccessError, match="written"):
        cache.value = {}


def test_guarded_dict_never_changes_size_during_iteration() -> None:
    cache = tsync.Guarded({str(i): i for i in range(100)}, tsync.Lock())
    added = threading.Event()
    rounds = {"checked": 0}

    def check_cache() -> None:
        while not added.is_set() or rounds["checked"] < 50:
            with cache as entries:
                for _key, _value in entries.items():
                    pass
            rounds["checked"] += 1

    def add_to_cache() -> None:
        for n in range(2000):
            with cache.lock:
                cache.value[f"new-{n}"] = n
        added.set()

    errors: list[BaseException] = []

    def guarded(function: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                function()
            except BaseException as exc:
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(f)) for f in (check_cache, add_to_cache)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with cache as entries:
        assert len(entries) == 2100


def test_guards_require_threadloom_locks() -> None:
    with pytest.raises(TypeError, match=r"threadloom\.sync Lock or RLock"):
        tsync.Guarded(0, _thread.allocate_lock())  # type: ignore[arg-type]
    shared = tsync.RLock()

    class Box:
        item = tsync.guarded_by[str](shared)

    box = Box()
    box.item = "first"  # initialisation is unchecked
    with shared, shared:
        box.item = "second"
        assert box.item == "second"
    with pytest.raises(tsync.UnguardedAccessError):
        _ = box.item
