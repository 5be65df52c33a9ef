"""Every test of the sync layer starts from the default detector settings and no findings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import threadloom.sync as tsync


@pytest.fixture(autouse=True)
def _fresh_detectors() -> Iterator[None]:
    tsync.configure(mode="warn", key="instance", deadlocks=True, sites=False)
    tsync.clear_findings()
    yield
    tsync.configure(mode="warn", key="instance", deadlocks=True, sites=False)
    tsync.clear_findings()
