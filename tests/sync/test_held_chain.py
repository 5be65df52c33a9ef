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
