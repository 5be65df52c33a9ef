"""Failures are never lost; statistics, events and Chrome traces."""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time
from concurrent.futures import wait
from pathlib import Path

import pytest

from threadloom.core import Pool, PoolStatistics, Retry, Span, TaskEvent, TraceRecorder, span_tracks


def test_unread_failures_raise_as_a_group_and_read_ones_do_not() -> None:
    pool = Pool(max_workers=2)
    read = pool.submit(int, "read me")
    unread = [pool.submit(int, f"x{i}") for i in range(3)]
    fine = pool.submit(int, "5")
    wait([read, fine, *unread])
    with pytest.raises(ValueError):
        read.result()
    assert len(pool.unread_failures()) == 3
    with pytest.raises(ExceptionGroup) as group:
        pool.raise_failures()
    assert len(group.value.exceptions) == 3
    assert all(isinstance(e, ValueError) for e in group.value.exceptions)
    pool.raise_failures()  # now all read: nothing to raise
    pool.shutdown()
    assert pool.statistics().failed == 4


def test_raise_unread_on_clean_with_exit() -> None:
    with pytest.raises(ExceptionGroup), Pool(max_workers=1, raise_unread=True) as pool:
        pool.submit(int, "nope")
    with Pool(max_workers=1, raise_unread=True) as pool:
        assert pool.submit(int, "nope").exception() is not None


def test_statistics_is_a_frozen_snapshot() -> None:
    gate = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(10)

    with Pool(max_workers=1) as pool:
        pool.submit(hold)
        assert started.wait(10)
        for _ in range(3):
            pool.submit(int)
        stats = pool.statistics()
        assert isinstance(stats, PoolStatistics)
        assert (stats.submitted, stats.running, stats.queued) == (4, 1, 3)
        with pytest.raises(dataclasses.FrozenInstanceError):
            stats.submitted = 0  # type: ignore[misc]
        gate.set()
    final = pool.statistics()
    assert (final.succeeded, final.done, final.queued, final.running) == (4, 4, 0, 0)
    assert final.busy[0][0].endswith("_0")
    assert final.busy[0][1] > 0


def test_events_per_attempt_with_monotonic_times() -> None:
    events: list[TaskEvent] = []
    lock = threading.Lock()

    def listen(event: TaskEvent) -> None:
        with lock:
            events.append(event)

    calls = 0

    def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("once")

    with Pool(max_workers=1, thread_name_prefix="ev") as pool:
        unsubscribe = pool.subscribe(listen)
        pool.submit_task(flaky, key="h", label="fetch", retry=Retry(attempts=2, backoff=0)).result(
            timeout=10
        )
        unsubscribe()
        pool.submit(int).result()
    kinds = [(e.kind, e.attempt) for e in events]
    assert kinds == [("start", 1), ("finish", 1), ("retry", 1), ("start", 2), ("finish", 2)]
    assert events[1].error == "ConnectionError: once"
    assert events[4].error is None
    assert all(
        e.key == "h" and e.label == "fetch" and e.thread == "ev_0"
        for e in events
        if e.kind != "retry"
    )
    assert [e.time for e in events] == sorted(e.time for e in events)


def test_listener_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def bad_listener(event: TaskEvent) -> None:
        raise RuntimeError("listener bug")

    with Pool(max_workers=1) as pool:
        pool.subscribe(bad_listener)
        assert pool.submit(sum, [1, 2]).result() == 3
    assert "listener" in caplog.text


def test_chrome_trace(tmp_path: Path) -> None:
    with Pool(max_workers=2, thread_name_prefix="tr") as pool, TraceRecorder(pool) as recorder:
        futures = [
            pool.submit_task(pow, (2, i), key=f"k{i % 2}", label=f"job{i}") for i in range(6)
        ]
        futures.append(pool.submit_task(int, ("bad",), label="bad"))
        wait(futures)
        list(pool.map(abs, range(3)))
    spans = recorder.spans()
    assert len(spans) == 10
    bad = next(s for s in spans if s.label == "bad")
    assert not bad.ok
    assert bad.error is not None
    assert bad.error.startswith("ValueError")
    assert all(s.end >= s.start for s in spans)
    path = recorder.save_chrome_trace(tmp_path / "trace.json")
    doc = json.loads(path.read_text())
    complete = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    meta = [e for e in doc["traceEvents"] if e["ph"] == "M"]
    assert len(complete) == 10
    assert {m["args"]["name"] for m in meta} <= {"tr_0", "tr_1"}
    assert {m["tid"] for m in meta} == {e["tid"] for e in complete}
    assert all({"label", "attempt", "key", "error"} <= set(e["args"]) for e in complete)


def test_one_recorder_for_several_pools() -> None:
    with Pool(max_workers=1, thread_name_prefix="a") as a, Pool(1, thread_name_prefix="b") as b:
        recorder = TraceRecorder(a, b)
        a.submit(int).result()
        b.submit(int).result()
        recorder.close()
        a.submit(int).result()
    assert sorted(s.thread for s in recorder.spans()) == ["a_0", "b_0"]


def test_a_task_has_one_label_in_events_and_error_messages() -> None:
    events: list[TaskEvent] = []
    release = threading.Event()

    def stubborn() -> None:
        release.wait(10)

    with Pool(max_workers=2) as pool:
        pool.subscribe(events.append)
        # No label and no __name__ (a partial): named after its id, everywhere.
        unnamed = pool.submit_task(functools.partial(int, 5), returns_future=True)
        with pytest.raises(TypeError) as error:
            unnamed.result(timeout=10)
        # No label: named after its function, in the deadline's message too.
        late = pool.submit_task(stubborn, deadline=0)
        try:
            with pytest.raises(TimeoutError) as timeout:
                late.result(timeout=10)
        finally:
            release.set()
    label = f"task-{unnamed.task_id}"
    assert f"task {label!r} was submitted with returns_future=True" in str(error.value)
    assert {e.label for e in events if e.task_id == unnamed.task_id} == {label}
    assert str(timeout.value) == "task stubborn passed its deadline"
    assert {e.label for e in events if e.task_id == late.task_id} == {"stubborn"}


def test_span_tracks_put_overlapping_spans_of_a_thread_on_lanes() -> None:
    def span(thread: str, start: float, end: float) -> Span:
        return Span(thread, start, end, "t", None, 1, True, None)

    spans = [
        span("w_0", 0.0, 3.0),
        span("w_0", 1.0, 2.0),
        span("w_0", 2.0, 4.0),  # the second lane is free again at 2.0
        span("w_0", 2.5, 5.0),
        span("w_1", 0.0, 1.0),
        span("w_1", 1.0, 2.0),  # touching, not overlapping: same lane
    ]
    assert span_tracks(spans) == ["w_0", "w_0 #2", "w_0 #2", "w_0 #3", "w_1", "w_1"]
    assert span_tracks([]) == []


def test_queued_counts_tasks_behind_an_attempt_that_ran_past_its_deadline() -> None:
    release = threading.Event()
    with Pool(1) as pool:
        pool.submit_task(release.wait, (5,), deadline=0.05)
        for _ in range(3):
            pool.submit(time.sleep, 0)
        deadline = time.monotonic() + 10
        while pool.statistics().timed_out == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the first task has timed out; its attempt still runs
        stats = pool.statistics()
        release.set()
    assert (stats.queued, stats.running, stats.timed_out) == (3, 1, 1)
