"""Getting a Dask client for a scaled-out fetch, and letting it go quickly.

``--processes N`` starts a ``LocalCluster`` of N worker processes with one thread each
(each runs one shard at a time, the shard its own thread pool), without a dashboard;
its worker processes exit when this process dies (Dask watches the parent), so a
killed client leaves none behind. ``--cluster ADDRESS`` connects to a running
scheduler, whose workers ``_preflight.py`` checks.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import signal
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Final

import dask.config
from distributed import Client, LocalCluster, WorkerPlugin

CONNECT_TIMEOUT: Final = 10.0
"""Seconds to reach a scheduler (``--cluster``) or to start a LocalCluster's workers."""

QUIET_DASK: Final = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "10s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.worker.profile.enabled": False,
}
"""Dask settings for the LocalCluster of ``--processes``: its periodic callbacks less
often, and no profiler. Defaults: an event-loop tick every 20 ms (it only detects a
blocked loop), system statistics every 0.5 s (for a dashboard there is none of) and
each worker's memory every 0.1 s (a runaway worker is still stopped within a second).
Measured, a cluster of 2 idle workers: the client's process 27 -> 5 ms of CPU a second,
each worker 17 -> 12; CPU the workers' fetching can use instead on a machine with few
cores. The profiler (the stack of every thread of a worker sampled every 10 ms, for a
dashboard there is none of) can also deadlock a worker: see ``_profiler.py``."""

CLOSE_TIMEOUT: Final = 2.0
"""Seconds the cluster gets to stop on Ctrl-C: within the 5 s a user waits at most."""


class ClusterUnavailable(Exception):
    """The Dask cluster could not be started or reached, or cannot serve this store; one
    line saying why and what to do."""


@dataclass(slots=True)
class Cluster:
    """A Dask client, and the LocalCluster behind it when this process started one."""

    client: Client
    local: LocalCluster | None = None

    @property
    def slots(self) -> int:
        """Task slots: the worker threads of the cluster now."""
        return sum(self.client.nthreads().values())

    def close(self, timeout: float = CLOSE_TIMEOUT, *, kill: bool = False) -> None:
        """Close the client and stop the LocalCluster (if any), each within ``timeout``.

        ``kill`` (Ctrl-C): the LocalCluster's worker processes are sent SIGKILL first. A
        worker asked to close waits for the shard it is running, which does not stop on
        request (measured: 12 s for a shard of slow documents); what a killed worker's
        shard store committed is kept, and merged by the next run.
        """
        if kill and self.local is not None:
            for pid in self._worker_pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.client.close(timeout=timeout)
        if self.local is not None:
            with contextlib.suppress(Exception):
                self.local.close(timeout=timeout)

    def _worker_pids(self) -> list[int]:
        """The process ids of the LocalCluster's worker processes (children of this one),
        their nannies told not to restart them."""
        assert self.local is not None
        pids = []
        for nanny in list(self.local.workers.values()):
            # A nanny restarts a worker that died: a new process that would then be
            # cancelled half-started, and joined at exit for 10 s.
            nanny.auto_restart = False
            process = getattr(getattr(nanny, "process", None), "process", None)
            pid = getattr(process, "pid", None)
            if isinstance(pid, int):
                pids.append(pid)
        return pids


def start(processes: int | None, address: str | None) -> Cluster:
    """Start a LocalCluster of ``processes`` workers, or connect to ``address``."""
    # Dask's own INFO lines (worker started, ...) would bury the progress display.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if address is not None:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailable(
                f"cannot reach the Dask scheduler at {address}: {exc}"
            ) from exc
        if not client.nthreads():
            client.close()
            raise ClusterUnavailable(f"the Dask cluster at {address} has no workers")
        return Cluster(client)
    assert processes is not None
    try:
        with dask.config.set(QUIET_DASK):
            local = LocalCluster(
                n_workers=processes,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # Not even ERROR: a worker whose heartbeat meets the scheduler closing
                # at the end of a run logs a traceback (seen once in 9 runs); a shard
                # that fails reaches the client as its task's exception, reported there.
                silence_logs=logging.CRITICAL,
                name=f"threadloom-{uuid.uuid4().hex[:8]}",
                config=quiet_worker_config(),
            )
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ClusterUnavailable(f"cannot start {processes} Dask worker processes: {exc}") from exc
    try:
        with dask.config.set(QUIET_DASK):
            client = Client(local, set_as_default=False)
        # Ctrl-C in a terminal reaches the whole process group. The workers ignore it
        # (restarted ones too: a plugin is set up in every worker that joins) and leave
        # stopping to this process, which closes the cluster: no traceback from every
        # worker, no worker dying while the cluster closes. Not set by exec-inherited
        # SIG_IGN: this process would then miss a Ctrl-C during the start-up.
        client.register_plugin(IgnoreInterrupts())
    except BaseException:
        local.close(timeout=CLOSE_TIMEOUT)
        raise
    return Cluster(client, local)


def quiet_worker_config() -> dict[str, Any]:
    """The Dask configuration for the worker processes of a LocalCluster (its ``config``
    argument, handed to each nanny): ``distributed`` with `QUIET_DASK` applied, a copy of
    its own.

    Not only ``dask.config.set(QUIET_DASK)`` around the LocalCluster: a nanny keeps the
    global configuration's nested dicts, which the end of that ``with`` block puts back
    as they were, so a worker the nanny restarts (after one died) would start with Dask's
    defaults, its profiler included (measured: the restarted worker had it)."""
    with dask.config.set(QUIET_DASK):
        return {"distributed": copy.deepcopy(dask.config.get("distributed"))}


class IgnoreInterrupts(WorkerPlugin):
    """A worker plugin: the worker process ignores SIGINT from its set-up on."""

    name = "threadloom-ignore-sigint"

    def setup(self, worker: Any) -> None:
        # The worker's event loop, and so this call, runs on its main thread.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
