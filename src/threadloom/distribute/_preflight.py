"""What the workers of a cluster threadloom did not start (``--cluster``) must have
before a run takes any input: this threadloom, and the store's file system.

A worker without threadloom, or with another version, would fail every shard (its
task cannot be unpickled, or finds other fields), each failure retried by Dask, and
the run would end with every shard reported failed; a worker on a machine that does
not share the store's directory would write shard stores the client never sees. Both
are found with one call to every worker and refused with one line (`ClusterUnavailable`,
the CLI's exit 2), before any URL is taken.
"""

from __future__ import annotations

import importlib.metadata
import secrets
from pathlib import Path

from threadloom.distribute._cluster import Cluster, ClusterUnavailable
from threadloom.distribute._shard import probe_directory

DISTRIBUTION = "threadloom"
"""The name threadloom is installed under (what a worker's environment must hold)."""


def check_workers(cluster: Cluster, root: Path, store: str) -> None:
    """Raise `ClusterUnavailable` unless every worker of ``cluster`` runs the version of
    threadloom this process runs and sees ``root`` (the store's shard directory) as this
    process does (a token written here is read back by each worker)."""
    _check_versions(cluster)
    _check_shared(cluster, root, store)


def _check_versions(cluster: Cluster) -> None:
    try:
        mine = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return  # run from a source tree: the probe below still finds a worker without it
    # A standard-library function: any worker can run it, threadloom or not.
    found = cluster.client.run(importlib.metadata.version, DISTRIBUTION, on_error="return")
    missing = sorted(worker for worker, version in found.items() if not isinstance(version, str))
    other = sorted(
        f"{worker} ({version})"
        for worker, version in found.items()
        if isinstance(version, str) and version != mine
    )
    if missing or other:
        problem = (
            f"the Dask worker(s) {', '.join(missing)} have no threadloom"
            if missing
            else f"the Dask worker(s) {', '.join(other)} run another threadloom version"
        )
        raise ClusterUnavailable(
            f"{problem}; install threadloom {mine} with its dask extra in every worker's"
            f" environment (pip install 'threadloom[dask]=={mine}')"
        )


def _check_shared(cluster: Cluster, root: Path, store: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    probe = root / ".probe"
    probe.write_text(token, encoding="utf-8")
    try:
        seen = cluster.client.run(probe_directory, str(root), token, on_error="return")
    finally:
        probe.unlink(missing_ok=True)
    failed = {worker: ok for worker, ok in seen.items() if isinstance(ok, BaseException)}
    if failed:
        worker, error = sorted(failed.items())[0]
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ClusterUnavailable(
            f"the Dask worker(s) {', '.join(sorted(failed))} cannot run threadloom's code"
            f" ({worker}: {reason}); install threadloom with its dask extra in every"
            " worker's environment"
        )
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise ClusterUnavailable(
            f"-o {store}: the Dask worker(s) {', '.join(blind)} cannot reach {root};"
            " with --cluster the store must be on a file system every worker shares"
            " (the same path on every machine)"
        )
