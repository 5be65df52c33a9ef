"""Throttle (the adaptive-concurrency policy) and KeyThrottle (its per-key controller):
validation, each rule on its own, and convergence against a simulated server."""

from __future__ import annotations

import heapq
import re
import threading

import pytest

from threadloom.core._throttle import PLATEAU, KeyThrottle, Throttle, ThrottleDecision


class Overloaded(Exception):
    retry_after: float | None = None


class Busy(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__("busy")
        self.retry_after = retry_after


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target_latency": 0}, "target_latency must be > 0"),
        ({"target_latency": float("inf")}, "target_latency must be > 0"),
        ({"min_limit": 0}, "min_limit must be >= 1"),
        ({"min_limit": 4, "max_limit": 2}, "max_limit (2) must be >= min_limit (4)"),
        ({"start": 9, "max_limit": 8}, "start must be within [1, 8], got 9"),
        ({"increase": 0}, "increase must be > 0"),
        ({"backoff": 1.0}, "backoff must be within (0, 1)"),
        ({"max_interval": -1}, "max_interval must be >= 0"),
    ],
)
def test_invalid_policies_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Throttle(**{"target_latency": 0.1, **changes})  # type: ignore[arg-type]


def test_slow_start_adds_one_per_healthy_completion_up_to_the_ceiling() -> None:
    state = KeyThrottle(Throttle(target_latency=1.0, max_limit=3), "h")
    decisions = [state.observe(0.0, 0.1) for _ in range(4)]
    assert [d.limit if d else None for d in decisions] == [2, 3, None, None]
    assert decisions[0] == ThrottleDecision("h", 0.1, 2, 0.0, "slow start")


def test_a_slow_attempt_cuts_the_limit_once_per_round() -> None:
    state = KeyThrottle(Throttle(target_latency=1.0, start=8, max_limit=16), "h")
    cut = state.observe(started=10.0, finished=12.0)
    assert cut is not None
    assert (cut.limit, cut.reason) == (4, "slow")
    # Attempts that started before the cut belong to the round already cut.
    assert state.observe(started=11.0, finished=12.5) is None
    assert state.limit == 4
    # One that started after it counts again.
    again = state.observe(started=12.1, finished=13.5)
    assert again is not None
    assert again.limit == 2


def test_after_a_cut_growth_is_additive_about_one_per_round() -> None:
    state = KeyThrottle(Throttle(target_latency=1.0, start=8, max_limit=16), "h")
    state.observe(0.0, 2.0)  # cut to 4, slow start over
    grown = [state.observe(3.0, 3.1) for _ in range(5)]  # each adds 1/limit
    assert [d.limit if d else None for d in grown] == [None, None, None, None, 5]
    assert grown[-1] is not None
    assert grown[-1].reason == "healthy"


def test_growth_slows_near_the_limit_the_last_cut_started_from() -> None:
    state = KeyThrottle(Throttle(target_latency=1.0, start=8, max_limit=16), "h")
    state.observe(0.0, 2.0)  # cut from 8 to 4

    def completions_to_grow() -> int:
        before, count = state.limit, 0
        while state.limit == before:
            state.observe(3.0, 3.1)
            count += 1
        return count

    steps = [completions_to_grow() for _ in range(6)]  # 4->5 ... 9->10
    assert steps[0] <= 5  # about one round of 4
    # Within one of 8 (7->8 and 8->9), PLATEAU times slower.
    assert steps[3] >= (PLATEAU - 2) * 7
    assert steps[4] >= (PLATEAU - 2) * 8
    assert steps[5] <= 11  # past it, one round again: the key may have got faster


def test_failures_that_say_nothing_about_load_change_nothing() -> None:
    state = KeyThrottle(Throttle(target_latency=1.0, start=4, overload_on=(Overloaded,)), "h")
    assert state.observe(0.0, 5.0, ValueError("404")) is None
    assert state.limit == 4
    cut = state.observe(0.0, 0.1, Overloaded())
    assert cut is not None
    assert (cut.limit, cut.reason) == (2, "overload")


def test_a_predicate_decides_what_is_overload() -> None:
    policy = Throttle(target_latency=1.0, start=4, overload_on=lambda e: "503" in str(e))
    state = KeyThrottle(policy, "h")
    assert state.observe(0.0, 0.1, RuntimeError("HTTP 404")) is None
    assert state.observe(0.0, 0.1, RuntimeError("HTTP 503")) is not None


def test_retry_after_drops_to_the_floor_and_spaces_starts() -> None:
    state = KeyThrottle(Throttle(target_latency=1.0, start=8, max_interval=30), "h")
    decision = state.observe(0.0, 0.1, Busy(retry_after=2.0))
    assert decision == ThrottleDecision("h", 0.1, 1, 2.0, "retry-after")
    capped = KeyThrottle(Throttle(target_latency=1.0, max_interval=5), "h")
    result = capped.observe(0.0, 0.1, Busy(retry_after=3600))
    assert result is not None
    assert result.interval == 5


def test_at_the_floor_overload_spaces_starts_and_health_removes_the_spacing() -> None:
    state = KeyThrottle(Throttle(target_latency=0.5, max_interval=4), "h")
    intervals = []
    for round_ in range(5):
        decision = state.observe(started=10.0 * round_, finished=10.0 * round_ + 1)
        intervals.append(decision.interval if decision else None)
    assert intervals == [0.5, 1.0, 2.0, 4.0, None]  # capped at max_interval
    assert state.limit == 1
    healthy = [state.observe(100.0, 100.1) for _ in range(5)]
    assert [(d.limit, d.interval) if d else None for d in healthy] == [
        (1, 2.0),
        (1, 1.0),
        (1, 0.5),
        (1, 0.0),  # below the target latency: no spacing
        (2, 0.0),  # then the limit grows
    ]


def test_observations_from_many_threads_are_all_counted() -> None:
    state = KeyThrottle(Throttle(target_latency=1.0, max_limit=10_000), "h")
    barrier = threading.Barrier(4)

    def feed() -> None:
        barrier.wait()
        for _ in range(1000):
            state.observe(0.0, 0.1)

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert state.limit == 4001  # slow start: +1 for each of the 4,000 healthy completions


def simulate(capacity: int, policy: Throttle, requests: int) -> tuple[list[int], int]:
    """Run ``requests`` tasks against a simulated server of ``capacity`` with the throttle
    deciding how many run at once. The server answers in 0.1 s up to ``capacity`` in flight,
    slower above it (0.1 s more per request over), and 503 above twice the capacity.

    Returns the in-flight count at each start and how many answers were 503s."""
    state = KeyThrottle(policy, "host")
    now, in_flight, started, rejected = 0.0, 0, 0, 0
    finishing: list[tuple[float, float, bool]] = []  # (finish time, start time, rejected)
    concurrency: list[int] = []
    while started < requests or finishing:
        while started < requests and in_flight < state.limit:
            in_flight += 1
            started += 1
            concurrency.append(in_flight)
            over = in_flight > 2 * capacity
            latency = 0.1 + 0.1 * max(0, in_flight - capacity)
            heapq.heappush(finishing, (now + (0.01 if over else latency), now, over))
        now, began, was_rejected = heapq.heappop(finishing)
        in_flight -= 1
        rejected += was_rejected
        state.observe(began, now, Overloaded("503") if was_rejected else None)
    return concurrency, rejected


def test_converges_to_the_capacity_of_a_simulated_server() -> None:
    policy = Throttle(target_latency=0.25, max_limit=16, overload_on=(Overloaded,))
    concurrency, rejected = simulate(capacity=4, policy=policy, requests=3000)
    settled = concurrency[500:]
    mean = sum(settled) / len(settled)
    assert 3 <= mean <= 6, mean  # around C = 4, never stuck at the ceiling of 16
    assert max(settled) <= 8  # never in 503 territory once settled
    assert rejected <= 3  # only while slow start overshoots, before the first cut
