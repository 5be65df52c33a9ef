"""One real Dask LocalCluster of two worker processes for the module (each start-up
costs seconds), and helpers shared by the scaled-out fetch tests."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import distributed
import pytest

from threadloom.store import open_store


@pytest.fixture(scope="module")
def cluster_address() -> Iterator[str]:
    """The scheduler address of a LocalCluster: 2 worker processes, 1 thread each."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
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
