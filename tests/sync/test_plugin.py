"""``pytest --threadloom``: tests that invert lock order or deadlock fail; others pass."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER_SUITE = """
import threading

def test_consistent_order():
    a, b = threading.Lock(), threading.Lock()
    for _ in range(3):
        with a, b:
            pass

def test_inversion():
    a, b = threading.Lock(), threading.Lock()
    with a, b:
        pass
    with b, a:
        pass

def test_deadlock_in_worker_threads():
    a, b = threading.Lock(), threading.Lock()
    both = threading.Barrier(2)
    def worker(first, second):
        with first:
            both.wait()
            with second:
                pass
    threads = [threading.Thread(target=worker, args=p) for p in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

def test_queue_and_pool():
    import queue
    from concurrent.futures import ThreadPoolExecutor
    q = queue.Queue()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(q.put, range(10)))
    assert q.qsize() == 10
"""


def test_flag_fails_the_guilty_tests_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER_SUITE)
    result = pytester.runpytest_subprocess("--threadloom", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    output = result.stdout.str()
    assert "threadloom: threading primitives instrumented" in output
    assert output.count("threadloom found 1 problem(s):") == 2
    assert "lock-order inversion: thread 'MainThread'" in output
    assert "deadlock: thread 'Thread-" in output
    assert "(a cycle of 2 threads)" in output
    result.stdout.fnmatch_lines(
        [
            "FAILED test_inner.py::test_inversion - *",
            "FAILED test_inner.py::test_deadlock_in_worker_threads - *",
        ]
    )


def test_without_the_flag_nothing_changes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER_SUITE.split("def test_deadlock", maxsplit=1)[0])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert "instrumented" not in result.stdout.str()
