"""Every fault route maps to the right outcome, class, reason and retryability."""

from __future__ import annotations

import dataclasses
import pickle
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from threadloom.server import FaultServer, document
from threadloom.transport import (
    ConnectError,
    ConnectionLost,
    HttpClient,
    HttpStatusError,
    InvalidUrl,
    RedirectRefused,
    TooLarge,
    TransferTimeout,
    TransportError,
    TransportOptions,
    TruncatedBody,
)


@pytest.fixture
def client(client_class: type[HttpClient], options: TransportOptions) -> Iterator[HttpClient]:
    """The conftest's client, once per way of making requests (``get`` and ``submit``)."""
    with client_class(options) as http:
        yield http


_FAULTS: list[tuple[str, type[TransportError], str, bool]] = [
    ("/reset", ConnectionLost, "connection reset by peer", True),
    ("/truncate?size=1000&send=512", TruncatedBody, "body truncated: got 512 of 1000 bytes", True),
    ("/redirect-loop", RedirectRefused, "too many redirects (more than --max-redirects 10)", False),
    (
        "/redirect-to?url=file:///etc/passwd",
        RedirectRefused,
        "redirect to unsupported scheme file://",
        False,
    ),
    (
        "/redirect-to?url=ftp://example.invalid/x",
        RedirectRefused,
        "redirect to unsupported scheme ftp://",
        False,
    ),
    (
        "/redirect-to?url=gopher://x.invalid/&code=307",
        RedirectRefused,
        "redirect to unsupported scheme gopher://",
        False,
    ),
    ("/status/503", HttpStatusError, "HTTP 503 Service Unavailable", True),
    ("/status/500", HttpStatusError, "HTTP 500 Internal Server Error", True),
    ("/status/408", HttpStatusError, "HTTP 408 Request Timeout", True),
    ("/status/429", HttpStatusError, "HTTP 429 Too Many Requests", True),
    ("/status/404", HttpStatusError, "HTTP 404 Not Found", False),
    ("/status/403", HttpStatusError, "HTTP 403 Forbidden", False),
    ("/status/599", HttpStatusError, "HTTP 599", True),
]


@pytest.mark.parametrize("fault", _FAULTS, ids=[fault[0] for fault in _FAULTS])
def test_fault_maps_to_error(
    server: FaultServer, client: HttpClient, fault: tuple[str, type[TransportError], str, bool]
) -> None:
    path, error, reason, retryable = fault
    url = server.url(path)
    with pytest.raises(error) as info:
        client.get(url)
    assert info.value.reason == reason
    assert str(info.value) == reason
    assert info.value.url == url
    assert info.value.retryable is retryable


def test_truncated_body_is_never_a_response(server: FaultServer, client: HttpClient) -> None:
    for send in (0, 1, 999):
        with pytest.raises(TruncatedBody, match=f"got {send} of 1000 bytes"):
            client.get(server.url(f"/truncate?size=1000&send={send}"))
    # The handle stays usable after the broken connection.
    assert client.get(server.document_url(1)).body == document(1, 11)


def test_http_status_error_carries_response_and_retry_after(
    server: FaultServer, client: HttpClient
) -> None:
    with pytest.raises(HttpStatusError) as info:
        client.get(server.url("/status/503?retry_after=2"))
    assert info.value.status == 503
    assert info.value.retry_after == 2.0
    assert info.value.response.body == b"status 503\n"
    assert info.value.response.headers["retry-after"] == "2"
    date = "Wed,%2021%20Oct%202015%2007:28:00%20GMT"  # long past: wait 0 s
    with pytest.raises(HttpStatusError) as info:
        client.get(server.url(f"/status/429?retry_after={date}"))
    assert info.value.retry_after == 0.0
    with pytest.raises(HttpStatusError) as info:
        client.get(server.url("/status/503?retry_after=soon"))
    assert info.value.retry_after is None


def test_raise_for_status_false_returns_the_response(
    server: FaultServer, client: HttpClient
) -> None:
    response = client.get(server.url("/status/404"), raise_for_status=False)
    assert (response.status, response.body) == (404, b"status 404\n")


def test_flaky_fails_then_succeeds(server: FaultServer, client: HttpClient) -> None:
    url = server.url("/flaky/x?fail=2&code=502")
    for _ in range(2):
        with pytest.raises(HttpStatusError, match="HTTP 502 Bad Gateway"):
            client.get(url)
    assert client.get(url).status == 200
    assert server.statistics().by_path["/flaky/x"] == 3


def test_redirect_chain_followed(server: FaultServer, client: HttpClient) -> None:
    response = client.get(server.url("/redirect/4?doc=9"))
    assert response.redirects == 4
    assert response.final_url == server.document_url(9)
    assert response.url == server.url("/redirect/4?doc=9")
    assert response.body == document(9, 11)


def test_max_redirects_is_configurable(
    server: FaultServer, options: TransportOptions, client_class: type[HttpClient]
) -> None:
    with client_class(dataclasses.replace(options, max_redirects=2)) as http:
        assert http.get(server.url("/redirect/2")).redirects == 2
        with pytest.raises(
            RedirectRefused, match=r"too many redirects \(more than --max-redirects 2\)"
        ):
            http.get(server.url("/redirect/3"))


def test_connection_refused(options: TransportOptions, client_class: type[HttpClient]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    with client_class(options) as http, pytest.raises(ConnectError) as info:
        http.get(f"http://127.0.0.1:{port}/")
    assert info.value.reason == "connection refused"
    assert info.value.retryable


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/x", "unsupported scheme ftp://"),
        ("file:///etc/passwd", "unsupported scheme file://"),
        ("/relative/path", "not an http(s) URL"),
        ("", "not an http(s) URL"),
    ],
)
def test_invalid_urls_fail_before_any_io(client: HttpClient, url: str, reason: str) -> None:
    with pytest.raises(InvalidUrl) as info:
        client.get(url)
    assert (info.value.reason, info.value.retryable) == (reason, False)


def test_non_ascii_url_is_percent_encoded(server: FaultServer, client: HttpClient) -> None:
    response = client.get(server.url("/nowhere/é"), raise_for_status=False)
    assert response.status == 404
    assert b"/nowhere/%C3%A9" in response.body


def test_stall_is_cut_within_low_speed_time(server: FaultServer, client: HttpClient) -> None:
    started = time.monotonic()
    with pytest.raises(TransferTimeout) as info:
        client.get(server.url("/stall?after=5000"))
    elapsed = time.monotonic() - started
    # A burst then silence: libcurl's own low-speed check would wait ~6 s here.
    assert 0.9 <= elapsed < 2.5
    assert info.value.reason == "timed out after 1 s with no data (after 5000 bytes)"
    assert info.value.retryable
    assert server.wait_for(lambda s: s.client_aborts == 1, timeout=5)


def test_no_first_byte_is_a_stall(server: FaultServer, client: HttpClient) -> None:
    started = time.monotonic()
    with pytest.raises(TransferTimeout, match=r"^timed out after 1 s with no data$"):
        client.get(server.url("/delay?ms=5000"))
    assert time.monotonic() - started < 2.5


def test_slow_drip_under_the_speed_limit_is_cut(
    server: FaultServer, options: TransportOptions, client_class: type[HttpClient]
) -> None:
    options = dataclasses.replace(options, low_speed_limit=1000)
    started = time.monotonic()
    with client_class(options) as http, pytest.raises(TransferTimeout) as info:
        http.get(server.url("/drip?size=100000&rate=200"))
    assert time.monotonic() - started < 3.5
    assert info.value.reason.startswith("timed out: under 1000 bytes/s for 1 s (after ")


def test_drip_above_the_limit_completes(server: FaultServer, client: HttpClient) -> None:
    response = client.get(server.url("/drip?size=400&rate=2000"))
    assert len(response.body) == 400


def test_total_timeout(
    server: FaultServer, options: TransportOptions, client_class: type[HttpClient]
) -> None:
    options = dataclasses.replace(options, timeout=0.5, low_speed_time=5)
    started = time.monotonic()
    with client_class(options) as http, pytest.raises(TransferTimeout) as info:
        http.get(server.url("/drip?size=100000&rate=1000"))
    assert time.monotonic() - started < 1.5
    assert info.value.reason.startswith("exceeded --max-time of 0.5 s: ")
    assert not info.value.retryable


@pytest.mark.parametrize("chunked", [True, False])
def test_max_size_aborts_while_downloading(
    server: FaultServer, chunked: bool, options: TransportOptions, client_class: type[HttpClient]
) -> None:
    total = 500_000_000
    options = dataclasses.replace(options, max_size=1_000_000)
    started = time.monotonic()
    with client_class(options) as http, pytest.raises(TooLarge) as info:
        http.get(server.url(f"/huge?size={total}&chunked={int(chunked)}"))
    assert time.monotonic() - started < 2.0
    assert info.value.reason == "response larger than --max-size 1000000"
    assert not info.value.retryable
    # The client went away: the server saw it and sent a small fraction of the body.
    assert server.wait_for(lambda s: s.client_aborts == 1 and s.in_flight == 0, timeout=10)
    assert server.statistics().bytes_sent < total // 20


def test_max_size_counts_decoded_bytes(
    server: FaultServer, options: TransportOptions, client_class: type[HttpClient]
) -> None:
    # 5 MB of filler compresses to a few KB: only the decoded size can catch it.
    with client_class(dataclasses.replace(options, max_size=1_000_000)) as http:
        with pytest.raises(TooLarge):
            http.get(server.url("/gzip/bytes?size=5000000"))
        assert len(http.get(server.url("/bytes?size=1000000")).body) == 1_000_000


def test_errors_pickle_with_their_fields(server: FaultServer, client: HttpClient) -> None:
    with pytest.raises(HttpStatusError) as info:
        client.get(server.url("/status/503?retry_after=3"))
    for exc in (info.value, TooLarge("http://x/", "response larger than --max-size 1")):
        copy = pickle.loads(pickle.dumps(exc))
        assert type(copy) is type(exc)
        assert (copy.url, copy.reason, copy.retryable, copy.retry_after) == (
            exc.url,
            exc.reason,
            exc.retryable,
            exc.retry_after,
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout", 0),
        ("low_speed_time", -1),
        ("low_speed_limit", 0),
        ("timeout", float("inf")),
        ("max_size", -1),
        ("max_redirects", -1),
    ],
)
def test_options_are_validated(field: str, value: float) -> None:
    changes: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(TransportOptions(), **changes)


@pytest.mark.parametrize("path", ["/delay?ms=5000", "/stall?after=5000"])
def test_libcurl_stall_check_cuts_stalls_too(server: FaultServer, path: str) -> None:
    options = TransportOptions(connect_timeout=2, low_speed_time=1, stall_check="libcurl")
    started = time.monotonic()
    with HttpClient(options) as client, pytest.raises(TransferTimeout) as info:
        client.get(server.url(path))
    elapsed = time.monotonic() - started
    # libcurl averages speed over ~5 s: after a burst the cut can come ~6 s late.
    assert 0.9 <= elapsed < 12.0
    assert info.value.reason.startswith("timed out after 1 s with no data")
    assert info.value.retryable


def test_stall_check_is_validated() -> None:
    with pytest.raises(ValueError, match="stall_check"):
        TransportOptions(stall_check="sometimes")  # type: ignore[arg-type]
