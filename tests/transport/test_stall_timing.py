"""Submitted transfers are cut within 0.25 s of ``low_speed_time`` whatever
``stall_check`` says, and time and size limits libcurl cannot take are refused up front."""

from __future__ import annotations

import time

import pytest

from threadloom.server import FaultServer
from threadloom.transport import HttpClient, TransferTimeout, TransportOptions


@pytest.mark.parametrize("stall_check", ["exact", "libcurl"])
@pytest.mark.parametrize(
    ("path", "after"), [("/stall?after=100", " (after 100 bytes)"), ("/delay?ms=10000", "")]
)
def test_submitted_stalls_are_cut_on_time(
    server: FaultServer, stall_check: str, path: str, after: str
) -> None:
    # The fetch job asks for stall_check="libcurl"; libcurl's own cut counted whole
    # seconds (1.5 s here) and averaged over ~5 s, so after 100 bytes it came ~7 s late.
    options = TransportOptions(
        connect_timeout=2,
        low_speed_time=0.5,
        stall_check=stall_check,  # type: ignore[arg-type]
    )
    with HttpClient(options) as http:
        started = time.monotonic()
        with pytest.raises(TransferTimeout) as info:
            http.submit(server.url(path)).result(timeout=30)
        elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.2
    assert info.value.reason == f"timed out after 0.5 s with no data{after}"


def test_libcurls_own_cut_names_the_whole_seconds_it_used(server: FaultServer) -> None:
    # get() with stall_check="libcurl": LOW_SPEED_TIME is whole seconds, 0.5 becomes 1.
    options = TransportOptions(connect_timeout=2, low_speed_time=0.5, stall_check="libcurl")
    with HttpClient(options) as http, pytest.raises(TransferTimeout) as info:
        http.get(server.url("/delay?ms=10000"))
    assert info.value.reason == "timed out after 1 s with no data"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_size", 2**63),
        ("connect_timeout", 1e300),
        ("low_speed_time", float("nan")),
        ("timeout", 3e6),
    ],
)
def test_limits_libcurl_cannot_take_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        TransportOptions(**{field: value})  # type: ignore[arg-type]


def test_the_largest_limits_libcurl_takes_work(server: FaultServer) -> None:
    options = TransportOptions(max_size=2**63 - 1, connect_timeout=2_000_000, timeout=2_000_000)
    with HttpClient(options) as http:
        assert http.get(server.document_url(1)).status == 200
        assert http.submit(server.document_url(2)).result(timeout=30).status == 200
