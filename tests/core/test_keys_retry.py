"""Per-key limits (no worker held by a full key, no leaked key state) and retries."""

from __future__ import annotations

import itertools
import random
import threading
import time
from concurrent.futures import Future, wait

import pytest

from threadloom.core import Pool, Retry, RetryLater, TaskFuture


def test_key_limit_caps_concurrency_per_key() -> None:
    lock = threading.Lock()
    running: dict[str, int] = {}
    peak: dict[str, int] = {}

    def work(key: str) -> None:
        with lock:
            running[key] = running.get(key, 0) + 1
            peak[key] = max(peak.get(key, 0), running[key])
        threading.Event().wait(0.002)
        with lock:
            running[key] -= 1

    with Pool(max_workers=8, key_limit=2) as pool:
        futures = [pool.submit_task(work, (k,), key=k) for k in "abc" * 20]
        wait(futures)
    assert all(v <= 2 for v in peak.values())
    assert max(peak.values()) == 2


def test_full_key_does_not_hold_a_worker() -> None:
    gate = threading.Event()
    slow_started = threading.Barrier(2, timeout=10)

    def slow() -> None:
        slow_started.wait()
        gate.wait(30)

    with Pool(max_workers=3, key_limit=1) as pool:
        slow_tasks = [pool.submit_task(slow, key="slow") for _ in range(6)]
        slow_started.wait()  # one slow task runs; five wait behind its key
        # Two workers stay free for other keys although five tasks of "slow" wait.
        others = [pool.submit_task(pow, (2, i), key=f"fast{i % 3}") for i in range(30)]
        assert [f.result(timeout=10) for f in others] == [2**i for i in range(30)]
        assert pool.statistics().running == 1
        assert sum(f.running() for f in slow_tasks) == 1
        for f in slow_tasks:
            f.cancel()
        gate.set()


def test_set_key_limit_overrides_default_and_releases_waiting() -> None:
    gate = threading.Event()
    both_running = threading.Barrier(3, timeout=10)

    with Pool(max_workers=4) as pool:
        pool.set_key_limit("db", 1)
        first = pool.submit_task(both_running.wait, key="db")
        second = pool.submit_task(both_running.wait, key="db")
        assert not second.running()
        pool.set_key_limit("db", 2)
        both_running.wait()
        first.result(timeout=10)
        second.result(timeout=10)
        gate.set()


def test_key_state_is_removed_when_keys_go_idle() -> None:
    with Pool(max_workers=4, key_limit=1) as pool:
        futures = [pool.submit_task(int, key=("host", i)) for i in range(20_000)]
        wait(futures)
        assert pool.statistics().keys == 0
        assert pool._gate._keys == {}


def test_retry_until_success_records_attempts() -> None:
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("reset")
        return "ok"

    with Pool(max_workers=1) as pool:
        future = pool.submit_task(flaky, retry=Retry(attempts=5, backoff=0.001))
        assert future.result(timeout=10) == "ok"
        assert future.attempts == 3
        assert pool.statistics().retried == 2


def test_retry_gives_up_with_the_last_exception() -> None:
    attempt = 0

    def always() -> None:
        nonlocal attempt
        attempt += 1
        raise ConnectionError(f"try {attempt}")

    with Pool(max_workers=1) as pool:
        future = pool.submit_task(always, retry=Retry(attempts=3, backoff=0.001))
        with pytest.raises(ConnectionError, match="try 3"):
            future.result(timeout=10)
        assert future.attempts == 3


def test_retry_on_filters_exceptions() -> None:
    with Pool(
        max_workers=1, retry=Retry(attempts=3, backoff=0, retry_on=(ConnectionError,))
    ) as pool:
        future = pool.submit(int, "x")
        with pytest.raises(ValueError):
            future.result(timeout=10)
        assert future.attempts == 1
        predicate = Retry(attempts=3, backoff=0, retry_on=lambda e: "again" in str(e))
        calls = []

        def task() -> None:
            calls.append(1)
            raise RuntimeError("again")

        assert pool.submit_task(task, retry=predicate).exception(timeout=10) is not None
        assert len(calls) == 3


def test_retry_waits_on_the_scheduler_not_in_a_worker() -> None:
    # One worker; the task asks to be retried in 0.3 s. Meanwhile the same worker must
    # run other work, which proves no worker sleeps through the backoff.
    first_failed = threading.Event()
    calls = 0

    def needs_patience() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            first_failed.set()
            raise RetryLater(0.3)
        return "done"

    with Pool(max_workers=1) as pool:
        future = pool.submit_task(needs_patience, retry=Retry(attempts=2))
        assert first_failed.wait(10)
        other = pool.submit(sum, [1, 2])
        assert other.result(timeout=0.25) == 3
        assert not future.done()
        assert future.result(timeout=10) == "done"


def test_retry_after_attribute_is_honoured_and_capped() -> None:
    class Busy(Exception):
        retry_after = 120.0

    policy = Retry(backoff=1.0, jitter=0.0, max_retry_after=2.5)
    assert policy.delay(Busy(), 1) == 2.5
    assert policy.delay(RetryLater(0.25), 1) == 0.25
    assert policy.delay(ValueError(), 1) == 1.0
    assert policy.delay(ValueError(), 3) == 4.0
    jittery = Retry(backoff=1.0, jitter=0.5, max_backoff=10)
    rng = random.Random(1)
    assert all(0.5 <= jittery.delay(ValueError(), 1, rng) <= 1.5 for _ in range(100))
    assert Retry(backoff=1, multiplier=10, max_backoff=5, jitter=0).delay(ValueError(), 4) == 5


def test_retry_never_retries_base_exceptions_and_validates() -> None:
    assert not Retry().should_retry(KeyboardInterrupt(), 1)
    assert not Retry(attempts=2).should_retry(ValueError(), 2)
    for bad in ({"attempts": 0}, {"backoff": -1}, {"multiplier": 0.5}, {"jitter": 2}):
        with pytest.raises(ValueError):
            Retry(**bad)  # type: ignore[arg-type]


def test_cancel_while_waiting_for_retry_settles_at_once() -> None:
    failed_once = threading.Event()

    def fail() -> None:
        failed_once.set()
        raise ConnectionError

    rescheduled = threading.Event()
    with Pool(max_workers=1) as pool:
        pool.subscribe(lambda event: rescheduled.set() if event.kind == "retry" else None)
        future = pool.submit_task(fail, retry=Retry(attempts=3, backoff=60, jitter=0))
        assert failed_once.wait(10)
        assert rescheduled.wait(10)
        assert future.cancel()
        assert future.cancelled()
        assert pool.statistics().waiting_retry == 0
    # leaving the block did not wait 60 s for the retry


def test_keyed_retry_releases_the_key_slot_during_backoff() -> None:
    failed_once = threading.Event()

    def fail_once() -> str:
        if not failed_once.is_set():
            failed_once.set()
            raise RetryLater(0.5)
        return "retried"

    with Pool(max_workers=2, key_limit=1) as pool:
        retrying = pool.submit_task(fail_once, key="k", retry=Retry(attempts=2))
        assert failed_once.wait(10)
        other = pool.submit_task(str, ("x",), key="k")
        assert other.result(timeout=0.4) == "x"  # got the key during the backoff
        assert retrying.result(timeout=10) == "retried"


def test_key_rate_spaces_starts_without_holding_workers() -> None:
    starts: list[float] = []
    lock = threading.Lock()

    def record() -> None:
        with lock:
            starts.append(time.monotonic())

    with Pool(max_workers=4) as pool:
        limited = [pool.submit_task(record, key="api", key_rate=50.0) for _ in range(11)]
        # Other keys are not held up by the rate-limited one: all done while it is still
        # being spaced out (its starts take 0.2 s).
        free = [pool.submit_task(int, key=f"other{i}") for i in range(20)]
        assert all(f.result(timeout=5) == 0 for f in free)
        free_done = time.monotonic()
        wait(limited)
    ordered = sorted(starts)
    assert free_done < ordered[-1]
    # 1/50 s apart on average; one gap can look shorter only by the time a worker took to
    # wake up for the task before it (a busy machine), never by a burst.
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert ordered[-1] - ordered[0] >= 10 * 0.02 * 0.9, gaps
    assert min(gaps) >= 0.02 * 0.5, gaps
    # After shutdown the key's state stays (tasks still queued would honour its rate),
    # but no tick keeps the scheduler thread alive for it.
    assert all(state.tick is None for state in pool._gate._keys.values())
    assert pool._scheduler._thread is None
    with pytest.raises(ValueError):
        Pool(max_workers=1).submit_task(int, key="k", key_rate=0)


def test_set_key_limit_none_lifts_the_cap_of_a_key_in_use() -> None:
    # No pool default: going "back to default" means no cap, even for a key that is busy.
    release = threading.Event()
    first_started = threading.Event()
    second_started = threading.Event()

    def first() -> None:
        first_started.set()
        release.wait(60)  # longer than the test waits for the second: the slot stays taken

    with Pool(max_workers=2) as pool:
        pool.set_key_limit("db", 1)
        held = pool.submit_task(first, key="db")
        assert first_started.wait(10)
        second = pool.submit_task(second_started.set, key="db")
        pool.set_key_limit("db", None)
        try:
            assert second_started.wait(20)  # runs while the first still holds its slot
        finally:
            release.set()
        held.result(timeout=10)
        second.result(timeout=10)


def test_set_key_limit_none_falls_back_to_the_submitted_key_limit() -> None:
    release = threading.Event()
    two_running = threading.Event()
    lock = threading.Lock()
    running = peak = 0

    def hold() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 2:
                two_running.set()
        release.wait(10)
        with lock:
            running -= 1

    with Pool(max_workers=4) as pool:
        pool.set_key_limit("db", 1)
        futures = [pool.submit_task(hold, key="db", key_limit=2) for _ in range(3)]
        pool.set_key_limit("db", None)  # back to the submit calls' key_limit=2
        try:
            assert two_running.wait(10)
        finally:
            release.set()
        wait(futures, timeout=10)
    assert all(f.done() for f in futures)
    assert peak == 2


def _waiting_for_retry(pool: Pool) -> TaskFuture[None]:
    """A task of ``pool`` that failed once and now waits out a 30 s backoff."""

    def fail() -> None:
        raise ValueError("fails once, then waits for its retry")

    future = pool.submit(fail)
    deadline = time.monotonic() + 10
    while pool.statistics().waiting_retry == 0:
        assert time.monotonic() < deadline, "the task never started waiting for its retry"
        time.sleep(0.005)
    return future


def test_cancel_between_retries_tells_wait_before_the_callbacks_run() -> None:
    """A callback of the cancel may wait for a thread in ``wait()`` over the future:
    wait() must already see it done (it used to time out: the notice came after)."""
    waited: list[int] = []
    with Pool(2, retry=Retry(attempts=3, backoff=30, jitter=0)) as pool:
        future = _waiting_for_retry(pool)

        def callback(f: Future[None]) -> None:
            helper = threading.Thread(target=lambda: waited.append(len(wait([f], timeout=5)[0])))
            helper.start()
            helper.join(10)

        future.add_done_callback(callback)
        started = time.monotonic()
        assert future.cancel()
        assert time.monotonic() - started < 4
    assert waited == [1]


def test_cancel_between_retries_racing_a_cancelling_shutdown_settles_once() -> None:
    pool = Pool(2, retry=Retry(attempts=3, backoff=30, jitter=0))
    future = _waiting_for_retry(pool)
    in_callback = threading.Event()
    outcome: list[object] = []

    def slow_callback(_: Future[None]) -> None:
        in_callback.set()
        time.sleep(0.3)  # the shutdown below runs meanwhile

    def cancel() -> None:
        try:
            outcome.append(future.cancel())
        except BaseException as exc:  # a bug: cancel() must not raise
            outcome.append(exc)

    future.add_done_callback(slow_callback)
    canceller = threading.Thread(target=cancel)
    canceller.start()
    assert in_callback.wait(10)
    pool.shutdown(wait=False, cancel_futures=True)
    canceller.join(10)
    pool.shutdown(wait=True)
    assert outcome == [True]
    statistics = pool.statistics()
    assert (statistics.cancelled, statistics.queued, statistics.waiting_retry) == (1, 0, 0)


def test_a_rate_too_slow_to_wait_for_does_not_kill_the_scheduler() -> None:
    started = time.monotonic()
    with Pool(1) as pool:  # one worker: the first task surely takes the key's one start
        # 1e-300 tasks/s: the second task is due in 1e300 s, a wait no lock can take.
        first = pool.submit_task(lambda: 1, key="slow", key_rate=1e-300)
        second = pool.submit_task(lambda: 2, key="slow", key_rate=1e-300)
        assert first.result(timeout=5) == 1
        ran = threading.Event()
        pool.after(0.05, ran.set)
        assert ran.wait(5), "the scheduler thread is alive"
        assert second.cancel()
    # The parked task was forgotten at its cancel, and the key's rate at shutdown.
    assert time.monotonic() - started < 5
    assert not [t for t in threading.enumerate() if t.name.startswith(pool.name)]


def test_shutdown_does_not_wait_for_a_keys_rate_to_allow_another_start() -> None:
    started = time.monotonic()
    with Pool(2) as pool:
        pool.submit_task(lambda: 1, key="k", key_rate=1 / 60).result(timeout=5)
    assert time.monotonic() - started < 5, "shutdown waited for the next allowed start"
    assert not [t for t in threading.enumerate() if t.name.startswith(pool.name)]


def test_cancelling_a_parked_task_gives_back_its_queue_place() -> None:
    release, started = threading.Event(), threading.Event()

    def blocker() -> None:
        started.set()
        release.wait(5)

    with Pool(2, max_queued=1, when_full="raise") as pool:
        first = pool.submit_task(blocker, key="k", key_limit=1)
        assert started.wait(5)
        parked = pool.submit_task(int, key="k", key_limit=1)
        time.sleep(0.1)  # the second worker has parked it behind the key
        assert parked.cancel()
        release.set()
        first.result(timeout=5)
        assert pool.submit(int).result(timeout=5) == 0, "the queue had no room left"


def test_a_key_rate_still_spaces_tasks_that_run_after_shutdown() -> None:
    starts: list[float] = []

    def polite() -> None:
        starts.append(time.monotonic())
        time.sleep(0.01)  # the one worker is busy: the next task waits in the run queue

    with Pool(1) as pool:
        for _ in range(3):
            pool.submit_task(polite, key="h", key_rate=10)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 2
    assert all(gap >= 0.09 for gap in gaps), gaps


def test_many_parked_tasks_cancelled_from_the_back_all_settle_and_the_key_goes_on() -> None:
    # (Each cancel used to search the key's queue: 5.9 s for 20,000 from the back; the
    # task now stays in the queue, marked, at O(1). Timing is not asserted here.)
    release, started = threading.Event(), threading.Event()

    def blocker() -> None:
        started.set()
        release.wait(30)

    with Pool(2) as pool:
        pool.submit_task(blocker, key="k", key_limit=1)
        assert started.wait(10)  # it holds the key's one slot before the others come
        parked = [pool.submit_task(int, key="k", key_limit=1) for _ in range(5_000)]
        deadline = time.monotonic() + 10
        while pool.statistics().queued < 5_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(future.cancel() for future in reversed(parked[1:]))
        release.set()
        last = pool.submit_task(lambda: "after", key="k", key_limit=1)
        assert last.result(timeout=10) == "after"
        stats = pool.statistics()
    assert parked[0].result() == 0
    assert stats.cancelled == len(parked) - 1
