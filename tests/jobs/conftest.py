"""Fixtures for the fetch job: the project's own fault-injecting server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from threadloom.server import FaultServer


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    """A FaultServer with 200 documents and no added latency."""
    with FaultServer(documents=200) as running:
        yield running
