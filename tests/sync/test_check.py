"""``threadloom check PROGRAM.py``: seed hazards are reported, correct programs are not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROGRAMS = {
    # Seed 003's warning, sequentially: never hangs, but the order is inverted.
    "abba_inversion": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def one():
            with a, b:
                pass
        def two():
            with b, a:
                pass
        for f in (one, two):
            t = threading.Thread(target=f)
            t.start()
            t.join()
    """,
    "three_lock_cycle": """
        import threading
        a, b, c = threading.RLock(), threading.RLock(), threading.RLock()
        for first, second in ((a, b), (b, c), (c, a)):
            with first, second:
                pass
    """,
    # A real two-thread deadlock: must end with the report, not hang.
    "abba_deadlock": """
        import threading
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
        print("unreachable")
    """,
    "self_deadlock": """
        import threading
        lock = threading.Lock()
        with lock:
            with lock:
                print("unreachable")
    """,
    "dining_philosophers": """
        import threading
        forks = [threading.Lock() for _ in range(5)]
        seated = threading.Barrier(5)
        def philosopher(i):
            with forks[i]:
                seated.wait()
                with forks[(i + 1) % 5]:
                    pass
        threads = [threading.Thread(target=philosopher, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    """,
    # Condition plus another lock: the waiter sleeps holding `outer`, which the notifier
    # needs first. No cycle of owners; every thread is stuck.
    "condition_plus_lock": """
        import threading
        outer = threading.Lock()
        cond = threading.Condition()
        waiting = threading.Event()
        def waiter():
            with outer, cond:
                waiting.set()
                cond.wait()
        def notifier():
            waiting.wait()
            with outer, cond:
                cond.notify()
        threads = [threading.Thread(target=waiter), threading.Thread(target=notifier)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    """,
}

CORRECT = {
    "consistent_order": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def work():
            for _ in range(200):
                with a, b:
                    pass
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    """,
    "try_lock_back_off": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def polite(first, second):
            done = 0
            while done < 100:
                with first:
                    if second.acquire(blocking=False):
                        second.release()
                        done += 1
                    elif second.acquire(timeout=0.001):
                        second.release()
                        done += 1
        threads = [threading.Thread(target=polite, args=p) for p in ((a, b), (b, a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    """,
    "rlock_reentry": """
        import threading
        lock = threading.RLock()
        other = threading.Lock()
        def recurse(n):
            with lock:
                if n:
                    with other:
                        pass
                    recurse(n - 1)
        threads = [threading.Thread(target=recurse, args=(20,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    """,
    "lock_released_by_another_thread": """
        import threading
        done = threading.Lock()
        guard = threading.Lock()
        for _ in range(20):
            done.acquire()
            def finish():
                with guard:
                    done.release()
            threading.Thread(target=finish).start()
            with guard:
                pass
            done.acquire()   # waits until the worker released it
            done.release()
    """,
    "queues_and_condition": """
        import queue, threading
        jobs, results = queue.Queue(maxsize=4), queue.Queue()
        def worker():
            while (job := jobs.get()) is not None:
                results.put(job * 2)
                jobs.task_done()
            jobs.task_done()
        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for i in range(100):
            jobs.put(i)
        for _ in threads:
            jobs.put(None)
        jobs.join()
        for t in threads:
            t.join()
        assert sorted(results.get() for _ in range(100)) == [2 * i for i in range(100)]
    """,
    "thread_pool_executor": """
        import logging, threading
        from concurrent.futures import ThreadPoolExecutor, as_completed, wait
        logging.basicConfig(level=logging.INFO, format="%(threadName)s %(message)s")
        lock = threading.Lock()
        total = 0
        def add(n):
            global total
            with lock:
                total += n
            logging.getLogger("prog").debug("added %d", n)
            return n
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(add, i) for i in range(200)]
            assert sum(f.result() for f in as_completed(futures)) == sum(range(200))
            wait(futures)
            assert list(pool.map(add, range(10))) == list(range(10))
        assert total == sum(range(200)) + sum(range(10))
    """,
    "events_semaphores_barriers": """
        import threading
        start = threading.Event()
        slots = threading.BoundedSemaphore(2)
        meet = threading.Barrier(4)
        timer_fired = threading.Event()
        threading.Timer(0.01, timer_fired.set).start()
        inside = []
        def task():
            start.wait()
            meet.wait()
            with slots:
                inside.append(1)
        threads = [threading.Thread(target=task) for _ in range(4)]
        for t in threads:
            t.start()
        start.set()
        for t in threads:
            t.join()
        timer_fired.wait()
        assert len(inside) == 4
    """,
}


def run_check(
    tmp_path: Path, name: str, source: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    program = tmp_path / f"{name}.py"
    program.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "threadloom", "check", str(program), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_programs_produce_no_report(tmp_path: Path, name: str) -> None:
    result = run_check(tmp_path, name, CORRECT[name])
    assert result.returncode == 0, result.stderr
    assert "threadloom" not in result.stderr


@pytest.mark.parametrize("name", ["abba_inversion", "three_lock_cycle"])
def test_inversions_are_reported_at_exit(tmp_path: Path, name: str) -> None:
    result = run_check(tmp_path, name, PROGRAMS[name])
    assert result.returncode == 3, result.stderr
    assert "0 deadlock(s), 1 lock-order inversion(s)" in result.stderr
    assert "cycle:" in result.stderr
    assert f"{name}.py" in result.stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("abba_deadlock", "a cycle of 2 threads"),
        ("dining_philosophers", "a cycle of 5 threads"),
        ("self_deadlock", "every thread is blocked forever"),
        ("condition_plus_lock", "every thread is blocked forever"),
    ],
)
def test_deadlocks_end_the_program_with_the_report(
    tmp_path: Path, name: str, expected: str
) -> None:
    result = run_check(tmp_path, name, PROGRAMS[name])
    assert result.returncode == 4, result.stderr
    assert "the program was stopped" in result.stderr
    assert expected in result.stderr
    assert "unreachable" not in result.stdout


def test_arguments_pass_through_and_the_programs_status_is_kept(tmp_path: Path) -> None:
    source = """
        import sys
        print(sys.argv[1:])
        sys.exit(7)
    """
    result = run_check(tmp_path, "status", source, "--mode", "x", "-v", "arg")
    assert result.stdout.strip() == "['--mode', 'x', '-v', 'arg']"
    assert result.returncode == 7
    crash = run_check(tmp_path, "crash", "raise ValueError('boom')")
    assert crash.returncode == 1
    assert "ValueError: boom" in crash.stderr


def test_uncaught_keyboard_interrupt_exits_130(tmp_path: Path) -> None:
    result = run_check(tmp_path, "interrupted", "raise KeyboardInterrupt")
    assert result.returncode == 130, result.stderr
    assert "KeyboardInterrupt" in result.stderr


def test_threading_atexit_hooks_stop_pools_left_running(tmp_path: Path) -> None:
    # The executors live on in imported modules, so only their threading atexit hooks
    # (not garbage collection of the program's namespace) can stop their idle workers.
    (tmp_path / "pools.py").write_text(
        textwrap.dedent("""
            from concurrent.futures import ThreadPoolExecutor
            from threadloom import Pool
            EXECUTOR = ThreadPoolExecutor(2)
            POOL = Pool(2)
        """)
    )
    source = """
        import pools
        print(pools.EXECUTOR.submit(pow, 2, 5).result())
        print(pools.POOL.submit(pow, 3, 2).result())
    """
    result = run_check(tmp_path, "unshut", source, timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["32", "9"]
    assert "threadloom" not in result.stderr


def test_site_key_option(tmp_path: Path) -> None:
    source = """
        import threading
        class Account:
            def __init__(self):
                self.lock = threading.Lock()
        class Ledger:
            def __init__(self):
                self.lock = threading.Lock()
        with Account().lock, Ledger().lock:
            pass
        with Ledger().lock, Account().lock:
            pass
    """
    assert run_check(tmp_path, "classes", source).returncode == 0
    by_site = subprocess.run(
        [
            sys.executable,
            "-m",
            "threadloom",
            "check",
            "--key",
            "site",
            str(tmp_path / "classes.py"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert by_site.returncode == 3, by_site.stderr
    assert "Locks created at" in by_site.stderr
