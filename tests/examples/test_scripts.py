"""Every example also runs as a script (``python examples/<seed>/<name>.py``) and says
what it did (on stdout, or in its log on stderr)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Run = Callable[..., CompletedProcess[str]]

# Script -> (arguments, text its output must contain: stdout, or the log on stderr).
EXPECTED: dict[str, tuple[tuple[str, ...], str]] = {
    "seed0_python_notes/two_functions.py": ((), "func1 ran on quickstart_"),
    "seed0_python_notes/fetch_to_file.py": ((), ": HTTP 404 Not Found"),
    "seed0_python_notes/reentrant_parts.py": ((), "2000 reads, 0 torn"),
    "seed0_python_notes/limited_resource.py": ((), "at most 3 at once (limit 3)"),
    "seed0_python_notes/condition_buffer.py": ((), "received 200 items in order: True"),
    "seed0_python_notes/fetch_urls.py": ((), "wrote 20 pages"),
    "seed0_python_notes/square_roots.py": (("1000",), "the last one is sqrt(1000)=31.622777"),
    "seed1_pymotw_threading/worker_args.py": ((), "Worker: 4"),
    "seed1_pymotw_threading/named_workers.py": ((), "(my_service_0) Starting"),
    "seed1_pymotw_threading/heartbeat.py": ((), "threads left: []"),
    "seed1_pymotw_threading/join_timeout.py": ((), "after 0.1 s d is still running: True"),
    "seed1_pymotw_threading/wait_all.py": ((), "3 of 3 done"),
    "seed1_pymotw_threading/timer_cancel.py": ((), "ran: ['t1']; t2 cancelled: True"),
    "seed1_pymotw_threading/event_wait.py": ((), "block: event set: True"),
    "seed1_pymotw_threading/counter_lock.py": ((), "Counter: 4"),
    "seed1_pymotw_threading/lock_with.py": ((), "with: holds 1 lock(s)"),
    "seed1_pymotw_threading/active_pool.py": ((), "at most 2 running at once (limit 2)"),
    "seed2_multithreading/count_task.py": ((), "counted to 100000"),
    "seed2_multithreading/reuse_pool.py": ((), "200 tasks on"),
    "seed2_multithreading/background.py": ((), "keepalive: stopped (shutdown), cleaned up"),
    "seed2_multithreading/return_values.py": ((), "error: negative input -1"),
    "seed2_multithreading/cache.py": ((), "no RuntimeError"),
    "seed3_threading_module/hello_threads.py": ((), "hello from thread hello_2"),
    "seed3_threading_module/race_condition.py": ((), "unguarded: UnguardedAccessError"),
    "seed3_threading_module/deadlock.py": ((), "DeadlockError: deadlock: thread 'train_"),
    "seed3_threading_module/deadlock_fixed.py": ((), "crossed"),
    "seed3_threading_module/livelock.py": ((), "polite, in lock-step: ['no progress"),
    "seed3_threading_module/lock_in_line.py": ((), "2 of 3 acquisitions had to wait"),
    "seed3_threading_module/nonblocking.py": ((), "couldn't get lock (held by MainThread)"),
    "seed4_xml_downloader/download.py": (
        ("--documents", "40", "--latency", "0.2"),
        "40 documents",
    ),
}


def test_every_example_is_listed() -> None:
    # fetch_command.py runs a subprocess itself; test_seed4 runs it in-process.
    found = {
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.glob("*/*.py")
        if p.name != "fetch_command.py"
    }
    assert found == set(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_as_a_script(run_example: Run, script: str) -> None:
    args, expected = EXPECTED[script]
    result = run_example(script, *args)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout + result.stderr
