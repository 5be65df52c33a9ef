"""Seed 002 (Python Multithreading, "Joining the threads"): a thread per ad hoc task is
"cumbersome when you have many tasks", and each thread costs a stack and a start-up.

The seed stops at "we would prefer to keep worker threads around for reuse". That is a
Pool: here 200 ad hoc tasks run on at most four threads, started on demand and reused,
and ``statistics()`` shows how many threads there were and what each task did.
"""

from __future__ import annotations

import threading

from threadloom.core import Pool


def task(n: int) -> str:
    return threading.current_thread().name


def main(tasks: int = 200, workers: int = 4) -> dict[str, int]:
    with Pool(workers, thread_name_prefix="reused") as pool:
        names = [pool.submit(task, n).result() for n in range(tasks // 2)]
        names += list(pool.map(task, range(tasks - tasks // 2)))
    stats = pool.statistics()
    print(f"{len(names)} tasks on {len(set(names))} thread(s); {stats.succeeded} succeeded")
    return {"tasks": len(names), "threads": len(set(names)), "succeeded": stats.succeeded}


if __name__ == "__main__":
    main()
