"""Seed 001 (PyMOTW ``threading_names.py`` and ``threading_names_log.py``): threads named
``worker`` and ``my_service`` log ``Starting`` and ``Exiting``; one keeps a default name.

Unnamed threads show up as ``Thread-17`` in logs, which says nothing about what they do.
A Pool names every worker ``{thread_name_prefix}_{n}``, so a pool per service gives
every log line a meaningful ``%(threadName)s``, and waiting on the futures replaces the
missing joins.
"""

from __future__ import annotations

import logging
import time

from threadloom.core import Pool

log = logging.getLogger(__name__)
FORMAT = "[%(levelname)s] (%(threadName)-12s) %(message)s"


def job(pause: float) -> None:
    log.debug("Starting")
    time.sleep(pause)  # stands for the service's work
    log.debug("Exiting")


def main() -> None:
    with (
        Pool(1, thread_name_prefix="my_service") as service,
        Pool(2, thread_name_prefix="worker") as workers,
    ):
        futures = [workers.submit(job, 0.02), workers.submit(job, 0.02), service.submit(job, 0.03)]
        for future in futures:
            future.result()


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, format=FORMAT)
    main()
