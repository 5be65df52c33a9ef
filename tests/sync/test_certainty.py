"""A deadlock verdict only when certain: a wait-for cycle through a plain Lock that a
running thread can still release stops nothing (issue 15, readerwriterlock's false
deadlock); the watchdog reports it as a suspicion instead."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# The scenario on a fair reader/writer lock whose write lock is held for the
# whole group of readers: reader R1 takes it, R2 joins, R1 leaves, the writer takes the
# fairness lock and waits for the write lock "held" by R1, R1 waits for the fairness lock:
# a cycle R1 -> W -> R1 for 0.5 s, until R2 leaves and releases the write lock.
SCENARIO = """
import threading
import time
{setup}

r1_in, r2_in, r1_out, w_trying, r1_again = (threading.Event() for _ in range(5))
order = []

def r1():
    reader = rw.gen_rlock()
    reader.acquire()
    r1_in.set()
    r2_in.wait(10)
    reader.release()
    r1_out.set()
    w_trying.wait(10)
    time.sleep(0.1)  # let the writer block on the write lock
    r1_again.set()
    reader.acquire()  # waits for the fairness lock the writer holds
    order.append("r1")
    reader.release()

def r2():
    r1_in.wait(10)
    reader = rw.gen_rlock()
    reader.acquire()
    r2_in.set()
    r1_again.wait(10)
    time.sleep(0.5)  # work: the last reader leaves later, from another thread
    order.append("r2")
    reader.release()

def w():
    r1_out.wait(10)
    writer = rw.gen_wlock()
    w_trying.set()
    writer.acquire()
    order.append("w")
    writer.release()

threads = [threading.Thread(target=f, name=f.__name__.upper()) for f in (r1, r2, w)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(order)
"""

# A fair reader/writer lock written in the program itself: no built-in rule knows it,
# so only the certainty rule keeps the program running. (Its write lock, held for the
# group, also looks like a lock-order inversion within one thread: suppressed below,
# which keeps the lock in the wait-for graph, where the false cycle forms.)
INLINE_FAIR_LOCK = """
class FairRW:
    def __init__(self):
        self.count = 0
        self.count_lock = threading.Lock()
        self.fair = threading.Lock()
        self.write = threading.Lock()

    def gen_rlock(self):
        return Reader(self)

    def gen_wlock(self):
        return Writer(self)

class Reader:
    def __init__(self, rw):
        self.rw = rw

    def acquire(self):
        with self.rw.fair:
            with self.rw.count_lock:
                self.rw.count += 1
                if self.rw.count == 1:
                    self.rw.write.acquire()

    def release(self):
        with self.rw.count_lock:
            self.rw.count -= 1
            if self.rw.count == 0:
                self.rw.write.release()

class Writer:
    def __init__(self, rw):
        self.rw = rw

    def acquire(self):
        self.rw.fair.acquire()
        self.rw.write.acquire()

    def release(self):
        self.rw.write.release()
        self.rw.fair.release()

rw = FairRW()
"""

READERWRITERLOCK = """
from readerwriterlock import rwlock
rw = rwlock.RWLockFair()
"""


def check(tmp_path: Path, source: str, *options: str) -> subprocess.CompletedProcess[str]:
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(source))
    rules = tmp_path / "rules.txt"
    rules.write_text("# the group-held write lock of FairRW\nlock-order:program.py:write\n")
    options = ("--suppress", str(rules), *options)
    return subprocess.run(
        [sys.executable, "-m", "threadloom", "check", *options, str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("setup", [INLINE_FAIR_LOCK, READERWRITERLOCK], ids=["inline", "rwlock"])
def test_the_false_deadlock_program_runs_to_completion(tmp_path: Path, setup: str) -> None:
    result = check(tmp_path, SCENARIO.format(setup=setup))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['r2', 'w', 'r1']"
    assert "deadlock" not in result.stderr


def test_the_suspicion_is_reported_by_the_watchdog(tmp_path: Path) -> None:
    result = check(tmp_path, SCENARIO.format(setup=INLINE_FAIR_LOCK), "--watchdog", "0.2")
    assert result.returncode == 0, result.stderr
    assert "threadloom watchdog: thread 'R1' has been acquiring Lock#" in result.stderr
    assert "suspected deadlock (a wait-for cycle through a Lock): 'R1' (acquiring" in (
        result.stderr
    )
    assert "stack of 'R1'" in result.stderr
    assert "deadlock(s)" not in result.stderr  # no verdict, no report at exit


def test_a_lock_cycle_is_a_verdict_once_every_thread_is_blocked(tmp_path: Path) -> None:
    # The same cycle without a thread that could end it: the main thread joins, the
    # third thread is gone. Stopped with the report, which says why it is certain.
    source = """
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
    """
    result = check(tmp_path, source)
    assert result.returncode == 4, result.stderr
    assert "a cycle of 2 threads" in result.stderr
    assert "every other thread has been blocked too" in result.stderr


def test_one_thread_reading_once_is_not_an_inversion(tmp_path: Path) -> None:
    # Acquire: count lock, then the group's resource lock; release: count lock while the
    # resource lock is "held". One thread, once: reported as an inversion before.
    source = """
        from readerwriterlock import rwlock
        for kind in (rwlock.RWLockRead, rwlock.RWLockFair, rwlock.RWLockWrite):
            lock = kind()
            with lock.gen_rlock():
                pass
            with lock.gen_wlock():
                pass
        print("ok")
    """
    result = check(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "threadloom" not in result.stderr
