"""Seed 003 (Threading Module, "Deadlocks"): "When two trains approach each other at a
crossing, both shall come to a full stop and neither shall start up again until the
other has gone."

Two threads take the same two locks in opposite orders; once each holds its first lock,
both wait forever and the program hangs with no message. With threadloom's drop-in locks
the thread about to block forever gets a :class:`~threadloom.sync.DeadlockError` naming
both threads and locks, so the program ends. The tracks are RLocks, which only their
owner may release, so the cycle is certain the moment it closes, while the main thread
still waits (with a timeout) for the trains. A plain ``Lock`` may be released by any
thread, so a cycle through Locks becomes a verdict only once every other thread is
blocked too (docs/guide.md, "Deadlocks"); ``threadloom check deadlock.py`` reports it
and exits with status 4 (and catches the same program written with plain ``threading``).
The fix is in ``deadlock_fixed.py``.
"""

from __future__ import annotations

from threadloom.core import Pool
from threadloom.sync import Barrier, DeadlockError, RLock

north_track, south_track = RLock(), RLock()
both_at_crossing = Barrier(2, timeout=5)


def train(first: RLock, second: RLock) -> str:
    with first:
        both_at_crossing.wait()  # each train holds its own track: the bad moment
        with second:
            return "crossed"


def main() -> list[str]:
    with Pool(2, thread_name_prefix="train") as pool:
        futures = [
            pool.submit(train, north_track, south_track),
            pool.submit(train, south_track, north_track),
        ]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=10))
            except DeadlockError as exc:
                outcomes.append(f"DeadlockError: {str(exc).splitlines()[0]}")
    print("\n".join(sorted(outcomes)))
    return sorted(outcomes)


if __name__ == "__main__":
    main()
