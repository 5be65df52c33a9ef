"""Seed 000 (Python Notes): every example does the job and shows the fix."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from threadloom.server import document

Load = Callable[[str], ModuleType]


def test_two_functions_run_concurrently_on_named_workers(
    load_example: Load, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ran_on = load_example("seed0_python_notes/two_functions.py").main()
    assert set(ran_on) == {"func1", "func2"}
    assert ran_on["func1"] != ran_on["func2"]
    assert all(name.startswith("quickstart_") for name in ran_on.values())
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("Inside func1") == 3
    assert messages.count("Inside func2") == 3


def test_fetch_to_file_writes_one_line_per_url_under_the_lock(
    load_example: Load, tmp_path: Path
) -> None:
    lines = load_example("seed0_python_notes/fetch_to_file.py").main(tmp_path / "test.txt")
    assert len(lines) == 4
    fetched = [line for line in lines if line.startswith("fetched ")]
    failed = [line for line in lines if line.startswith("failed ")]
    assert len(fetched) == 3
    assert len(failed) == 1
    assert failed[0].endswith("HTTP 404 Not Found")
    sizes = sorted(int(line.rsplit(": ", 1)[1].split()[0]) for line in fetched)
    assert sizes == sorted(len(document(n, 0)) for n in range(3))


def test_get_all_is_consistent_and_a_plain_lock_reports_the_self_deadlock(
    load_example: Load,
) -> None:
    outcome = load_example("seed0_python_notes/reentrant_parts.py").main(versions=500)
    assert outcome["reads"] == 500
    assert outcome["torn"] == 0
    assert str(outcome["plain_lock"]).startswith("DeadlockError: deadlock:")


def test_key_limit_caps_the_limited_resource(load_example: Load) -> None:
    outcome = load_example("seed0_python_notes/limited_resource.py").main(limit=3, tasks=24)
    assert outcome["peak"] == 3
    assert outcome["total"] == sum(n * n for n in range(24))


def test_condition_buffer_delivers_everything_in_order_within_capacity(
    load_example: Load,
) -> None:
    outcome = load_example("seed0_python_notes/condition_buffer.py").main(count=500, capacity=4)
    assert outcome["received"] == list(range(500))
    assert 1 <= outcome["peak"] <= 4


def test_fetch_urls_writes_every_page_from_one_thread(load_example: Load) -> None:
    outcome = load_example("seed0_python_notes/fetch_urls.py").main(documents=20)
    assert outcome["pages"] == 20
    assert outcome["bytes"] == sum(len(document(n, 0)) for n in range(20))


def test_square_root_monitor_reports_progress_then_the_result(load_example: Load) -> None:
    lines = load_example("seed0_python_notes/square_roots.py").main(
        target=100_000, chunk=5_000, interval=0.001
    )
    assert lines[0] == "Turning on the calculator..."
    progress = [int(line.split()[0]) for line in lines[1:-1]]
    assert progress, "the monitor reported no progress"
    assert progress == sorted(progress)
    assert all(p % 5_000 == 0 and p < 100_000 for p in progress)
    assert lines[-1] == (
        f"Calculated 100000 square root(s); the last one is sqrt(100000)={math.sqrt(100_000):f}"
    )
