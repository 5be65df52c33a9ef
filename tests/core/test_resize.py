"""Pool.resize: grow at once, shrink between tasks, measured from trace spans."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence

import pytest

from threadloom.core import Pool, Span, TraceRecorder

pytestmark = pytest.mark.timeout(30)


def max_overlap(spans: Sequence[Span]) -> int:
    """The most spans open at one instant."""
    edges = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans])
    best = current = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for a condition the pool reaches by itself."""
    tick = threading.Event()
    for _ in range(2000):
        if condition():
            return
        tick.wait(0.005)
    raise AssertionError("condition not reached in 10 s")


def test_grow_then_shrink_changes_measured_concurrency() -> None:
    with Pool(2, thread_name_prefix="rz") as pool, TraceRecorder(pool) as trace:
        first_gate = threading.Event()
        batch1 = [pool.submit_task(first_gate.wait, (10,), label="b1") for _ in range(6)]
        until(lambda: pool.statistics().running == 2)
        pool.resize(6)  # grows at once: the 4 waiting tasks start now
        until(lambda: pool.statistics().running == 6)
        stats = pool.statistics()
        assert (stats.max_workers, stats.workers) == (6, 6)

        # Shrink while all six run: nobody is interrupted, the excess leaves afterwards.
        pool.resize(2)
        stats = pool.statistics()
        assert stats.max_workers == 2
        assert stats.running == 6
        second_gate = threading.Event()
        batch2 = [pool.submit_task(second_gate.wait, (10,), label="b2") for _ in range(6)]
        first_gate.set()
        assert all(f.result(10) for f in batch1)
        until(lambda: pool.statistics().running == 2)
        until(lambda: pool.statistics().workers == 2)
        second_gate.set()
        assert all(f.result(10) for f in batch2)
        spans = trace.spans()

    b1 = [s for s in spans if s.label == "b1"]
    b2 = [s for s in spans if s.label == "b2"]
    assert max_overlap(b1) == 6
    assert max_overlap(b2) <= 2
    # Names keep the {prefix}_{n} scheme, numbered from 0 without reuse.
    names = {s.thread for s in spans}
    assert all(re.fullmatch(r"rz_\d", name) for name in names)
    assert {s.thread for s in b1} == {f"rz_{n}" for n in range(6)}


def test_names_are_not_reused_after_shrink_and_grow() -> None:
    with Pool(1, thread_name_prefix="nm") as pool:
        assert pool.submit(threading.current_thread).result(10).name == "nm_0"
        pool.resize(3)
        gate = threading.Event()
        held = [pool.submit(gate.wait, 10) for _ in range(3)]
        until(lambda: pool.statistics().running == 3)
        pool.resize(1)
        gate.set()
        for f in held:
            f.result(10)
        until(lambda: pool.statistics().workers == 1)
        pool.resize(2)
        gate2 = threading.Event()
        held = [pool.submit(gate2.wait, 10) for _ in range(2)]
        until(lambda: pool.statistics().running == 2)
        names = {t.name for t in threading.enumerate() if t.name.startswith("nm_")}
        gate2.set()
        for f in held:
            f.result(10)
    assert len(names) == 2
    assert "nm_3" in names


def test_resize_from_inside_a_task() -> None:
    with Pool(1) as pool, TraceRecorder(pool) as trace:
        gate = threading.Event()

        def grow_then_wait() -> None:
            pool.resize(4)
            assert gate.wait(10)

        first = pool.submit(grow_then_wait)
        others = [pool.submit_task(gate.wait, (10,), label="other") for _ in range(3)]
        until(lambda: pool.statistics().running == 4)
        gate.set()
        first.result(10)
        for f in others:
            assert f.result(10)

        # Shrink from a task of the pool: its own worker may be one that leaves.
        done = pool.submit(pool.resize, 1)
        done.result(10)
        until(lambda: pool.statistics().workers == 1)
        assert pool.submit(lambda: 42).result(10) == 42
        assert max_overlap([s for s in trace.spans() if s.label != "resize"]) == 4


def test_resize_rejects_bad_sizes_and_closed_pools() -> None:
    pool = Pool(2)
    with pytest.raises(ValueError, match="max_workers"):
        pool.resize(0)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.resize(3)
