"""Fixtures for the transport tests: a fault server and a client with short limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from threadloom.server import FaultServer
from threadloom.transport import HttpClient, TransportOptions

#: Short limits so every failure mode shows within about a second.
FAST = TransportOptions(connect_timeout=2, low_speed_time=1, max_redirects=10)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(documents=100, seed=11) as srv:
        yield srv


@pytest.fixture
def options() -> TransportOptions:
    """The short-limit options the ``client`` fixture uses, to derive variants from."""
    return FAST


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(FAST) as http:
        yield http
