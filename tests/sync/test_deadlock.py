"""Real deadlocks end in DeadlockError in one of the threads instead of hanging."""

from __future__ import annotations

import threading
from collections.abc import Callable

import threadloom.sync as tsync


def run_cycle(
    locks: list[tsync.Lock] | list[tsync.RLock], *, timeout: float = -1
) -> dict[str, BaseException | str]:
    """Thread i holds locks[i], waits until every thread holds its lock, then takes the next."""
    tsync.configure(mode="off")  # only the wait-for graph is under test here
    everyone_holds = threading.Barrier(len(locks))
    outcome: dict[str, BaseException | str] = {}

    def philosopher(index: int) -> Callable[[], None]:
        def run() -> None:
            name = threading.current_thread().name
            with locks[index]:
                everyone_holds.wait()
                try:
                    got = locks[(index + 1) % len(locks)].acquire(timeout=timeout)
                except tsync.DeadlockError as exc:
                    outcome[name] = exc
                    return
                if got:
                    locks[(index + 1) % len(locks)].release()
                outcome[name] = "acquired" if got else "timed out"

        return run

    threads = [threading.Thread(target=philosopher(i), name=f"t{i}") for i in range(len(locks))]
    for thread in threads:
        thread.start()
    # The main thread's join is visible to the detector (instrumented): a cycle through
    # plain Locks is a verdict only once every other thread is blocked too.
    with tsync.instrumented():
        for thread in threads:
            thread.join()
    return outcome


def test_two_thread_deadlock_raises_in_exactly_one_thread() -> None:
    outcome = run_cycle([tsync.Lock(), tsync.Lock()])
    errors = [v for v in outcome.values() if isinstance(v, tsync.DeadlockError)]
    assert len(errors) == 1
    assert sorted(v for v in outcome.values() if isinstance(v, str)) == ["acquired"]
    message = str(errors[0])
    assert "cycle of 2 threads" in message
    assert "held by 't0'" in message
    assert "held by 't1'" in message
    assert "stack of thread 't0'" in message
    assert "stack of thread 't1'" in message
    assert errors[0].finding in tsync.findings()


def test_dining_philosophers_deadlock_is_broken_by_one_victim() -> None:
    outcome = run_cycle([tsync.Lock() for _ in range(5)])
    errors = [v for v in outcome.values() if isinstance(v, tsync.DeadlockError)]
    assert len(errors) == 1
    assert "cycle of 5 threads" in str(errors[0])
    assert sorted(v for v in outcome.values() if isinstance(v, str)) == ["acquired"] * 4


def test_rlock_cycle_is_detected() -> None:
    outcome = run_cycle([tsync.RLock() for _ in range(3)])
    assert sum(isinstance(v, tsync.DeadlockError) for v in outcome.values()) == 1


def test_timed_waits_are_not_deadlocks() -> None:
    outcome = run_cycle([tsync.Lock(), tsync.Lock()], timeout=0.2)
    assert "timed out" in outcome.values()
    assert not any(isinstance(v, BaseException) for v in outcome.values())
    assert tsync.findings() == ()


def test_lock_used_as_a_signal_is_not_a_self_deadlock() -> None:
    signal = tsync.Lock()
    signal.acquire()

    def release_once_main_blocks() -> None:
        while not signal.statistics().waiters:
            threading.Event().wait(0.001)
        signal.release()

    releaser = threading.Thread(target=release_once_main_blocks)
    releaser.start()
    signal.acquire()  # blocks on a Lock this thread holds, until the releaser runs
    releaser.join()
    signal.release()
    assert tsync.findings() == ()
