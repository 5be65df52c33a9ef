"""Seed 003 (Threading Module, "Deadlocks"), fixed: the two trains of ``deadlock.py``.

The deadlock needs two threads taking two locks in opposite orders. Fixed: every thread
takes the locks in one global order (here: by rank), whatever its direction, so one
train waits for the other to clear the crossing. ``threadloom check deadlock_fixed.py``
finds neither a deadlock nor a lock-order inversion and exits 0.
"""

from __future__ import annotations

from threadloom.core import Pool
from threadloom.sync import Barrier, Lock

north_track, south_track = Lock(), Lock()
RANK = {id(north_track): 0, id(south_track): 1}
both_at_crossing = Barrier(2, timeout=5)


def train(wanted: tuple[Lock, Lock]) -> str:
    both_at_crossing.wait()  # both arrive together, as in deadlock.py
    first, second = sorted(wanted, key=lambda lock: RANK[id(lock)])
    with first, second:
        return "crossed"


def main() -> list[str]:
    with Pool(2, thread_name_prefix="train") as pool:
        futures = [
            pool.submit(train, (north_track, south_track)),
            pool.submit(train, (south_track, north_track)),
        ]
        outcomes = [future.result(timeout=10) for future in futures]
    print("\n".join(outcomes))
    return outcomes


if __name__ == "__main__":
    main()
