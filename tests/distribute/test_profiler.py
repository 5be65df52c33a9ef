"""Dask's profiler and threadloom's workers: on CPython 3.11 it can deadlock a worker
(CPython gh-106883), so ``--processes`` runs without it, restarted workers included,
and a shard stops it on the worker running it (``--cluster``) where it can deadlock."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import distributed
import pytest

from threadloom.distribute import ShardTask, run_shard
from threadloom.distribute._cluster import QUIET_DASK, start
from threadloom.distribute._profiler import profiler_may_deadlock
from threadloom.jobs import FetchOptions
from threadloom.server import FaultServer

pytestmark = pytest.mark.timeout(90)


# Lambdas: pickled by value, so that worker processes need not import this module.
_profiling: Callable[..., bool] = lambda dask_worker: bool(  # noqa: E731
    # Whether the worker's profiler callback is in place and running.
    (callback := dask_worker.periodic_callbacks.get("profile")) is not None
    and callback.is_running()
)
_python: Callable[[], tuple[int, ...]] = lambda: tuple(__import__("sys").version_info[:3])  # noqa: E731


def test_the_affected_versions() -> None:
    assert profiler_may_deadlock((3, 10, 14))
    assert profiler_may_deadlock((3, 11, 7))
    assert profiler_may_deadlock((3, 11, 11))
    assert not profiler_may_deadlock((3, 12, 0))
    assert not profiler_may_deadlock((3, 13, 0))


def _new_worker(client: distributed.Client, gone: str) -> None:
    """Wait (at most 30 s) until the cluster has a worker again and ``gone`` is not it."""
    deadline = time.monotonic() + 30
    pause = threading.Event()
    while set(client.scheduler_info()["workers"]) in (set(), {gone}):
        assert time.monotonic() < deadline, "the worker was not restarted"
        pause.wait(0.1)  # the scheduler has no event for "a worker joined" to wait on


def test_processes_run_without_the_profiler() -> None:
    assert QUIET_DASK["distributed.worker.profile.enabled"] is False
    cluster = start(1, None)
    try:
        client = cluster.client
        assert list(client.run(_profiling).values()) == [False]
        # A worker its nanny starts again (after one died) too.
        ((address, pid),) = client.run(os.getpid).items()
        os.kill(pid, signal.SIGKILL)
        _new_worker(client, address)
        assert list(client.run(_profiling).values()) == [False]
    finally:
        cluster.close(timeout=10)


def test_a_shard_stops_the_profiler_that_can_deadlock(tmp_path: Path) -> None:
    # A cluster threadloom did not start, with Dask's defaults (the profiler on).
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as local,
        distributed.Client(local, set_as_default=False) as client,
        FaultServer(documents=3) as server,
    ):
        assert list(client.run(_profiling).values()) == [True]
        (version,) = client.run(_python).values()
        task = ShardTask(
            number=1,
            directory=str(tmp_path / "shard"),
            urls=tuple(server.url(f"/docs/{n}.xml") for n in range(3)),
            options=FetchOptions(jobs=2, per_host=2, retries=0),
        )
        result = client.submit(run_shard, task, pure=False).result(timeout=60)
        assert result.finished == 3
        (profiling,) = client.run(_profiling).values()
        assert profiling is not profiler_may_deadlock(version)
