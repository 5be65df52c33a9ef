"""Seed 001 (PyMOTW threading): every example does the job and shows the fix."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from subprocess import CompletedProcess
from types import ModuleType

import pytest

Load = Callable[[str], ModuleType]
Run = Callable[..., CompletedProcess[str]]


def test_worker_args_results_in_input_order(
    load_example: Load, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lines = load_example("seed1_pymotw_threading/worker_args.py").main()
    assert lines == [f"Worker: {n}" for n in range(5)]
    running = [r for r in caplog.records if r.getMessage() == "running"]
    assert len(running) == 5
    assert all(str(r.threadName).startswith("worker_") for r in running)


def test_thread_names_appear_in_the_logging_output(run_example: Run) -> None:
    result = run_example("seed1_pymotw_threading/named_workers.py")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for name, count in (("my_service_0", 1), ("worker_", 2)):
        for message in ("Starting", "Exiting"):
            pattern = re.compile(rf"^\[DEBUG\] \({name}\d*\s*\) {message}$")
            assert sum(1 for line in lines if pattern.match(line)) == count, lines
    assert not any("Thread-" in line for line in lines)


def test_heartbeat_timer_is_cancelled_and_no_thread_is_left(load_example: Load) -> None:
    outcome = load_example("seed1_pymotw_threading/heartbeat.py").main(beats_wanted=3)
    assert outcome["cancelled"] is True
    assert outcome["active"] is False
    assert isinstance(outcome["beats"], int)
    assert outcome["beats"] >= 3
    assert outcome["left"] == []
    assert not [t for t in threading.enumerate() if t.name.startswith("heartbeat")]


def test_join_with_timeout_and_deadline(load_example: Load) -> None:
    lines = load_example("seed1_pymotw_threading/join_timeout.py").main()
    assert lines == [
        "after 0.1 s d is still running: True",
        "d: Exiting",
        "deadline: task slow_step passed its deadline",
        "slow_step stopped early: deadline",
    ]


def test_wait_all_waits_for_exactly_the_submitted_work(load_example: Load) -> None:
    outcome = load_example("seed1_pymotw_threading/wait_all.py").main()
    assert outcome == {"done": 3, "succeeded": 3, "running": 0}


def test_timer_t2_is_cancelled_and_t1_runs(load_example: Load) -> None:
    outcome = load_example("seed1_pymotw_threading/timer_cancel.py").main()
    assert outcome == {"ran": ["t1"], "t2_cancelled": True, "t1_runs": 1, "t2_runs": 0}


def test_event_wakes_the_blocking_and_the_polling_waiter(load_example: Load) -> None:
    lines = load_example("seed1_pymotw_threading/event_wait.py").main()
    assert lines == ["block: event set: True", "nonblock: event set after some other work"]


def test_counter_loses_no_increment(load_example: Load) -> None:
    module = load_example("seed1_pymotw_threading/counter_lock.py")
    assert module.main(workers=4, increments=25) == 100


def test_counter_value_outside_its_lock_is_caught(load_example: Load) -> None:
    from threadloom.sync import UnguardedAccessError

    counter = load_example("seed1_pymotw_threading/counter_lock.py").Counter()
    with pytest.raises(UnguardedAccessError):
        _ = counter.value


def test_lock_with_and_acquire_both_own_the_lock(load_example: Load) -> None:
    lines = load_example("seed1_pymotw_threading/lock_with.py").main()
    assert lines == [
        "with: holds 1 lock(s), owner is this thread: True",
        "acquire: holds 1 lock(s), owner is this thread: True",
    ]


def test_active_pool_key_limit_of_two(load_example: Load) -> None:
    outcome = load_example("seed1_pymotw_threading/active_pool.py").main(workers=6, limit=2)
    assert outcome == {"tasks": 6, "peak": 2, "left": 0}
