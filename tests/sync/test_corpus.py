"""Real thread-heavy libraries under ``pytest --threadloom``: they run, and stay quiet.

readerwriterlock (whose group-held locks are released by other threads), fasteners,
cachetools and filelock are test dependencies (the ``dev`` extra). An inner suite
exercises each the way its documentation shows, single- and multi-threaded, under the
plugin, bounded in time: every test must pass (no false deadlock, no report on correct
use). A copy of readerwriterlock with a real inversion planted in it is still caught.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import readerwriterlock

pytest_plugins = ["pytester"]

CORPUS = """
import threading

import cachetools
import fasteners
import filelock
import pytest
from readerwriterlock import rwlock

RW_KINDS = [rwlock.RWLockFair, rwlock.RWLockRead, rwlock.RWLockWrite,
            rwlock.RWLockFairD, rwlock.RWLockReadD, rwlock.RWLockWriteD]


@pytest.mark.parametrize("kind", RW_KINDS)
def test_rwlock_one_thread(kind):
    lock = kind()
    for _ in range(3):
        with lock.gen_rlock():
            pass
        with lock.gen_wlock():
            pass
    reader = lock.gen_rlock()
    assert reader.acquire(blocking=True, timeout=1)
    assert not lock.gen_wlock().acquire(blocking=False)
    reader.release()


@pytest.mark.parametrize("kind", RW_KINDS)
def test_rwlock_readers_and_writers(kind):
    lock = kind()
    shared = {"value": 0}
    start = threading.Barrier(8)

    def reader():
        start.wait()
        for _ in range(200):
            with lock.gen_rlock():
                assert shared["value"] % 2 == 0

    def writer():
        start.wait()
        for _ in range(100):
            with lock.gen_wlock():
                shared["value"] += 1
                shared["value"] += 1

    threads = [threading.Thread(target=reader) for _ in range(5)]
    threads += [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared["value"] == 600


@pytest.mark.parametrize("kind", [rwlock.RWLockFairD, rwlock.RWLockReadD, rwlock.RWLockWriteD])
def test_rwlock_downgrade_handed_to_another_reader(kind):
    lock = kind()
    writer = lock.gen_wlock()
    writer.acquire()
    reader = writer.downgrade()
    other_read = threading.Event()

    def second_reader():
        with lock.gen_rlock():
            other_read.set()

    t = threading.Thread(target=second_reader)
    t.start()
    assert other_read.wait(10)
    t.join()
    reader.release()


def test_fasteners_reader_writer_lock():
    lock = fasteners.ReaderWriterLock()
    total = []

    def work(i):
        if i % 3:
            with lock.read_lock():
                with lock.read_lock():
                    pass
        else:
            with lock.write_lock():
                with lock.read_lock():
                    total.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(total) == list(range(0, 30, 3))


def test_fasteners_interprocess_lock_from_threads(tmp_path):
    path = tmp_path / "lock"
    count = []

    def work():
        for _ in range(20):
            with fasteners.InterProcessLock(str(path)):
                count.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(count) == 80


def test_cachetools_cached_with_a_lock():
    calls = []

    @cachetools.cached(cachetools.LRUCache(16), lock=threading.RLock())
    def square(x):
        calls.append(x)
        return x * x

    def work():
        for x in range(32):
            assert square(x % 8) == (x % 8) ** 2

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(calls) == set(range(8))


@pytest.mark.parametrize("kind", [filelock.FileLock, filelock.SoftFileLock])
def test_filelock_between_threads(tmp_path, kind):
    counter = tmp_path / "counter"
    counter.write_text("0")

    def work():
        lock = kind(str(tmp_path / "f.lock"))  # one per thread: each locks the file
        for _ in range(20):
            with lock.acquire(timeout=10):
                with lock:  # re-entrant
                    counter.write_text(str(int(counter.read_text()) + 1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.read_text() == "80"
"""


def test_the_corpus_passes_quietly_under_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_corpus=CORPUS)
    result = pytester.runpytest_subprocess(
        "--threadloom",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--timeout=60",
        timeout=240,
    )
    output = result.stdout.str()
    assert "threadloom found" not in output
    assert "threadloom watchdog" not in output
    outcomes = result.parseoutcomes()
    assert outcomes == {"passed": 20}, output


PLANTED = """
from readerwriterlock import rwlock

def test_fair_reader():
    lock = rwlock.RWLockFair()
    with lock.gen_rlock():
        pass
    with lock.gen_rlock():
        pass
"""


def test_an_inversion_planted_in_a_copy_is_caught(pytester: pytest.Pytester) -> None:
    # The copy shadows the installed package (the test directory comes first on
    # sys.path). RWLockFair's reader takes c_lock_read then c_lock_read_count; the
    # planted release takes them the other way round: a real AB/BA between two mutexes.
    copy = pytester.path / "readerwriterlock"
    shutil.copytree(Path(readerwriterlock.__file__).parent, copy)
    source = (copy / "rwlock.py").read_text()
    fair = source.index("class RWLockFair(")
    release = source.index("def release(self) -> None:", fair)
    taken = "self.c_rw_lock.c_lock_read_count.acquire()"
    at = source.index(taken, release)
    planted = f"{taken}; self.c_rw_lock.c_lock_read.acquire(); self.c_rw_lock.c_lock_read.release()"
    (copy / "rwlock.py").write_text(source[:at] + planted + source[at + len(taken) :])
    pytester.makepyfile(test_planted=PLANTED)
    result = pytester.runpytest_subprocess("--threadloom", "-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "lock-order inversion" in output
    assert f"{copy}/rwlock.py" in output or "readerwriterlock/rwlock.py" in output
