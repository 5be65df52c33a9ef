"""Pool as a drop-in concurrent.futures Executor: names, shutdown, initializer, exit."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed, wait
from concurrent.futures.thread import BrokenThreadPool

import pytest

from threadloom.core import BrokenPool, Pool, TaskFuture, cancelled


def test_is_an_executor_returning_standard_futures() -> None:
    with Pool(max_workers=3) as pool:
        assert isinstance(pool, Executor)
        futures = [pool.submit(pow, 2, i) for i in range(20)]
        assert all(isinstance(f, Future) and isinstance(f, TaskFuture) for f in futures)
        assert sorted(f.result() for f in as_completed(futures)) == sorted(2**i for i in range(20))
        done, not_done = wait(futures)
        assert len(done) == 20
        assert not not_done


def test_workers_named_like_thread_pool_executor() -> None:
    names: set[str] = set()
    barrier = threading.Barrier(3, timeout=10)

    def record() -> None:
        names.add(threading.current_thread().name)
        barrier.wait()

    with Pool(max_workers=3, thread_name_prefix="fetch") as pool:
        for _ in range(3):
            pool.submit(record)
    assert names == {"fetch_0", "fetch_1", "fetch_2"}
    with Pool(max_workers=1) as pool:
        name = pool.submit(lambda: threading.current_thread().name).result()
    assert name.startswith("Pool-")
    assert name.endswith("_0")


def test_workers_are_reused() -> None:
    idents: set[int] = set()
    with Pool(max_workers=4, thread_name_prefix="reuse") as pool:
        for _ in range(50):
            idents.add(pool.submit(threading.get_ident).result())
        assert 1 <= pool.statistics().workers <= 4
    assert 1 <= len(idents) <= 4


def test_initializer_runs_per_worker_with_initargs() -> None:
    local = threading.local()

    def init(value: int) -> None:
        local.value = value

    with Pool(max_workers=2, initializer=init, initargs=(7,)) as pool:
        assert pool.submit(lambda: local.value).result() == 7


def test_failing_initializer_breaks_the_pool() -> None:
    def init() -> None:
        raise RuntimeError("no database")

    pool = Pool(max_workers=2, initializer=init)
    future = pool.submit(int)
    with pytest.raises(BrokenThreadPool):
        future.result(timeout=10)
    assert isinstance(future.exception(), BrokenPool)
    with pytest.raises(BrokenPool):
        pool.submit(int)
    pool.shutdown()


def _initializer_records(
    executor_type: type[Executor], caplog: pytest.LogCaptureFixture
) -> list[tuple[str, int, str, type[BaseException] | None]]:
    def init() -> None:
        raise RuntimeError("no database")

    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        executor = executor_type(max_workers=1, initializer=init)  # type: ignore[call-arg]
        with pytest.raises(BrokenThreadPool):
            executor.submit(int).result(timeout=10)
        executor.shutdown()
    return [
        (r.name, r.levelno, r.getMessage(), r.exc_info[0] if r.exc_info else None)
        for r in caplog.records
    ]


def test_failing_initializer_is_logged_as_thread_pool_executor_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = ("concurrent.futures", logging.CRITICAL, "Exception in initializer:", RuntimeError)
    assert _initializer_records(ThreadPoolExecutor, caplog) == [expected]
    records = _initializer_records(Pool, caplog)
    assert records[0] == expected
    # Plus one line (no second traceback) on threadloom's logger naming the pool.
    [(name, level, message, exc_type)] = records[1:]
    assert (name, level, exc_type) == ("threadloom.core", logging.ERROR, None)
    assert "initializer failed" in message
    assert "RuntimeError: no database" in message


_MAPS: dict[str, Callable[[Pool, Callable[[int], object]], Iterator[object]]] = {
    "map": lambda pool, fn: pool.map(fn, range(50)),
    "map-buffersize": lambda pool, fn: pool.map(fn, range(50), buffersize=4),
    "imap": lambda pool, fn: pool.imap(fn, range(50)),
    "imap_unordered": lambda pool, fn: pool.imap_unordered(fn, range(50)),
}


def _consume(results: Iterator[object]) -> list[object]:
    """Read ``results`` in another thread; the outcome: its items, then what it raised."""
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.extend(results)
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "the map never ended"
    return outcome


@pytest.mark.parametrize("how", sorted(_MAPS))
def test_failing_initializer_ends_a_map_with_broken_pool(how: str) -> None:
    # Executor.map raises BrokenThreadPool there; the map used to wait for pullers that
    # no worker would ever run.
    def init() -> None:
        raise RuntimeError("no database")

    pool = Pool(max_workers=2, initializer=init)
    try:
        outcome = _consume(_MAPS[how](pool, int))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    assert len(outcome) == 1
    assert isinstance(outcome[0], BrokenPool)


@pytest.mark.parametrize("how", sorted(_MAPS))
def test_initializer_failing_in_one_worker_ends_a_map_the_other_runs(how: str) -> None:
    def init() -> None:
        if threading.current_thread().name.endswith("_1"):
            raise RuntimeError("no database")

    def work(i: int) -> int:
        while not cancelled():  # items keep the first worker busy until the map stops
            threading.Event().wait(0.005)
        return i

    pool = Pool(max_workers=2, initializer=init)
    try:
        outcome = _consume(_MAPS[how](pool, work))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a failed test must not hang exit
    assert isinstance(outcome[-1], BrokenPool)
    shutdown = threading.Thread(target=pool.shutdown)
    shutdown.start()
    shutdown.join(10)
    assert not shutdown.is_alive(), "shutdown hung on a broken pool"


def test_submit_after_shutdown_raises() -> None:
    pool = Pool(max_workers=1)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(int)


def test_shutdown_cancel_futures_cancels_queued_and_signals_running() -> None:
    started = threading.Event()
    saw_cancel = threading.Event()

    def long_task() -> None:
        started.set()
        while not cancelled():
            threading.Event().wait(0.005)
        saw_cancel.set()

    pool = Pool(max_workers=1)
    running = pool.submit(long_task)
    queued = [pool.submit(int) for _ in range(10)]
    assert started.wait(10)
    pool.shutdown(wait=True, cancel_futures=True)
    assert saw_cancel.is_set()
    assert running.result() is None
    assert all(f.cancelled() for f in queued)
    assert pool.statistics().cancelled == 10


def test_shutdown_without_cancel_runs_queued_work() -> None:
    gate = threading.Event()
    pool = Pool(max_workers=1)
    first = pool.submit(gate.wait, 10)
    rest = [pool.submit(pow, 3, i) for i in range(5)]
    pool.shutdown(wait=False)
    gate.set()
    pool.shutdown(wait=True)
    assert first.result() is True
    assert [f.result() for f in rest] == [3**i for i in range(5)]


def test_with_block_exception_cancels_pending_work() -> None:
    gate = threading.Event()
    started = threading.Event()
    ran: list[int] = []

    def blocker() -> None:
        started.set()
        while not cancelled() and not gate.is_set():
            threading.Event().wait(0.005)

    futures: list[Future[None]] = []

    def body() -> None:
        nonlocal futures
        with Pool(max_workers=1) as pool:
            pool.submit(blocker)
            futures = [pool.submit(ran.append, i) for i in range(100)]
            assert started.wait(10)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        body()
    assert ran == []
    assert all(f.cancelled() for f in futures)


def _run_script(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_interpreter_exit_does_not_hang_on_idle_workers_or_unshut_pools() -> None:
    proc = _run_script(
        """
        from threadloom.core import Pool
        pool = Pool(max_workers=4)
        for i in range(20):
            pool.submit(pow, 2, i)
        keep = Pool(max_workers=2)
        keep.every(0.01, int)
        fut = keep.submit(sum, [1, 2])
        print("ok", fut.result())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok 3" in proc.stdout


def test_interpreter_exit_finishes_queued_work_like_thread_pool_executor() -> None:
    proc = _run_script(
        """
        import time
        from threadloom.core import Pool
        pool = Pool(max_workers=1)
        for i in range(5):
            pool.submit(lambda i=i: (time.sleep(0.01), print("done", i, flush=True)))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("done") == 5


def test_interpreter_exit_after_shutdown_without_wait_lets_a_running_task_finish() -> None:
    # CPython's test_hang_gh83386, with Pool (test_stdlib_executor.py cannot run it).
    proc = _run_script(
        """
        import time
        from threadloom.core import Pool
        pool = Pool(max_workers=3)
        pool.submit(lambda: (time.sleep(0.5), print("apple", flush=True)))
        pool.shutdown(wait=False)
        """
    )
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, "apple", "")


def test_submit_after_interpreter_shutdown_raises() -> None:
    # CPython's test_submit_after_interpreter_shutdown, with Pool.
    proc = _run_script(
        """
        import atexit
        from threadloom.core import Pool
        @atexit.register
        def run_last():
            try:
                pool.submit(id, None)
            except RuntimeError as exc:
                print("runtime-error:", exc)
        pool = Pool(5)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("runtime-error: cannot schedule new futures")


def test_shutdown_with_wait_from_a_task_or_its_callback_does_not_hang() -> None:
    pool = Pool(4)
    for future in [pool.submit(time.sleep, 0.05) for _ in range(4)]:
        future.result()  # several workers exist, idle
    assert pool.submit(lambda: pool.shutdown(wait=True)).result(timeout=5) is None
    pool.shutdown(wait=True)  # and the workers leave once that task is done
    other = Pool(2)
    slept = other.submit(time.sleep, 0.1)
    slept.add_done_callback(lambda _: other.shutdown(wait=True))
    slept.result(timeout=5)
    other.shutdown(wait=True)


def test_map_cancels_the_items_still_to_run_when_one_raises() -> None:
    ran: list[int] = []

    def work(x: int) -> int:
        time.sleep(0.02)
        if x == 0:
            raise ValueError(x)
        ran.append(x)
        return x

    with Pool(2) as pool, pytest.raises(ValueError):
        next(pool.map(work, range(40)))
    # Before the fix 39 of 40 ran; a few more than the two running may start meanwhile.
    assert len(ran) < 30, f"{len(ran)} items ran after the map had ended with an error"
