"""`KeyGate` admits any `Gated` item, not only a pool's tasks (the fetch job's plain path
admits its URLs with it), with a default rate for items that carry none; and
`Scheduler.close` lets its thread go."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass

from threadloom.core import KeyGate, Scheduler


@dataclass
class Item:
    key: Hashable | None
    order: int
    keyed: bool = False
    dropped: bool = False
    key_limit: int | None = None
    key_rate: float | None = None
    priority: int = 0


def test_items_are_limited_per_key_and_released_in_order() -> None:
    ticks: list[Hashable] = []
    gate: KeyGate[Item] = KeyGate(2, Scheduler("test-gate"), ticks.append)
    a, b, c, d = (Item("h", n) for n in range(4))
    other = Item("elsewhere", 9)
    assert gate.admit(a)
    assert gate.admit(b)
    assert a.keyed
    assert b.keyed
    for parked in (c, d):
        assert not gate.admit(parked)
        gate.park(parked)
    assert gate.admit(other), "another key is not held back"
    assert list(gate.release(a)) == [c]
    assert c.keyed
    assert not a.keyed
    assert list(gate.release(b)) == [d]
    assert list(gate.release(c)) == []
    assert list(gate.release(d)) == []
    assert ticks == []


def test_the_default_rate_spaces_starts_and_ticks_when_one_may_start() -> None:
    scheduler = Scheduler("test-gate")
    ticked = threading.Event()
    gate: KeyGate[Item] = KeyGate(None, scheduler, lambda key: ticked.set(), default_rate=20.0)
    first, second = Item("h", 1), Item("h", 2)
    assert gate.admit(first)
    started = time.monotonic()
    assert not gate.admit(second), "the next start must wait 1/rate"
    gate.park(second)
    assert ticked.wait(5)
    assert time.monotonic() - started >= 0.04
    assert list(gate.tick("h")) == [second]
    # An item's own rate wins over the default: a slow one holds the next start back.
    own = KeyGate[Item](None, scheduler, lambda key: None, default_rate=1000.0)
    assert own.admit(Item("k", 1, key_rate=0.001))
    assert not own.admit(Item("k", 2, key_rate=0.001))
    scheduler.close()


def test_close_drops_every_entry_refuses_new_ones_and_the_thread_exits() -> None:
    scheduler = Scheduler("test-close")
    ran = threading.Event()
    scheduler.call_later(3600, ran.set)
    scheduler.call_later(7200, ran.set)
    assert scheduler.pending() == 2
    scheduler.close()
    assert scheduler.pending() == 0
    scheduler.join_idle()
    assert not any(t.name == "test-close" for t in threading.enumerate())
    late = scheduler.call_later(0, ran.set)
    assert late.cancelled
    assert scheduler.pending() == 0
    assert not any(t.name == "test-close" for t in threading.enumerate())
    assert not ran.is_set()
