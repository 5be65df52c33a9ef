"""Ctrl-C that lands in a task running on the main thread (caller_runs, start_inline)
reaches the program instead of becoming that task's failure."""

from __future__ import annotations

import signal
import threading

import pytest

from threadloom.core import Pool


def test_ctrl_c_in_a_caller_run_task_goes_up_and_the_task_settles() -> None:
    started, release = threading.Event(), threading.Event()
    reached_the_end = threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    def interrupt_me() -> None:
        # As a Ctrl-C does: the signal's handler raises in the main thread, here.
        signal.raise_signal(signal.SIGINT)
        reached_the_end.set()  # not reached: the handler raised before this line

    with Pool(1, max_queued=1, when_full="caller_runs") as pool:
        busy = pool.submit(hold)
        assert started.wait(10)
        queued = pool.submit(int)  # waits for the worker: the queue is full now
        try:
            with pytest.raises(KeyboardInterrupt):
                pool.submit(interrupt_me)  # so this one runs here, on the main thread
        finally:
            release.set()
        busy.result(timeout=10)
        queued.result(timeout=10)
    assert not reached_the_end.is_set()
    assert pool.statistics().running == 0
