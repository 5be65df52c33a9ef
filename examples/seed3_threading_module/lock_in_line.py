"""Seed 003 (Threading Module, "Locks"): three threads run ``f()``, which takes a lock,
prints ``<name> got lock``, sleeps a second and releases it: "These threads will wait in
line politely".

``acquire()`` / ``release()`` by hand leak the lock if the body raises, and when a
program stalls nobody can tell who holds the lock and who waits. Here ``with`` releases
it on every path, a :func:`~threadloom.sync.watch` dog reports each thread that waits
too long (naming the holder), and ``statistics()`` counts the contended acquisitions.
"""

from __future__ import annotations

import threading
import time

from threadloom.core import Pool
from threadloom.sync import Barrier, BlockedThread, Lock, watch


def main(hold: float = 0.1) -> dict[str, object]:
    lock = Lock()
    start_together = Barrier(3, timeout=5)
    reports: list[BlockedThread] = []

    def f() -> str:
        start_together.wait()
        with lock:
            name = threading.current_thread().name
            time.sleep(hold)  # stands for work done under the lock
            return f"{name} got lock"

    with (
        watch(threshold=hold / 2, callback=reports.append),
        Pool(3, thread_name_prefix="line") as pool,
    ):
        lines = [future.result() for future in [pool.submit(f) for _ in range(3)]]
    contended = lock.statistics().contended
    print("\n".join(lines))
    for report in reports:
        print(f"watchdog: {report.thread} waited for the lock, {report.holder}")
    print(f"{contended} of 3 acquisitions had to wait")
    return {"lines": lines, "contended": contended, "reports": reports}


if __name__ == "__main__":
    main()
