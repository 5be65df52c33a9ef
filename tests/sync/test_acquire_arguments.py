"""Lock/RLock.acquire and Condition.notify accept and reject exactly what threading's do.

The references are the running interpreter's own primitives, whose parsing changed
between versions (3.11 reads ``blocking`` as a C int, 3.12 on as a truth value; 3.13
reworded some messages), so the same test checks each version against itself.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import threadloom.sync as tsync

NAN = float("nan")
ARGUMENTS: list[tuple[tuple[object, ...], dict[str, object]]] = [
    ((), {}),
    ((), {"timeout": NAN}),
    ((), {"blocking": None}),
    ((0.5,), {}),
    ((None,), {}),
    (("x",), {}),
    ((2**31,), {}),
    ((-(2**31) - 1,), {}),
    ((2**63,), {}),
    ((2, 0.01), {}),
    ((False,), {}),
    ((0,), {}),
    ((False, -1), {}),
    ((False, -1.0), {}),
    ((False, 0), {}),
    ((False, NAN), {}),
    ((), {"timeout": None}),
    ((), {"timeout": "1"}),
    ((), {"timeout": True}),
    ((), {"timeout": 0}),
    ((), {"timeout": 0.0}),
    ((), {"timeout": -1.0}),
    ((), {"timeout": -0.99999999999}),  # -1 s once rounded to nanoseconds: no timeout
    ((), {"timeout": -0.999999999}),
    ((), {"timeout": -1.0000000001}),
    ((), {"timeout": -2}),
    ((), {"timeout": float("inf")}),
    ((), {"timeout": 1e300}),
    ((), {"timeout": 10**10}),
    ((), {"timeout": 2**63}),
    ((), {"timeout": 9223372036.5}),
    ((), {"blocking": [], "timeout": -1}),
]


def outcome(lock: object, args: tuple[object, ...], kwargs: dict[str, object]) -> object:
    """What acquire returns, or the exception's type and message; released again."""
    try:
        got = lock.acquire(*args, **kwargs)  # type: ignore[attr-defined]
    except Exception as exc:  # the outcome under comparison
        return (type(exc), str(exc))
    if got:
        lock.release()  # type: ignore[attr-defined]
    return got


@pytest.mark.parametrize(("args", "kwargs"), ARGUMENTS, ids=repr)
@pytest.mark.parametrize(
    ("ours", "theirs"), [(tsync.Lock, threading.Lock), (tsync.RLock, threading.RLock)]
)
def test_acquire_reads_its_arguments_as_threading_does(
    ours: type, theirs: type, args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    assert outcome(ours(), args, kwargs) == outcome(theirs(), args, kwargs)


@pytest.mark.parametrize("timeout", ["-1.0", "-0.99999999999"])
def test_a_timeout_of_minus_one_second_waits_without_timeout(timeout: str) -> None:
    # Contended, so the value reaches the waiting path: it must be an untimed wait,
    # which the deadlock detector sees (a lone thread's self-deadlock).  In a child
    # process: pytest-timeout's SIGALRM handler would make it a wait a handler can end.
    source = f"""if True:
        from threadloom.sync import DeadlockError, Lock
        lock = Lock()
        with lock:
            try:
                lock.acquire(True, {timeout})
            except DeadlockError:
                print("DeadlockError")
    """
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout) == (0, "DeadlockError\n"), result.stderr


@pytest.mark.parametrize("n", ["2", None, 2.5, -1, 0, 10**30, NAN])
def test_notify_without_waiters_accepts_any_n_as_threading_does(n: object) -> None:
    for condition in (tsync.Condition(), threading.Condition()):
        with condition:
            condition.notify(n)  # type: ignore[arg-type]


@pytest.mark.parametrize("condition_type", [tsync.Condition, threading.Condition])
def test_notify_with_a_waiter_compares_n(condition_type: type) -> None:
    condition = condition_type()
    waiting = threading.Event()
    woken: list[bool] = []

    def wait() -> None:
        with condition:
            waiting.set()
            woken.append(condition.wait(10))

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait()
    with condition:  # the waiter is inside wait() once it has released the lock
        with pytest.raises(TypeError):
            condition.notify("2")
        condition.notify(2.5)  # a number is only compared with 0
    thread.join()
    assert woken == [True]
