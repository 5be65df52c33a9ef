"""Seed 003 (The Threading Module): races caught, deadlocks reported, livelock fixed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from threadloom.sync import UnguardedAccessError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Load = Callable[[str], ModuleType]


def test_hello_threads_named_and_in_order(load_example: Load) -> None:
    lines = load_example("seed3_threading_module/hello_threads.py").main()
    assert lines == [f"hello from thread hello_{n}" for n in range(3) for _ in range(5)]


def test_guarded_counter_loses_no_update(load_example: Load) -> None:
    module = load_example("seed3_threading_module/race_condition.py")
    assert module.count(module.increment_guarded, workers=4, times=5_000) == 20_000


def test_unguarded_counter_is_caught_on_first_access(load_example: Load) -> None:
    module = load_example("seed3_threading_module/race_condition.py")
    with pytest.raises(UnguardedAccessError, match=r"Counter\.value read by thread 'race_\d'"):
        module.count(module.increment_unguarded, workers=4, times=5_000)


def _check(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "threadloom",
            "check",
            str(EXAMPLES / "seed3_threading_module" / name),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_threadloom_check_reports_the_deadlock() -> None:
    result = _check("deadlock.py")
    assert result.returncode == 4, result.stderr
    assert "1 deadlock(s)" in result.stderr
    assert "the program was stopped" in result.stderr
    assert "would block forever acquiring" in result.stderr
    assert "held by 'train_" in result.stderr


def test_threadloom_check_finds_nothing_in_the_fixed_program() -> None:
    result = _check("deadlock_fixed.py")
    assert result.returncode == 0, result.stderr
    assert "threadloom check" not in result.stderr
    assert result.stdout.splitlines() == ["crossed", "crossed"]


def test_deadlock_run_directly_ends_with_an_error_instead_of_hanging(load_example: Load) -> None:
    import warnings

    from threadloom.sync import LockOrderWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LockOrderWarning)
        outcomes = load_example("seed3_threading_module/deadlock.py").main()
    assert len(outcomes) == 2
    assert outcomes[0].startswith("DeadlockError: deadlock: thread 'train_")
    assert outcomes[1] == "crossed"


def test_livelock_sways_in_lockstep_and_backoff_fixes_it(load_example: Load) -> None:
    outcome = load_example("seed3_threading_module/livelock.py").main(rounds=20)
    assert outcome["polite"] == ["no progress after 20 rounds"] * 2
    attempts = [int(line.rsplit(" ", 1)[1]) for line in outcome["backoff"]]
    assert all(line.startswith("passed on attempt ") for line in outcome["backoff"])
    assert all(2 <= a <= 20 for a in attempts)  # collided once, then passed, bounded


def test_lock_in_line_contention_and_watchdog(load_example: Load) -> None:
    outcome = load_example("seed3_threading_module/lock_in_line.py").main(hold=0.1)
    assert sorted(outcome["lines"]) == [f"line_{n} got lock" for n in range(3)]
    assert outcome["contended"] == 2
    assert outcome["reports"], "the watchdog reported no waiting thread"
    for report in outcome["reports"]:
        assert report.kind == "acquiring"
        assert report.holder.startswith("held by 'line_")


def test_nonblocking_acquire_names_the_owner(load_example: Load) -> None:
    assert load_example("seed3_threading_module/nonblocking.py").main() == [
        "couldn't get lock (held by MainThread)",
        "with a timeout: False",
        "got lock",
    ]
