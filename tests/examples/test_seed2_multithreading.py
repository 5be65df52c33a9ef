"""Seed 002 (Python Multithreading notes): every example does the job and shows the fix."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from threadloom.sync import Guarded, Lock, UnguardedAccessError

Load = Callable[[str], ModuleType]


def test_count_task_returns_its_value(load_example: Load) -> None:
    assert load_example("seed2_multithreading/count_task.py").main(n_max=12_345) == 12_345


def test_reuse_pool_runs_many_tasks_on_few_threads(load_example: Load) -> None:
    outcome = load_example("seed2_multithreading/reuse_pool.py").main(tasks=200, workers=4)
    assert outcome["tasks"] == 200
    assert outcome["succeeded"] == 200
    assert 1 <= outcome["threads"] <= 4


def test_background_task_is_stopped_with_cleanup(load_example: Load) -> None:
    assert load_example("seed2_multithreading/background.py").main() == [
        "keepalive: starting",
        "main work: done",
        "keepalive: stopped (shutdown), cleaned up",
        "background task done: True",
    ]


def test_return_values_and_errors_come_back_through_futures(load_example: Load) -> None:
    outcome = load_example("seed2_multithreading/return_values.py").main()
    assert outcome["single"] == 4
    assert sorted(outcome["finished"]) == [0, 1, 4]
    assert outcome["error"] == "negative input -1"


def test_cache_grows_while_iterated_without_runtime_error(load_example: Load) -> None:
    outcome = load_example("seed2_multithreading/cache.py").main(additions=50)
    assert outcome["size"] >= 150
    assert outcome["passes"] >= 1


def test_cache_touched_without_its_lock_is_caught() -> None:
    cache = Guarded({"a": 1}, Lock())
    with pytest.raises(UnguardedAccessError):
        _ = cache.value
    with cache as items:
        assert items == {"a": 1}
