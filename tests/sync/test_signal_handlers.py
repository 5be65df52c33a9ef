"""Waits a Python signal handler can end are not deadlocks.

Handlers run in the main thread, also while it is blocked, and may set events, notify
conditions and release semaphores: while one is installed and the main thread is
blocked, waits on such primitives may still end.  Waits on locks and joins are judged
as without handlers.  Each case runs in a subprocess: it owns its signal handlers there
(pytest-timeout installs one for SIGALRM here) and a regression cannot hang the run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from threadloom.sync._check import EXIT_DEADLOCK


def run_python(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def write(tmp_path: Path, source: str) -> str:
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(source))
    return str(program)


def test_check_lets_a_signal_handler_end_the_wait(tmp_path: Path) -> None:
    # The QA program, with the signal from a timer instead of a background `kill`.
    program = write(
        tmp_path,
        """
        import signal, threading
        stop = threading.Event()
        signal.signal(signal.SIGALRM, lambda *args: stop.set())
        thread = threading.Thread(target=stop.wait)
        thread.start()
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        thread.join()
        print("main: done")
        """,
    )
    result = run_python("-m", "threadloom", "check", program)
    assert (result.returncode, result.stdout) == (0, "main: done\n"), result.stderr


def test_worker_waiting_for_a_lock_the_blocked_main_thread_holds_is_not_a_deadlock(
    tmp_path: Path,
) -> None:
    program = write(
        tmp_path,
        """
        import signal, threading
        from threadloom.sync import DeadlockError, Event, Lock

        lock, alarm, outcome = Lock(), Event(), []
        signal.signal(signal.SIGALRM, lambda *args: alarm.set())

        def worker():
            try:
                with lock:
                    outcome.append("acquired")
            except DeadlockError:
                outcome.append("DeadlockError")

        with lock:
            thread = threading.Thread(target=worker)
            thread.start()
            signal.setitimer(signal.ITIMER_REAL, 1.0)
            alarm.wait()
        thread.join()
        print(outcome)
        """,
    )
    result = run_python(program)
    assert (result.returncode, result.stdout) == (0, "['acquired']\n"), result.stderr


def test_main_thread_cycle_is_reported_with_a_handler_installed(tmp_path: Path) -> None:
    # Main holds a and waits for b; the worker holds b and waits for a.  A handler is
    # not assumed to release a lock the interrupted code holds, or to abort the wait.
    program = write(
        tmp_path,
        """
        import signal, threading
        from threadloom.sync import Barrier, DeadlockError, Lock

        signal.signal(signal.SIGTERM, lambda *args: None)
        a, b, both = Lock(), Lock(), Barrier(2)
        errors = []

        def worker():
            with b:
                both.wait()
                try:
                    with a:
                        pass
                except DeadlockError:
                    errors.append("worker")

        thread = threading.Thread(target=worker)
        with a:
            thread.start()
            both.wait()
            try:
                with b:
                    pass
            except DeadlockError:
                errors.append("main")
        thread.join()
        print(len(errors))
        """,
    )
    result = run_python(program)
    assert (result.returncode, result.stdout) == (0, "1\n"), result.stderr


def test_deadlock_between_other_threads_is_reported_with_a_handler_installed(
    tmp_path: Path,
) -> None:
    program = write(
        tmp_path,
        """
        import signal, threading
        signal.signal(signal.SIGTERM, lambda *args: None)
        a, b = threading.Lock(), threading.Lock()
        both = threading.Barrier(2)

        def worker(first, second):
            with first:
                both.wait()
                with second:
                    pass

        threads = [threading.Thread(target=worker, args=pair) for pair in ((a, b), (b, a))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        """,
    )
    result = run_python("-m", "threadloom", "check", program)
    assert result.returncode == EXIT_DEADLOCK, result.stderr
    assert "cycle of 2 threads" in result.stderr


def test_self_deadlock_of_the_main_thread_is_reported_with_a_handler_installed(
    tmp_path: Path,
) -> None:
    program = write(
        tmp_path,
        """
        import signal
        from threadloom.sync import DeadlockError, Lock
        signal.signal(signal.SIGTERM, lambda *args: None)
        lock = Lock()
        with lock:
            try:
                lock.acquire()
            except DeadlockError:
                print("DeadlockError")
        """,
    )
    result = run_python(program)
    assert (result.returncode, result.stdout) == (0, "DeadlockError\n"), result.stderr
