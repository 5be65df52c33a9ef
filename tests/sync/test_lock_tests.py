"""CPython's own semantic tests for the threading primitives, run against threadloom.sync.

``Lib/test/lock_tests.py`` ships with the interpreter's ``test`` package; the suites are
unittest classes parametrised by the type under test.
"""

from __future__ import annotations

import pytest

import threadloom.sync as tsync

lock_tests = pytest.importorskip(
    "test.lock_tests",
    reason="the interpreter's test package (Lib/test/lock_tests.py) is not installed",
)


class TestLock(lock_tests.LockTests):  # type: ignore[misc, name-defined]
    locktype = staticmethod(tsync.Lock)


class TestRLock(lock_tests.RLockTests):  # type: ignore[misc, name-defined]
    locktype = staticmethod(tsync.RLock)


class TestEvent(lock_tests.EventTests):  # type: ignore[misc, name-defined]
    eventtype = staticmethod(tsync.Event)


class TestCondition(lock_tests.ConditionTests):  # type: ignore[misc, name-defined]
    condtype = staticmethod(tsync.Condition)


class TestSemaphore(lock_tests.SemaphoreTests):  # type: ignore[misc, name-defined]
    semtype = staticmethod(tsync.Semaphore)


class TestBoundedSemaphore(lock_tests.BoundedSemaphoreTests):  # type: ignore[misc, name-defined]
    semtype = staticmethod(tsync.BoundedSemaphore)


class TestBarrier(lock_tests.BarrierTests):  # type: ignore[misc, name-defined]
    barriertype = staticmethod(tsync.Barrier)
    # lock_tests' default is 2 s; every test still has ample margin at 1 s, and the
    # suite's slowest test (test_timeout, which sleeps half of it) takes half as long.
    defaultTimeout = 1.0
