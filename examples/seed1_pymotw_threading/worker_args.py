"""Seed 001 (PyMOTW ``threading_simple.py`` and ``threading_subclass.py``): five threads
each run ``worker(num)``, or a ``MyThread`` subclass whose ``run()`` logs ``running``.

The originals start one thread per call and never join or collect anything; the
subclass exists only to put code in ``run()``. Here ``Pool.map`` runs the calls on
reused, named workers and yields their return values in input order, so the output is
deterministic and any exception surfaces in the caller.
"""

from __future__ import annotations

import logging

from threadloom.core import Pool

log = logging.getLogger(__name__)


def worker(num: int) -> str:
    """The thread worker function: log that it runs, return its line."""
    log.debug("running")
    return f"Worker: {num}"


def main() -> list[str]:
    with Pool(5, thread_name_prefix="worker") as pool:
        lines = list(pool.map(worker, range(5)))
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format="(%(threadName)-10s) %(message)s")
    main()
