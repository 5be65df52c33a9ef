"""Seed 003 (Threading Module, "Livelock"): "Two people meet in a narrow corridor, and
each tries to be polite by moving aside to let the other pass, but they end up swaying
from side to side without making any progress".

Two threads each hold one lock, try the other without blocking, politely give theirs up
and try again; in lock-step they retry forever, busy and getting nowhere. The fix is to
back off for a random (jittered), growing time and to bound the tries: a task that
cannot pass raises, and the Pool's :class:`~threadloom.core.Retry` policy re-schedules it
after a jittered back-off (no worker sleeps). Both then pass within a few attempts.
"""

from __future__ import annotations

from threadloom.core import Pool, Retry
from threadloom.sync import Barrier, Lock


class Blocked(Exception):
    """The other side of the corridor is taken."""


def polite(mine: Lock, other: Lock, lockstep: Barrier, rounds: int) -> str:
    """The seed's behaviour, in the worst-case lock-step: step aside and retry at once."""
    for _ in range(rounds):
        with mine:
            lockstep.wait()  # both stepped to the same side at the same moment
            passed = other.acquire(blocking=False)
            lockstep.wait()  # both looked before either steps back
        if passed:
            other.release()
            return "passed"
    return f"no progress after {rounds} rounds"


class Walker:
    """One person: collides in lock-step once, then relies on the pool's back-off."""

    def __init__(self, mine: Lock, other: Lock, lockstep: Barrier) -> None:
        self.mine, self.other, self.lockstep = mine, other, lockstep
        self.attempts = 0

    def __call__(self) -> str:
        self.attempts += 1  # attempts of one task never overlap
        first = self.attempts == 1
        with self.mine:
            if first:
                self.lockstep.wait()
            passed = self.other.acquire(blocking=False)
            if first:
                self.lockstep.wait()
            if not passed:
                raise Blocked("the other side is taken")
            self.other.release()
        return f"passed on attempt {self.attempts}"


BACKOFF = Retry(attempts=20, backoff=0.002, multiplier=1.5, jitter=1.0, retry_on=(Blocked,))


def main(rounds: int = 50) -> dict[str, list[str]]:
    left, right = Lock(), Lock()
    with Pool(2, thread_name_prefix="corridor") as pool:
        lockstep = Barrier(2, timeout=5)
        swaying = [
            pool.submit(polite, left, right, lockstep, rounds),
            pool.submit(polite, right, left, lockstep, rounds),
        ]
        polite_outcome = [f.result() for f in swaying]

        lockstep = Barrier(2, timeout=5)
        walkers = [Walker(left, right, lockstep), Walker(right, left, lockstep)]
        futures = [pool.submit_task(w, retry=BACKOFF) for w in walkers]
        backoff_outcome = [f.result(timeout=10) for f in futures]
    print(f"polite, in lock-step: {polite_outcome}")
    print(f"with jittered back-off: {backoff_outcome}")
    return {"polite": polite_outcome, "backoff": backoff_outcome}


if __name__ == "__main__":
    main()
