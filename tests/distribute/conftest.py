"""One real Dask LocalCluster of two worker processes for the module (each start-up
costs seconds), and helpers shared by the scaled-out fetch tests."""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask.config
import distributed
import pytest

from threadloom.distribute._cluster import QUIET_DASK, quiet_worker_config
from threadloom.store import open_store


@pytest.fixture(scope="module")
def cluster_address() -> Iterator[str]:
    """The scheduler address of a LocalCluster: 2 worker processes, 1 thread each, set
    up as ``--processes`` sets its own up (`QUIET_DASK`, `quiet_worker_config`: without
    the profiler, which deadlocked a worker now and then on CPython 3.11.7, restarted
    workers included; see threadloom/distribute/_profiler.py)."""
    with dask.config.set(QUIET_DASK):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            config=quiet_worker_config(),
        )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close(timeout=10)


@pytest.fixture
def store_view() -> Callable[[Path], dict[str, tuple[str, str | None]]]:
    """`view_of`, for the tests of this folder."""
    return view_of


def view_of(path: Path) -> dict[str, tuple[str, str | None]]:
    """{URL path (after host:port): (state, sha256)} of every URL in the store, and a
    check that no URL is there twice."""
    view: dict[str, tuple[str, str | None]] = {}
    with open_store(path) as store:
        for row in store.export():
            url = str(row["url"])
            key = url.split("/", 3)[3] if url.startswith("http") else url
            assert key not in view, f"{url} stored twice"
            view[key] = (str(row["state"]), row["sha256"])  # type: ignore[assignment]
            if row["state"] == "done":
                body = store.read_body(url)
                assert body is not None
                assert hashlib.sha256(body).hexdigest() == row["sha256"]
    return view


@pytest.fixture(scope="module", autouse=True)
def _no_idle_dask_threads() -> Iterator[None]:
    """Stop the two process-wide thread pools Dask leaves behind in the test process
    (futures' done callbacks, comms' offloading), each with an idle thread. An idle
    thread blocked outside threadloom.sync counts as one that may still release a lock,
    so later tests of the deadlock detector ("every thread is blocked") would hang. Dask
    makes both again when next needed (a fresh offload pool starts no thread until used).
    """
    yield
    callbacks = distributed.Future._cb_executor
    if callbacks is not None:
        callbacks.shutdown(wait=True)
        distributed.Future._cb_executor = None
    utils = importlib.import_module("distributed.utils")
    utils._offload_executor.shutdown(wait=True)
    utils._offload_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="Dask-Offload")
