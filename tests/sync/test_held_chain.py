"""The held chain (``_state.HeldRef``): releases out of order, from another thread, after
a fork's reinit leave every thread's held locks exact, and the chain bounded."""

from __future__ import annotations

import threading
import warnings

import threadloom.sync as tsync
from threadloom.sync import _state


def chain_length() -> int:
    """Entries in the calling thread's chain, tombstones and dead entries included."""
    count = 0
    entry = _state.current_state().top
    while entry is not None:
        count += 1
        entry = entry.prev
    return count


def test_release_out_of_order_keeps_held_exact_and_the_chain_bounded() -> None:
    a, b, c = tsync.Lock(), tsync.RLock(), tsync.Lock()
    before = tsync.held()
    start = chain_length()
    for _ in range(200):
        # Hand over hand: the outer lock goes first.
        a.acquire()
        b.acquire()
        a.release()
        assert tsync.held() == (*before, b)
        c.acquire()
        b.release()
        assert tsync.held() == (*before, c)
        c.release()
        assert tsync.held() == before
    # Tombstones are unlinked once innermost: at most the last round's remain.
    assert chain_length() <= start + 2
    with a:
        assert tsync.held() == (*before, a)
    assert tsync.held() == before


def test_release_by_another_thread_of_a_lock_not_innermost() -> None:
    group = tsync.Lock()
    inner, later = tsync.Lock(), tsync.Lock()
    released = threading.Event()
    seen: list[tuple[object, ...]] = []

    def owner() -> None:
        group.acquire()
        with inner:
            threading.Thread(target=lambda: (group.release(), released.set())).start()
            assert released.wait(10)
            seen.append(tsync.held())
        seen.append(tsync.held())
        with later, inner:
            seen.append(tsync.held())

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an order edge from the released lock would warn
        worker = threading.Thread(target=owner)
        worker.start()
        worker.join(10)
    assert seen == [(inner,), (), (later, inner)]
    assert not group.locked()
    # The group lock took part in no order edge: nested under it later, no finding.
    with group, inner:
        pass
    with inner, group:
        pass
    assert tsync.findings() == ()


def test_a_lock_reinitialised_after_fork_while_held_is_held_once_again() -> None:
    before = tsync.held()
    for lock in (tsync.Lock(), tsync.RLock()):
        lock.acquire()
        lock._at_fork_reinit()
        assert not lock._is_owned() if isinstance(lock, tsync.RLock) else not lock.locked()
        lock.acquire()
        assert tsync.held() == (*before, lock)
        lock.release()
        assert tsync.held() == before


def test_timed_and_non_blocking_hand_over_hand_keeps_the_chain_bounded() -> None:
    # Tombstones were unlinked only by a plain blocking acquisition: a loop of timed or
    # non-blocking ones grew the chain (and the weakrefs to the lock) by one a round.
    a, b = tsync.Lock(), tsync.Lock()
    start = chain_length()
    for _ in range(1000):
        assert a.acquire(timeout=1)
        assert b.acquire(False)
        a.release()
        b.release()
    assert chain_length() <= start + 1
    assert tsync.held() == ()


def test_a_lock_released_by_another_thread_during_an_acquisition_stays_released() -> None:
    # T1 owns `owned` and keeps entering `with entered:` while T2 releases `owned` (a
    # Lock has no owner). A push that used the top read before the acquire's call put
    # the released lock back into T1's chain: held() then listed a lock T1 did not hold.
    owned, entered = tsync.Lock(), tsync.Lock()
    handed = threading.Event()
    stop = threading.Event()
    wrong: list[tuple[object, ...]] = []

    def releaser() -> None:
        while not stop.is_set():
            if handed.wait(0.1):
                handed.clear()
                owned.release()

    def owner() -> None:
        for _ in range(400):
            owned.acquire()
            handed.set()
            while owned.locked():
                with entered:
                    pass
            if tsync.held():
                wrong.append(tsync.held())
                return

    other = threading.Thread(target=releaser, name="releaser")
    other.start()
    try:
        runner = threading.Thread(target=owner, name="owner")
        runner.start()
        runner.join(60)
    finally:
        stop.set()
        other.join(10)
    assert not runner.is_alive()
    assert wrong == []
