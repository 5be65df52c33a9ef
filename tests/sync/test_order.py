"""Lock-order detection: cycles are reported before blocking, correct orders never."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import pytest

import threadloom.sync as tsync


def run_in_thread(function: Callable[[], object], name: str) -> None:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            function()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name=name)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def nested(*locks: tsync.Lock | tsync.RLock) -> Callable[[], None]:
    def take() -> None:
        if locks:
            with locks[0]:
                nested(*locks[1:])()

    return take


def test_abba_warns_with_both_stacks_and_thread_names() -> None:
    a, b = tsync.Lock(), tsync.Lock()
    run_in_thread(nested(a, b), "first")
    with pytest.warns(tsync.LockOrderWarning) as caught:
        run_in_thread(nested(b, a), "second")
    finding = caught[0].message.finding  # type: ignore[union-attr]
    assert finding.kind == "lock-order"
    assert "thread 'first'" in finding.details
    assert "thread 'second'" in finding.details
    assert finding.details.count("in take") >= 2  # each edge's acquiring stack
    assert tsync.findings() == (finding,)
    # Reported once: the closing edge is now known.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_in_thread(nested(b, a), "third")


def test_raise_mode_refuses_the_acquisition_before_blocking() -> None:
    tsync.configure(mode="raise")
    a, b = tsync.Lock(), tsync.Lock()
    nested(a, b)()
    with b:
        with pytest.raises(tsync.LockOrderError) as caught:
            a.acquire()
        assert not a.locked()  # raised before the acquisition
        assert tsync.held()[-1] is b
    assert "cycle:" in str(caught.value)


def test_three_lock_cycle() -> None:
    a, b, c = tsync.Lock(), tsync.Lock(), tsync.Lock()
    run_in_thread(nested(a, b), "ab")
    run_in_thread(nested(b, c), "bc")
    with pytest.warns(tsync.LockOrderWarning, match="cycle") as caught:
        run_in_thread(nested(c, a), "ca")
    details = str(caught[0].message)
    for name in ("'ab'", "'bc'", "'ca'"):
        assert name in details


def test_dining_philosophers_inversion_found_without_deadlocking() -> None:
    forks = [tsync.Lock() for _ in range(5)]
    for seat in range(4):  # one at a time: they never actually deadlock
        run_in_thread(nested(forks[seat], forks[seat + 1]), f"philosopher-{seat}")
    with pytest.warns(tsync.LockOrderWarning, match="philosopher-3"):
        run_in_thread(nested(forks[4], forks[0]), "philosopher-4")


def test_dining_philosophers_with_ordered_forks_are_clean() -> None:
    forks = [tsync.Lock() for _ in range(5)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for seat in range(5):
            first, second = sorted((seat, (seat + 1) % 5))
            run_in_thread(nested(forks[first], forks[second]), f"philosopher-{seat}")
    assert tsync.findings() == ()


def test_try_lock_timed_acquire_and_rlock_reentry_add_no_edges() -> None:
    a, b = tsync.Lock(), tsync.Lock()
    r = tsync.RLock()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with a:
            assert b.acquire(blocking=False)
            b.release()
        with b:
            assert a.acquire(timeout=1)  # back-off style: can not hang forever
            a.release()
        # r -> a is recorded; re-entering r while holding a must not add a -> r,
        # which would close a cycle right here.
        with r, a, r:
            pass
    assert tsync.findings() == ()


def test_site_key_checks_instances_of_one_class_together() -> None:
    tsync.configure(key="site")

    class Account:
        def __init__(self) -> None:
            self.lock = tsync.Lock()

    class Ledger:
        def __init__(self) -> None:
            self.lock = tsync.Lock()

    ledger_a, ledger_b = Ledger(), Ledger()
    account_a, account_b = Account(), Account()
    nested(account_a.lock, ledger_a.lock)()
    with pytest.warns(tsync.LockOrderWarning, match="Locks created at"):
        nested(ledger_b.lock, account_b.lock)()  # other instances, same classes


def test_instance_key_keeps_instances_apart() -> None:
    def make() -> tsync.Lock:
        return tsync.Lock()

    a1, b1, a2, b2 = make(), make(), make(), make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nested(a1, b1)()
        nested(b2, a2)()


def test_mode_off_records_nothing() -> None:
    tsync.configure(mode="off")
    a, b = tsync.Lock(), tsync.Lock()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nested(a, b)()
        nested(b, a)()
    assert tsync.findings() == ()


def test_condition_wait_keeps_the_order_of_its_lock() -> None:
    outer = tsync.Lock()
    cond = tsync.Condition(tsync.Lock())
    with outer, cond:
        cond.wait(0.01)  # re-acquires cond's lock while holding outer: same edge
    with pytest.warns(tsync.LockOrderWarning), cond, outer:
        pass
