"""Ctrl-C while the main thread waits on the pool: KeyboardInterrupt within 2 s, work
cancelled, tokens set, process exits."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

# faulthandler: a child that hangs after SIGINT prints every thread's stack on SIGUSR1,
# so a failure shows where it waits (this test hung twice in hundreds of local runs).
PRELUDE = """
import faulthandler, signal, sys, threading
faulthandler.register(signal.SIGUSR1, all_threads=True)
from threadloom.core import Pool, cancelled
printing, first = threading.Lock(), threading.Lock()
def say(line):
    with printing:  # print from two threads can interleave their text and newlines
        print(line, flush=True)
def cooperative(_=None):
    if first.acquire(blocking=False):
        say("running")
    while not cancelled():
        threading.Event().wait(0.01)
    say("token seen")
pool = Pool(max_workers=2)
"""

WAITS = {
    "result": "f = pool.submit(cooperative); [pool.submit(cooperative) for _ in range(5)]; "
    "say('ready'); f.result()",
    "map": "it = pool.map(cooperative, range(10)); say('ready'); list(it)",
    "imap": "it = pool.imap(cooperative, range(10)); say('ready'); list(it)",
    "shutdown": "[pool.submit(cooperative) for _ in range(5)]; say('ready'); pool.shutdown()",
    "with": "with pool:\n    [pool.submit(cooperative) for _ in range(5)]\n    say('ready')",
}


@pytest.mark.parametrize("how", sorted(WAITS))
def test_ctrl_c_stops_everything(how: str) -> None:
    code = textwrap.dedent(PRELUDE) + WAITS[how] + "\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # imap submits nothing before it is iterated: wait until a task runs, so the
        # interrupt always finds one to cancel.
        seen = {proc.stdout.readline().strip(), proc.stdout.readline().strip()}
        assert seen == {"ready", "running"}, seen
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"no exit 10 s after SIGINT; stdout:\n{out}\nthreads:\n{err}")
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "KeyboardInterrupt" in err
    assert proc.returncode != 0
    assert elapsed < 2.0
    assert "token seen" in out


# A Ctrl-C whose C-level handler runs just before the main thread falls asleep in a lock
# wait does not wake that wait. Blocking SIGINT in the main thread makes the kernel hand
# it to another thread, which reproduces that every time: the flag is set, the main
# thread sleeps on. Every wait of the main thread must still end within a slice.
LOST_SIGNAL_PRELUDE = """
import signal, threading, time
from threadloom.core import CancelToken, Pipeline, Pool, Stage, cancelled
def cooperative(_=None):
    while not cancelled():
        threading.Event().wait(0.01)
    return 0
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()  # gets the signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
pool = Pool(max_workers=2, max_queued=1)
"""

LOST_SIGNAL_WAITS = {
    "result": "f = pool.submit(cooperative); print('ready', flush=True); f.result()",
    "imap": "it = pool.imap(cooperative, range(10)); print('ready', flush=True); list(it)",
    "shutdown": "[pool.submit(cooperative) for _ in range(2)]; print('ready', flush=True); "
    "pool.shutdown()",
    "full-queue": "[pool.submit(cooperative) for _ in range(3)]; print('ready', flush=True); "
    "pool.submit(cooperative)",
    "pipeline": "run = Pipeline([Stage(cooperative, workers=1)]).run(range(10)); "
    "print('ready', flush=True); list(run)",
    "token": "print('ready', flush=True); CancelToken().wait()",
}


@pytest.mark.parametrize("how", sorted(LOST_SIGNAL_WAITS))
def test_ctrl_c_that_reaches_another_thread_still_ends_the_wait(how: str) -> None:
    code = textwrap.dedent(LOST_SIGNAL_PRELUDE) + LOST_SIGNAL_WAITS[how] + "\n"
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)  # let the main thread fall asleep in the wait
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{how}: the main thread slept on after SIGINT")
    assert "KeyboardInterrupt" in err, err
