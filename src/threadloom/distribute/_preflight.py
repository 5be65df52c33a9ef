"""What the workers of a cluster threadloom did not start (``--cluster``) must have
before a run takes any input: this threadloom, and the store's file system.

A worker without threadloom, or with another version, would fail every shard (its
task cannot be unpickled, or finds other fields), each failure retried by Dask, and
the run would end with every shard reported failed; a worker on a machine that does
not share the store's directory would write shard stores the client never sees. Both
are found with two calls to every worker (the installed version, then a probe of the
store's directory that runs threadloom's own code) and refused with one line
(`ClusterUnavailable`, the CLI's exit 2), before any URL is taken.
"""

from __future__ import annotations

import importlib.metadata
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import threadloom
from threadloom.distribute._cluster import Cluster, ClusterUnavailable
from threadloom.distribute._shard import probe_directory

DISTRIBUTION = "threadloom"
"""The name threadloom is installed under (what a worker's environment must hold)."""


def check_workers(cluster: Cluster, root: Path, store: str) -> None:
    """Raise `ClusterUnavailable` unless every worker of ``cluster`` has threadloom
    installed at this process's version (`threadloom.__version__`), can run its code,
    and sees ``root`` (the store's shard directory) as this process does (a token
    written here is read back by each worker); also if the cluster stops answering."""
    try:
        _check_versions(cluster)
        _check_shared(cluster, root, store)
    except (OSError, TimeoutError) as exc:  # the scheduler lost, a directory unwritable
        raise ClusterUnavailable(f"checking the Dask workers failed: {exc}") from exc


def _check_versions(cluster: Cluster) -> None:
    mine = threadloom.__version__
    # A standard-library function: any worker can run it, threadloom or not.
    found = cluster.client.run(importlib.metadata.version, DISTRIBUTION, on_error="return")
    absent = importlib.metadata.PackageNotFoundError
    missing = _workers(found, lambda answer: isinstance(answer, absent))
    # Any other error: the worker died or could not be reached during the call.
    silent = _workers(
        found, lambda answer: isinstance(answer, BaseException) and not isinstance(answer, absent)
    )
    other = sorted(
        f"{worker} ({version})"
        for worker, version in found.items()
        if isinstance(version, str) and version != mine
    )
    problems = []
    if missing:
        problems.append(f"the Dask worker(s) {', '.join(missing)} have no threadloom")
    if other:
        problems.append(f"the Dask worker(s) {', '.join(other)} run another threadloom version")
    if problems:
        raise ClusterUnavailable(
            f"{'; '.join(problems)}: install threadloom {mine} with its dask extra in every"
            f" worker's environment (pip install 'threadloom[dask]=={mine}')"
        )
    if silent:
        raise ClusterUnavailable(
            f"the Dask worker(s) {', '.join(silent)} did not answer"
            f" ({_first_line(found[silent[0]])}); check or restart them"
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
    failed = _workers(seen, lambda answer: isinstance(answer, BaseException))
    if failed:
        # Dask hands back the worker's error as text (an Exception naming it): a
        # ModuleNotFoundError there is an environment without threadloom's code.
        raise ClusterUnavailable(
            f"the Dask worker(s) {', '.join(failed)} cannot run threadloom's code"
            f" ({failed[0]}: {_first_line(seen[failed[0]])}); install threadloom with its"
            " dask extra in every worker's environment"
        )
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise ClusterUnavailable(
            f"-o {store}: the Dask worker(s) {', '.join(blind)} cannot reach {root};"
            " with --cluster the store must be on a file system every worker shares"
            " (the same path on every machine)"
        )


def _workers(answers: dict[str, Any], wanted: Callable[[object], bool]) -> list[str]:
    """The workers whose answer ``wanted`` accepts, sorted."""
    return sorted(worker for worker, answer in answers.items() if wanted(answer))


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__
