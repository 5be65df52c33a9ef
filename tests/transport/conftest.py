"""Fixtures for the transport tests: a fault server and a client with short limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from threadloom.server import FaultServer
from threadloom.transport import HttpClient, Response, TransportOptions

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


class MultiClient(HttpClient):
    """An ``HttpClient`` whose ``get`` goes through ``submit`` (the CurlMulti driver), so
    every fault test runs against both ways of making a request."""

    def get(self, url: str, *, raise_for_status: bool = True) -> Response:
        return self.submit(url, raise_for_status=raise_for_status).result(timeout=60)


@pytest.fixture(params=[HttpClient, MultiClient], ids=["perform", "multi"])
def client_class(request: pytest.FixtureRequest) -> type[HttpClient]:
    """Each way of making requests: a blocking ``get`` per thread, or ``submit``."""
    cls: type[HttpClient] = request.param
    return cls
