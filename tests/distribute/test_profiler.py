"""Dask's profiler and threadloom's workers: on CPython 3.11.8 and older it can deadlock
a worker (CPython gh-106883), so ``--processes`` runs without it and ``--cluster`` stops
it on such workers for the run, then starts it again."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

import distributed
import pytest

from threadloom.distribute._cluster import (
    QUIET_DASK,
    profiler_may_deadlock,
    start,
)

pytestmark = pytest.mark.timeout(60)


# Lambdas: pickled by value, so that worker processes need not import this module.
_profiling: Callable[..., bool] = lambda dask_worker: bool(  # noqa: E731
    # Whether the worker's profiler callback is in place and running.
    (callback := dask_worker.periodic_callbacks.get("profile")) is not None
    and callback.is_running()
)
_python: Callable[[], tuple[int, ...]] = lambda: tuple(__import__("sys").version_info[:3])  # noqa: E731


def test_the_affected_versions() -> None:
    assert profiler_may_deadlock((3, 11, 7))
    assert profiler_may_deadlock((3, 11, 8))
    assert not profiler_may_deadlock((3, 11, 9))
    assert not profiler_may_deadlock((3, 12, 0))
    assert not profiler_may_deadlock((3, 13, 0))


def test_processes_run_without_the_profiler() -> None:
    assert QUIET_DASK["distributed.worker.profile.enabled"] is False
    cluster = start(1, None)
    try:
        client = cluster.client
        assert list(client.run(_profiling).values()) == [False]
        # A worker its nanny starts again (after one died) too.
        ((address, pid),) = client.run(os.getpid).items()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while set(client.scheduler_info()["workers"]) in (set(), {address}):
            assert time.monotonic() < deadline, "the worker was not restarted"
            time.sleep(0.1)
        assert list(client.run(_profiling).values()) == [False]
    finally:
        cluster.close()


def test_a_cluster_gets_its_profiler_back() -> None:
    # A cluster threadloom did not start, with Dask's defaults (the profiler on).
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:
        address = str(local.scheduler_address)
        with distributed.Client(address, set_as_default=False) as watcher:
            assert list(watcher.run(_profiling).values()) == [True]
            version = next(iter(watcher.run(_python).values()))
            cluster = start(None, address)
            try:
                during = next(iter(watcher.run(_profiling).values()))
                assert during is not profiler_may_deadlock(version)
            finally:
                cluster.close()
            assert list(watcher.run(_profiling).values()) == [True]
