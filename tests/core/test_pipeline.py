"""Pipeline of stages: order, back-pressure, error policies, keys, shutdown."""

from __future__ import annotations

import gc
import itertools
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import CancelledError

import pytest

from threadloom.core import IDLE, ErrorPolicy, Pipeline, Retry, RetryLater, Stage


def double(x: int) -> int:
    return 2 * x


def test_ordered_stages_keep_input_order() -> None:
    release = threading.Event()

    def slow_first(x: int) -> int:
        if x == 0:
            release.wait(10)
        return x

    run = Pipeline([Stage(slow_first, workers=4), Stage(double, workers=2)]).run(range(50))
    release.set()
    assert list(run) == [2 * i for i in range(50)]


def test_unordered_stage_lets_fast_items_pass_a_slow_one() -> None:
    release = threading.Event()

    def slow_first(x: int) -> int:
        if x == 0:
            release.wait(10)
        return x

    with Pipeline([Stage(slow_first, workers=2, ordered=False)]).run(range(10)) as run:
        first_nine = [next(run) for _ in range(9)]
        assert 0 not in first_nine
        release.set()
        assert list(run) == [0]


def test_endless_input_is_read_lazily() -> None:
    read = 0

    def source() -> Iterator[int]:
        nonlocal read
        for i in itertools.count():
            read += 1
            yield i

    run = Pipeline(
        [Stage(double, workers=2, queue_size=4), Stage(double, workers=2, queue_size=4)]
    ).run(source())
    assert list(itertools.islice(run, 1000)) == [4 * i for i in range(1000)]
    run.close()
    assert read <= 1000 + 4 + 4 + 1  # bounded by the stages' queues


def test_error_policy_raise_stops_and_reraises() -> None:
    def fail_on_3(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    run = Pipeline([Stage(fail_on_3, workers=2)]).run(itertools.count())
    with pytest.raises(ValueError, match="three"):
        list(run)
    assert all(not p.statistics().running for p in run.pools)


def test_error_policy_skip_and_replace() -> None:
    def odd_fails(x: int) -> int:
        if x % 2:
            raise ValueError(x)
        return x

    skipped = Pipeline([Stage(odd_fails, workers=3, on_error="skip"), Stage(double)]).run(range(10))
    assert list(skipped) == [0, 4, 8, 12, 16]
    assert skipped.statistics()[0].skipped == 5
    replaced = Pipeline([Stage(odd_fails, workers=3, on_error=lambda item, exc: -item)]).run(
        range(6)
    )
    assert list(replaced) == [0, -1, 2, -3, 4, -5]


def test_stage_keys_limits_and_retries() -> None:
    lock = threading.Lock()
    running: dict[str, int] = {}
    peak: dict[str, int] = {}
    attempts: dict[str, int] = {}

    def fetch(url: str) -> str:
        host = url.split("/", maxsplit=1)[0]
        with lock:
            running[host] = running.get(host, 0) + 1
            peak[host] = max(peak.get(host, 0), running[host])
            attempts[url] = attempts.get(url, 0) + 1
            first = attempts[url] == 1
        try:
            if first and url.endswith("/0"):
                raise RetryLater(0.01)
            threading.Event().wait(0.002)
            return url.upper()
        finally:
            with lock:
                running[host] -= 1

    urls = [f"h{i % 3}/{i // 3}" for i in range(30)]
    stage = Stage(
        fetch, workers=8, key=lambda u: u.split("/")[0], key_limit=2, retry=Retry(attempts=2)
    )
    assert list(Pipeline([stage, Stage(str.lower, workers=2)]).run(urls)) == urls
    assert max(peak.values()) <= 2
    assert all(attempts[f"h{h}/0"] == 2 for h in range(3))


def test_closing_early_shuts_everything_down() -> None:
    started = threading.Event()

    def cooperative(x: int) -> int:
        started.set()
        from threadloom.core import current_token

        current_token().wait(30)
        return x

    before = threading.active_count()
    run = Pipeline([Stage(double, workers=2), Stage(cooperative, workers=2)]).run(itertools.count())
    outcome: list[object] = []
    consumer = threading.Thread(target=lambda: outcome.append(next(run, "stopped")))
    consumer.start()  # the run is driven by its consumer
    assert started.wait(10)
    run.close()
    consumer.join(10)
    assert outcome == ["stopped"]
    assert threading.active_count() == before


def test_input_error_is_raised() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise OSError("bad input")

    with pytest.raises(OSError, match="bad input"):
        list(Pipeline([Stage(double)]).run(source()))


def test_stage_labels_name_the_traced_tasks() -> None:
    from threadloom.core import TraceRecorder

    run = Pipeline([Stage(double, workers=2, label=lambda item: f"item-{item}")]).run(range(3))
    recorder = TraceRecorder(*run.pools)
    assert list(run) == [0, 2, 4]
    assert sorted(s.label for s in recorder.spans()) == ["item-0", "item-1", "item-2"]


def _run_with_stage_pool_stopped(on_error: ErrorPolicy) -> tuple[list[int], BaseException | None]:
    """Stop the only stage's pool with cancel_futures behind the run's back (as the
    interpreter-exit hook does after Ctrl-C) while items 1 and 2 wait to start."""
    all_in = threading.Event()
    results: list[int] = []
    errors: list[BaseException] = []

    def source() -> Iterator[int]:
        yield from range(3)
        all_in.set()  # every item was submitted before the input is asked for more

    def stop_pool_on_first(x: int) -> int:
        if x == 0:
            assert all_in.wait(10)
            run.pools[0].shutdown(wait=False, cancel_futures=True)
        return x

    run = Pipeline([Stage(stop_pool_on_first, workers=1, queue_size=4, on_error=on_error)]).run(
        source()
    )

    def consume() -> None:
        try:
            results.extend(run)
        except BaseException as exc:
            errors.append(exc)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(10)
    hung = consumer.is_alive()
    run.close()  # lets a hung consumer go
    consumer.join(10)
    assert not hung, "the pipeline waits forever for the cancelled items"
    return results, errors[0] if errors else None


def test_items_cancelled_by_a_stopped_stage_pool_go_through_skip() -> None:
    results, error = _run_with_stage_pool_stopped("skip")
    assert (results, error) == ([0], None)


def test_items_cancelled_by_a_stopped_stage_pool_go_through_raise_and_replace() -> None:
    _, error = _run_with_stage_pool_stopped("raise")
    assert isinstance(error, CancelledError)
    seen: list[tuple[int, type[BaseException]]] = []

    def replace(item: int, exc: BaseException) -> int:
        seen.append((item, type(exc)))
        return -item

    results, error = _run_with_stage_pool_stopped(replace)
    assert (results, error) == ([0, -1, -2], None)
    assert seen == [(1, CancelledError), (2, CancelledError)]


def test_a_failing_key_function_goes_through_the_error_policy() -> None:
    def key(item: int) -> int:
        if item == 3:
            raise ValueError("no key for 3")
        return item % 2

    stages = [
        Stage(lambda x: x, workers=2, name="first"),
        Stage(lambda x: x * 10, workers=2, key=key, key_limit=1, on_error="skip", name="second"),
    ]
    assert list(Pipeline(stages).run(range(6))) == [0, 10, 20, 40, 50]
    failing = [Stage(lambda x: x, key=key, name="only")]
    with pytest.raises(ValueError, match="no key for 3"):
        list(Pipeline(failing).run(range(6)))


def test_a_stage_pool_shut_down_under_the_run_stops_it() -> None:
    release = threading.Event()

    def slow(x: int) -> int:
        release.wait(10)
        return x

    run = Pipeline([Stage(slow, workers=1, name="a"), Stage(lambda x: x, name="b")]).run(range(4))
    outcome: list[BaseException | list[int]] = []
    consumer = threading.Thread(target=lambda: outcome.append(_collect(run)))
    consumer.start()
    run.pools[1].shutdown(wait=False)
    release.set()
    consumer.join(10)
    assert not consumer.is_alive(), "the run hung instead of failing"
    assert isinstance(outcome[0], RuntimeError)
    run.close()


def _collect(run: Iterator[int]) -> BaseException | list[int]:
    try:
        return list(run)
    except BaseException as exc:
        return exc


def test_items_behind_a_busy_key_do_not_fill_the_stage() -> None:
    # A slow key's items come first; with its limit of 1 all but one of them wait. They
    # must not take the stage's queue_size, or the other keys' items are never read and
    # three workers idle until the slow key is through.
    gate = threading.Event()

    def work(item: tuple[str, int]) -> tuple[str, int]:
        if item[0] == "slow":
            assert gate.wait(10), "the other keys' items never came through"
        return item

    items = [("slow", i) for i in range(20)] + [(f"k{i}", i) for i in range(20)]
    stage = Stage(work, workers=4, queue_size=4, ordered=False, key=lambda x: x[0], key_limit=1)
    out: list[tuple[str, int]] = []
    with Pipeline([stage]).run(items) as run:
        for item in run:
            out.append(item)
            if sum(1 for key, _ in out if key != "slow") == 20:
                gate.set()
        statistics = run.statistics()
    assert all(key != "slow" for key, _ in out[:20])
    assert sorted(out) == sorted(items)
    assert statistics[0].held == 0
    assert statistics[0].waiting == 0


def test_items_waiting_for_a_retry_do_not_fill_the_stage() -> None:
    # Two items fail once and wait 1 s for their retry; the eight others must not wait
    # behind them for room in a stage of queue_size 2.
    failed: set[int] = set()
    lock = threading.Lock()

    def flaky(x: int) -> int:
        with lock:
            first = x < 2 and x not in failed
            failed.add(x)
        if first:
            raise OSError("try again")
        return x

    stage = Stage(
        flaky,
        workers=2,
        queue_size=2,
        ordered=False,
        retry=Retry(attempts=2, backoff=1.0, jitter=0.0),
    )
    out = list(Pipeline([stage]).run(range(10)))
    assert sorted(out) == list(range(10))
    assert out[-2:] in ([0, 1], [1, 0])


def test_max_waiting_bounds_the_items_read_past_a_busy_key() -> None:
    gate = threading.Event()
    read: list[int] = []

    def numbers() -> Iterator[int]:
        for i in range(100):
            read.append(i)
            yield i

    def work(x: int) -> int:
        gate.wait(10)
        return x

    stage = Stage(work, workers=2, queue_size=2, max_waiting=5, key=lambda x: 0, key_limit=1)
    out: list[int] = []
    with Pipeline([stage]).run(numbers()) as run:
        consumer = threading.Thread(target=lambda: out.extend(run))
        consumer.start()
        # One item runs and the rest wait behind the key. Five waiting items are exempt
        # from queue_size, so a second item counting against it (queue_size 2) is read
        # too, and waits as well; then the stage holds queue_size + max_waiting = 7 and
        # the input is not read further until something moves.
        deadline = time.monotonic() + 5
        while run.statistics()[0].waiting < 6 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.1)  # room for a wrong extra read to happen
        assert run.statistics()[0].waiting == 6
        assert run.statistics()[0].held == 7
        assert len(read) == 7
        gate.set()
        consumer.join(10)
    assert out == list(range(100))


def test_max_waiting_zero_counts_every_item_against_queue_size() -> None:
    gate = threading.Event()
    read: list[int] = []

    def numbers() -> Iterator[int]:
        for i in range(20):
            read.append(i)
            yield i

    def work(x: int) -> int:
        gate.wait(10)
        return x

    stage = Stage(work, workers=2, queue_size=3, max_waiting=0, key=lambda x: 0, key_limit=1)
    out: list[int] = []
    with Pipeline([stage]).run(numbers()) as run:
        consumer = threading.Thread(target=lambda: out.extend(run))
        consumer.start()
        deadline = time.monotonic() + 5
        while len(read) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.1)  # room for a wrong extra read to happen
        assert len(read) == 3, "parked items count against queue_size"
        gate.set()
        consumer.join(10)
    assert out == list(range(20))


def test_idle_input_lets_finished_results_out_while_the_input_waits() -> None:
    more = threading.Event()

    def slow_input() -> Iterator[object]:
        yield 1
        # A real input would wait briefly for data here and yield IDLE while none comes.
        while not more.wait(0.01):
            yield IDLE
        yield 2

    run = Pipeline([Stage(double, workers=1)]).run(slow_input())
    assert next(run) == 2, "the first result waited for the second input item"
    more.set()
    assert list(run) == [4]


def test_close_with_a_timeout_leaves_a_task_that_ignores_its_token() -> None:
    release = threading.Event()

    def stubborn(x: int) -> int:
        release.wait(10)  # never looks at cancelled()
        return x

    entered = threading.Event()

    def stubborn_input() -> Iterator[int]:
        yield 1
        entered.set()
        yield 2

    run = Pipeline([Stage(stubborn, workers=1)]).run(stubborn_input())
    consumer = threading.Thread(target=lambda: list(run), daemon=True)
    consumer.start()
    assert entered.wait(5)
    started = time.monotonic()
    assert run.close(timeout=0.2) is False
    assert time.monotonic() - started < 1.0
    release.set()
    assert run.close() is True, "a later close returns at once"


class _Watched:
    """A result whose ``collected`` Event is set once nothing refers to it any more."""

    def __init__(self, i: int) -> None:
        self.i = i
        self.collected = threading.Event()
        weakref.finalize(self, self.collected.set)


@pytest.mark.parametrize("ordered", [True, False])
def test_a_delivered_result_is_not_kept_by_the_run(ordered: bool) -> None:
    # As bpo-14406 for Executor.map: the caller drops each result while the run goes on.
    stages = [Stage(double, workers=2), Stage(_Watched, workers=2, ordered=ordered)]
    seen = []
    with Pipeline(stages).run(range(20)) as run:
        for result in run:
            seen.append(result.i)
            collected = result.collected
            del result
            gc.collect()
            assert collected.wait(5), f"result {seen[-1]} outlived its use"
    assert sorted(seen) == [2 * i for i in range(20)]
