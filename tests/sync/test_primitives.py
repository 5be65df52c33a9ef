"""Owner tracking, held(), statistics, reprs: what the primitives know beyond threading's."""

from __future__ import annotations

import dataclasses
import re
import threading
import weakref

import pytest

import threadloom.sync as tsync


def test_held_lists_the_current_threads_locks_in_order() -> None:
    a, b, r = tsync.Lock(), tsync.Lock(), tsync.RLock()
    # Earlier tests (CPython's lock_tests) may have left locks acquired and abandoned.
    before = tsync.held()
    with a, r, r, b:
        assert tsync.held() == (*before, a, r, b)
        seen_elsewhere: list[tuple[object, ...]] = []
        worker = threading.Thread(target=lambda: seen_elsewhere.append(tsync.held()))
        worker.start()
        worker.join()
        assert seen_elsewhere == [()]
    assert tsync.held() == before


def test_lock_released_by_another_thread_leaves_the_owners_held_list() -> None:
    lock = tsync.Lock()
    lock.acquire()
    assert lock in tsync.held()
    worker = threading.Thread(target=lock.release)
    worker.start()
    worker.join()
    assert not lock.locked()
    assert lock not in tsync.held()


def test_statistics_name_owner_site_and_waiters() -> None:
    tsync.configure(sites=True)
    lock = tsync.Lock()
    waiting = threading.Event()
    stats_seen: list[tsync.LockStatistics] = []

    with lock:
        line = _line_of("with lock:", test_statistics_name_owner_site_and_waiters)

        def contender() -> None:
            waiting.set()
            with lock:
                pass

        worker = threading.Thread(target=contender, name="contender")
        worker.start()
        waiting.wait()
        # The worker publishes its wait before blocking; poll the frozen snapshot.
        for _ in range(2000):
            stats = lock.statistics()
            if stats.waiters:
                stats_seen.append(stats)
                break
            threading.Event().wait(0.001)
    worker.join()
    stats = stats_seen[0]
    assert stats.locked
    assert stats.owner == "MainThread"
    assert stats.owner_id == threading.get_ident()
    assert stats.acquired_at is not None
    assert stats.acquired_at.endswith(f"test_primitives.py:{line}")
    assert [w.thread for w in stats.waiters] == ["contender"]
    assert stats.waiters[0].kind == "acquiring"
    assert lock.statistics().contended == 1
    assert not lock.statistics().locked
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.locked = False  # type: ignore[misc]


def _line_of(text: str, function: object) -> int:
    import inspect

    lines, start = inspect.getsourcelines(function)  # type: ignore[arg-type]
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_rlock_statistics_count_recursion() -> None:
    lock = tsync.RLock()
    with lock, lock:
        stats = lock.statistics()
        assert (stats.locked, stats.count, stats.owner) == (True, 2, "MainThread")
    assert lock.statistics().count == 0


def test_reprs_are_in_the_standard_form_with_facts_appended() -> None:
    lock = tsync.Lock()
    assert re.match(r"<unlocked threadloom\.sync\.Lock object .*created_at=.* at 0x", repr(lock))
    with lock:
        assert re.match(r"<locked threadloom\.sync\.Lock object owner='MainThread'", repr(lock))
    rlock = tsync.RLock()
    with rlock:
        assert "count=1 owner='MainThread'" in repr(rlock)
    assert repr(tsync.Semaphore(2)).endswith(": value=2>")
    assert repr(tsync.BoundedSemaphore(2)).endswith(": value=2/2>")
    assert repr(tsync.Event()).endswith(": unset>")
    assert repr(tsync.Barrier(2)).endswith(": waiters=0/2>")
    assert "Condition" in repr(tsync.Condition())


def test_ownerless_primitives_list_their_waiters() -> None:
    sem = tsync.Semaphore(0)
    event = tsync.Event()
    started = threading.Barrier(3)

    def take() -> None:
        started.wait()
        sem.acquire()

    def wait() -> None:
        started.wait()
        event.wait()

    workers = [threading.Thread(target=take, name="taker"), threading.Thread(target=wait)]
    for worker in workers:
        worker.start()
    started.wait()
    for _ in range(2000):
        if sem.statistics().waiters and event.statistics().waiters:
            break
        threading.Event().wait(0.001)
    assert [w.thread for w in sem.statistics().waiters] == ["taker"]
    assert sem.statistics().contended == 1
    assert len(event.statistics().waiters) == 1
    sem.release()
    event.set()
    for worker in workers:
        worker.join()
    assert sem.statistics().waiters == ()
    assert event.statistics().is_set


def test_weak_references_and_condition_over_threadloom_locks() -> None:
    for factory in (tsync.Lock, tsync.RLock, tsync.Event, tsync.Semaphore):
        obj = factory()
        assert weakref.ref(obj)() is obj
    lock = tsync.Lock()
    # The standard Condition works with it, through the lock's hooks.
    cond = threading.Condition(lock)  # type: ignore[arg-type]
    with cond:
        assert tsync.held()[-1] is lock
        assert not cond.wait(0.01)
        assert tsync.held()[-1] is lock
    assert tsync.Condition(lock).statistics().lock is not None


def test_configure_validates_and_reports() -> None:
    config = tsync.configure(mode="raise", key="site")
    assert (config.mode, config.key) == ("raise", "site")
    assert tsync.current_config() == config
    with pytest.raises(ValueError, match="mode"):
        tsync.configure(mode="loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):
        tsync.configure(key="class")  # type: ignore[arg-type]
