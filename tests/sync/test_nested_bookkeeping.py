"""Locks taken by a ``__del__`` or a signal handler run inside the detectors' bookkeeping.

The garbage collector and signal handlers run arbitrary code on the thread that is in
the middle of recording a lock-order edge or checking for a deadlock.  Such nested
acquisitions skip the bookkeeping; they must never wait for the graph lock their own
thread holds.  Each case runs in a subprocess, so a regression ends in a timeout
instead of hanging the test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import threadloom.sync as tsync
from threadloom.sync import _state


def run_python(source: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_finalizer_taking_a_lock_during_the_cycle_search_does_not_hang() -> None:
    # The QA reproduction: a long chain makes every search for a path slow enough that
    # the cyclic GC (run often here) collects a Resource, whose __del__ takes a lock.
    result = run_python(
        """
        import gc
        from threadloom.sync import Lock

        class Resource:
            def __init__(self):
                self.lock = Lock()
                self.me = self  # a reference cycle: only the cyclic GC frees it

            def __del__(self):
                with self.lock:
                    pass

        gc.set_threshold(50)
        chain = [Lock() for _ in range(500)]
        for a, b in zip(chain, chain[1:]):
            with a:
                with b:
                    pass
        for _ in range(3000):
            Resource()
            with Lock():
                with chain[0]:
                    pass
        print("done")
        """
    )
    assert (result.returncode, result.stdout) == (0, "done\n"), result.stderr


def test_signal_handler_nesting_locks_during_the_bookkeeping_neither_hangs_nor_recurses() -> None:
    result = run_python(
        """
        import signal
        from threadloom.sync import Lock

        chain = [Lock() for _ in range(500)]
        for a, b in zip(chain, chain[1:]):
            with a:
                with b:
                    pass

        def handler(signum, frame):
            with Lock():
                with Lock():
                    pass

        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        for _ in range(3000):
            with Lock():
                with chain[0]:
                    pass
        signal.setitimer(signal.ITIMER_REAL, 0)
        print("done")
        """
    )
    assert (result.returncode, result.stdout) == (0, "done\n"), result.stderr


def test_other_threads_do_not_wait_for_a_graph_lock_held_across_a_nested_wait() -> None:
    # The main thread's "finalizer" (run inside its cycle search, holding the graph
    # lock) waits for `shared`, held by a thread that needs the graph lock to record an
    # edge of its own before it can release `shared`.  threading.Lock would not
    # deadlock here, so neither may threadloom: that thread skips its bookkeeping.
    result = run_python(
        """
        import threading
        from threadloom.sync import Lock, _order

        shared, a, b, c, d = Lock(), Lock(), Lock(), Lock(), Lock()
        holds_shared, main_inside = threading.Event(), threading.Event()
        real_path = _order._path

        def path_running_a_finalizer(start, goal):
            _order._path = real_path
            main_inside.set()
            with shared:  # what a __del__ run by the GC right here could do
                pass
            return real_path(start, goal)

        def other():
            with shared:
                holds_shared.set()
                main_inside.wait()
                with c:
                    with d:
                        pass

        _order._path = path_running_a_finalizer
        thread = threading.Thread(target=other)
        thread.start()
        holds_shared.wait()
        with a:
            with b:
                pass
        thread.join()
        print("done")
        """
    )
    assert (result.returncode, result.stdout) == (0, "done\n"), result.stderr


def test_acquisitions_nested_in_the_bookkeeping_record_no_edge() -> None:
    a, b = tsync.Lock(), tsync.Lock()
    state = _state.current_state()
    state.busy = True  # as inside a record or check of this thread
    try:
        with a, b:
            pass
    finally:
        state.busy = False
    with b, a:  # the opposite order: no cycle, since a -> b was never recorded
        pass
    assert tsync.findings() == ()
