"""A hostile server cannot hold a request past its bounds: every way of holding a slot
(a trickled body, headers without end, an endless body, a redirect chain across hosts,
a "100 Continue" and nothing more, a TLS handshake never answered) ends within its
limit, with a reason that says which limit and how far the request got."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from threadloom.server import FaultServer
from threadloom.transport import (
    HttpClient,
    ProtocolError,
    RedirectRefused,
    TransferTimeout,
    TransportError,
    TransportOptions,
)

#: A stall cut too long to matter, so the total limit (1 s) is what ends a request.
MAX_TIME = TransportOptions(connect_timeout=0.5, low_speed_time=5, timeout=1)
#: The fetch job's shape (connect limit = stall cut = --timeout), short.
STALL = TransportOptions(connect_timeout=0.5, low_speed_time=0.5)


def _failure(
    client_class: type[HttpClient], options: TransportOptions, url: str, *, warm: str = ""
) -> tuple[TransportError, float]:
    """The error ``url`` fails with and the seconds it took; ``warm``, if given, is
    fetched first on the same client, so the request runs on a kept-alive connection."""
    with client_class(options) as http:
        if warm:
            http.get(warm)
        started = time.monotonic()
        with pytest.raises(TransportError) as info:
            http.get(url)
        return info.value, time.monotonic() - started


# -- 1. a trickled body: the total limit, not retryable --------------------------------


@pytest.mark.parametrize("reused", [False, True], ids=["new-connection", "kept-alive"])
def test_a_trickled_body_is_cut_at_max_time(
    server: FaultServer, client_class: type[HttpClient], reused: bool
) -> None:
    # 10 bytes/s: a byte every 0.1 s keeps any stall cut away for ever. Without a total
    # limit this request would take 27 hours.
    warm = server.document_url(1) if reused else ""
    error, elapsed = _failure(
        client_class, MAX_TIME, server.url("/drip?size=1000000&rate=10"), warm=warm
    )
    assert isinstance(error, TransferTimeout)
    assert 1.0 <= elapsed < 2.5
    # On a kept-alive connection libcurl's connect time is 0: the reason must not say
    # "while connecting" for that.
    assert re.fullmatch(
        r"exceeded --max-time of 1 s: \d+ of 1000000 bytes received", error.reason
    ), error.reason
    assert not error.retryable, "another attempt would trickle as long again"
    assert server.wait_for(lambda s: s.client_aborts >= 1 and s.in_flight == 0, timeout=5)


def test_an_endless_chunked_body_is_cut_at_max_time(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    # Fast, it hits max_size (test_max_size_aborts_while_downloading); slow, this.
    error, elapsed = _failure(
        client_class, MAX_TIME, server.url("/drip?size=1000000000&rate=1000&chunked=1")
    )
    assert isinstance(error, TransferTimeout)
    assert 1.0 <= elapsed < 2.5
    assert re.fullmatch(r"exceeded --max-time of 1 s: \d+ bytes received", error.reason)
    assert not error.retryable


# -- 2. headers without end ------------------------------------------------------------


def test_headers_that_never_end_are_a_stall(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    # A header line every 20 ms is data, but no body: cut after low_speed_time.
    error, elapsed = _failure(client_class, STALL, server.url("/endless-headers?every=20"))
    assert isinstance(error, TransferTimeout)
    assert 0.5 <= elapsed < 2.0
    assert re.fullmatch(r"timed out after 0.5 s: headers incomplete after \d+ bytes", error.reason)
    assert error.retryable


def test_headers_that_never_end_are_cut_at_max_time(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    error, elapsed = _failure(client_class, MAX_TIME, server.url("/endless-headers?every=20"))
    assert isinstance(error, TransferTimeout)
    assert 1.0 <= elapsed < 2.5
    assert re.fullmatch(
        r"exceeded --max-time of 1 s: headers incomplete after \d+ bytes", error.reason
    )
    assert not error.retryable


def test_a_flood_of_headers_hits_libcurls_cap(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    error, elapsed = _failure(client_class, MAX_TIME, server.url("/endless-headers?every=0"))
    assert isinstance(error, ProtocolError)
    assert elapsed < 2.5
    assert re.fullmatch(r"response headers too large: \d+ > \d+ bytes", error.reason)
    assert not error.retryable, "the server would send them again"


# -- 2. a redirect chain that changes host at every hop --------------------------------


def test_a_chain_across_hosts_ends_at_max_redirects(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    error, elapsed = _failure(client_class, MAX_TIME, server.url("/hops"))
    assert isinstance(error, RedirectRefused)
    assert error.reason == "too many redirects (more than --max-redirects 10)"
    assert elapsed < 2.5
    # Both names were really visited: the chain changed host, hop after hop.
    hosts = server.statistics().max_in_flight_by_host
    assert {f"127.0.0.1:{server.port}", f"localhost:{server.port}"} <= set(hosts)


def test_a_slow_chain_across_hosts_ends_at_max_time(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    options = dataclasses.replace(MAX_TIME, max_redirects=1000)
    error, elapsed = _failure(client_class, options, server.url("/hops?ms=150"))
    assert isinstance(error, TransferTimeout)
    # The limit covers the whole chain, not each hop.
    assert 1.0 <= elapsed < 2.5
    assert re.fullmatch(
        r"exceeded --max-time of 1 s: no data received \(after \d redirects\)", error.reason
    ), error.reason
    assert not error.retryable


# -- 2. "100 Continue" and nothing more ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "reason", "retryable"),
    [
        (STALL, "timed out after 0.5 s: no response after HTTP/1.1 100 Continue", True),
        (MAX_TIME, "exceeded --max-time of 1 s: no response after HTTP/1.1 100 Continue", False),
    ],
    ids=["stall", "max-time"],
)
def test_a_continue_that_never_continues(
    server: FaultServer,
    client_class: type[HttpClient],
    options: TransportOptions,
    reason: str,
    retryable: bool,
) -> None:
    error, elapsed = _failure(client_class, options, server.url("/continue-stall"))
    assert isinstance(error, TransferTimeout)
    assert elapsed < 2.5
    assert (error.reason, error.retryable) == (reason, retryable)


def test_a_get_sends_no_expect_header(server: FaultServer, client: HttpClient) -> None:
    # The only way a client invites "100 Continue" is Expect: a GET never sends it.
    assert b"expect:" not in client.get(server.url("/headers")).body.lower()


# -- 2. a TLS handshake never answered, a TCP connect never accepted -------------------


@contextlib.contextmanager
def _silent_listener() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never sends a byte (no
    ServerHello for a TLS client, no response for an HTTP one); yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, name="silent-listener", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for sock in held:
            sock.close()
        listener.close()


@pytest.mark.parametrize("options", [STALL, MAX_TIME], ids=["stall-cut-too", "max-time-too"])
def test_a_stalled_tls_handshake_is_cut_by_the_connect_timeout(
    client_class: type[HttpClient], options: TransportOptions
) -> None:
    # connect_timeout covers the handshake, whatever other limit is about to run out
    # (the stall cut at the same 0.5 s in the fetch job's shape).
    with _silent_listener() as port:
        error, elapsed = _failure(client_class, options, f"https://127.0.0.1:{port}/")
    assert isinstance(error, TransferTimeout)
    assert 0.5 <= elapsed < 2.0
    assert error.reason == "TLS handshake timed out after 0.5 s"
    assert error.retryable


def test_the_stall_watch_leaves_a_handshake_to_the_connect_timeout(
    client_class: type[HttpClient],
) -> None:
    # A shorter stall cut does not apply before the connection is up, on either client.
    # (The multi client's stall watch once cut handshakes itself, at times first when both
    # limits were equal, and libcurl, not having connected, then had no details to say
    # which step it was in: "connect timed out".)
    options = TransportOptions(connect_timeout=1, low_speed_time=0.3)
    with _silent_listener() as port:
        error, elapsed = _failure(client_class, options, f"https://127.0.0.1:{port}/")
    assert isinstance(error, TransferTimeout)
    assert 1.0 <= elapsed < 2.5
    assert error.reason == "TLS handshake timed out after 1 s"


def test_a_server_that_accepts_and_never_answers_is_a_stall(
    client_class: type[HttpClient],
) -> None:
    with _silent_listener() as port:
        error, elapsed = _failure(client_class, STALL, f"http://127.0.0.1:{port}/")
    assert isinstance(error, TransferTimeout)
    assert 0.5 <= elapsed < 2.0
    assert error.reason == "timed out after 0.5 s with no data"


@contextlib.contextmanager
def _unaccepting_listener() -> Iterator[int]:
    """A port whose accept queue is full, so a new connection's SYN goes unanswered
    (Linux drops it) and the client's TCP connect hangs; yields the port."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
            fillers.append(sock)
        # The last one must be stuck connecting, or this system answers them all.
        if select.select([], [fillers[-1]], [], 0.2)[1]:
            pytest.skip("this system completes connections beyond the accept queue")
        yield port
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


@pytest.mark.parametrize(
    ("options", "reason", "retryable"),
    [
        (STALL, "connect timed out after 0.5 s", True),
        (
            dataclasses.replace(MAX_TIME, connect_timeout=5),
            "exceeded --max-time of 1 s while connecting",
            False,
        ),
    ],
    ids=["connect-timeout", "max-time"],
)
def test_a_connect_never_accepted(
    client_class: type[HttpClient], options: TransportOptions, reason: str, retryable: bool
) -> None:
    with _unaccepting_listener() as port:
        error, elapsed = _failure(client_class, options, f"http://127.0.0.1:{port}/")
    assert isinstance(error, TransferTimeout)
    assert elapsed < 2.5
    assert (error.reason, error.retryable) == (reason, retryable)
