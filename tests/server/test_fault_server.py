"""The fault server itself: routes, keep-alive, statistics, stop(), the command line."""

from __future__ import annotations

import gzip
import http.client
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote

import defusedxml.ElementTree
import pytest
from defusedxml import EntitiesForbidden

from threadloom.server import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    MAX_DOCUMENT_SIZE,
    MIN_DOCUMENT_SIZE,
    FaultServer,
    document,
    document_latency,
    filler,
)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(documents=50, seed=7) as srv:
        yield srv


def _connect(server: FaultServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)


def _get(
    server: FaultServer, path: str, headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = _connect(server)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def _raw(server: FaultServer, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock


def _read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# -- content -----------------------------------------------------------------------


def test_documents_are_deterministic_wellformed_and_sized() -> None:
    sizes = []
    for n in range(300):
        body = document(n, seed=1)
        assert body == document(n, seed=1)
        assert MIN_DOCUMENT_SIZE <= len(body) <= MAX_DOCUMENT_SIZE + 200
        root = ET.fromstring(body)
        assert root.tag == "document"
        assert root.get("id") == str(n)
        sizes.append(len(body))
    assert document(3, seed=1) != document(3, seed=2)
    # Sizes vary: several distinct kilobyte buckets, not one fixed size.
    assert len({size // 1024 for size in sizes}) >= 5


def test_latency_is_deterministic_heavy_tailed_and_scaled() -> None:
    delays = [document_latency(n, seed=3, factor=1.0) for n in range(2000)]
    assert delays == [document_latency(n, seed=3, factor=1.0) for n in range(2000)]
    assert document_latency(5, seed=3, factor=0.0) == 0.0
    assert math.isclose(document_latency(5, seed=3, factor=2.0), 2 * delays[5])
    median = statistics.median(delays)
    p99 = sorted(delays)[int(len(delays) * 0.99)]
    assert 0.01 < median < 0.04
    assert p99 > 5 * median  # the heavy tail
    assert max(delays) <= 2.0


def test_filler_chunks_join_up() -> None:
    whole = filler(200_000)
    assert filler(70_000) + filler(130_000, 70_000) == whole
    assert len(whole) == 200_000
    assert all(33 <= b < 127 for b in whole[:1000])


# -- keep-alive, statistics ----------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(server: FaultServer) -> None:
    conn = _connect(server)
    for n in range(5):
        conn.request("GET", f"/docs/{n}.xml")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Length") == str(len(document(n, 7)))
        assert response.read() == document(n, 7)
    conn.close()
    # The client can read a response before its handler has finished accounting for it.
    assert server.wait_for(lambda s: s.in_flight == 0, timeout=5)
    stats = server.statistics()
    assert stats.requests == 5
    assert stats.connections == 1
    assert stats.by_path["/docs/0.xml"] == 1
    assert stats.bytes_sent == sum(len(document(n, 7)) for n in range(5))


def test_connection_close_is_honoured(server: FaultServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(b"GET /bytes?size=10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = _read_to_eof(sock)  # returns only because the server closes
    sock.close()
    assert b"Connection: close" in data
    assert data.endswith(filler(10))


def test_in_flight_statistics_per_host(server: FaultServer) -> None:
    # Stalled responses stay in flight until their client leaves: deterministic overlap.
    hosts = ["a.test", "a.test", "a.test", "b.test"]
    socks = []
    for host in hosts:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(f"GET /stall HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        socks.append(sock)
    assert server.wait_for(lambda s: s.in_flight == 4, timeout=5)
    for sock in socks:
        sock.close()
    assert server.wait_for(lambda s: s.in_flight == 0 and s.client_aborts == 4, timeout=5)
    stats = server.statistics()
    assert stats.max_in_flight == 4
    assert stats.max_in_flight_by_host == {"a.test": 3, "b.test": 1}
    assert server.wait_for(lambda s: s.open_connections == 0, timeout=5)


# -- routes --------------------------------------------------------------------------


def test_status_with_retry_after_sent_verbatim(server: FaultServer) -> None:
    response, body = _get(server, "/status/503?retry_after=7")
    assert (response.status, response.getheader("Retry-After"), body) == (503, "7", b"status 503\n")
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    response, _ = _get(server, f"/status/429?retry_after={quote(date)}")
    assert (response.status, response.getheader("Retry-After")) == (429, date)
    response, body = _get(server, "/status/204")
    assert (response.status, body, response.getheader("Content-Length")) == (204, b"", None)


def test_flaky_fails_k_times_per_id(server: FaultServer) -> None:
    codes = [_get(server, "/flaky/a?fail=2&code=502")[0].status for _ in range(4)]
    assert codes == [502, 502, 200, 200]
    assert _get(server, "/flaky/b?fail=1")[0].status == 503
    assert _get(server, "/flaky/b?fail=1")[0].status == 200


def test_reset_sends_rst(server: FaultServer) -> None:
    sock = _raw(server, "/reset")
    with pytest.raises(ConnectionResetError):
        sock.recv(1024)
    sock.close()


def test_truncate_sends_fewer_bytes_than_announced(server: FaultServer) -> None:
    sock = _raw(server, "/truncate?size=1000&send=300")
    data = _read_to_eof(sock)
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 1000" in head
    assert body == filler(300)


def test_drip_paces_the_body(server: FaultServer) -> None:
    started = time.monotonic()
    response, body = _get(server, "/drip?size=300&rate=1000")
    elapsed = time.monotonic() - started
    assert (response.status, body) == (200, filler(300))
    assert elapsed >= 0.19  # three 100-byte writes 0.1 s apart, the first immediate


def test_stall_then_stop_returns_promptly() -> None:
    srv = FaultServer().start()
    stalled = _raw(srv, "/stall?after=100")
    head = stalled.recv(65536)
    while len(head.partition(b"\r\n\r\n")[2]) < 100:
        head += stalled.recv(65536)
    idle = _connect(srv)  # a kept-alive connection waiting for its next request
    idle.request("GET", "/bytes?size=1")
    idle.getresponse().read()
    assert srv.wait_for(lambda s: s.in_flight == 1, timeout=5)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 1.0
    assert _read_to_eof(stalled) == b""  # the server closed the stalled connection
    stalled.close()
    idle.close()
    assert srv.statistics().client_aborts == 0  # stop() is not the client's doing
    srv.stop()  # idempotent


def test_redirect_chain_and_loop(server: FaultServer) -> None:
    response, _ = _get(server, "/redirect/3?doc=4")
    assert (response.status, response.getheader("Location")) == (302, "/redirect/2?doc=4")
    response, _ = _get(server, "/redirect/1?doc=4")
    assert response.getheader("Location") == "/docs/4.xml"
    response, body = _get(server, "/redirect/0?doc=4")
    assert (response.status, body) == (200, document(4, 7))
    response, _ = _get(server, "/redirect-loop")
    assert response.getheader("Location") == "/redirect-loop"
    response, _ = _get(server, "/redirect-to?url=file:///etc/passwd&code=301")
    assert (response.status, response.getheader("Location")) == (301, "file:///etc/passwd")


def test_gzip_only_when_accepted(server: FaultServer) -> None:
    response, body = _get(server, "/gzip/docs/2.xml", {"Accept-Encoding": "br, gzip"})
    assert response.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(body) == document(2, 7)
    assert len(body) < len(document(2, 7))
    response, body = _get(server, "/gzip/docs/2.xml", {"Accept-Encoding": "gzip;q=0"})
    assert (response.getheader("Content-Encoding"), body) == (None, document(2, 7))
    response, body = _get(server, "/gzip/docs/2.xml")
    assert (response.getheader("Vary"), body) == ("Accept-Encoding", document(2, 7))
    response, _ = _get(server, "/gzip/status/503", {"Accept-Encoding": "gzip"})
    assert (response.status, response.getheader("Content-Encoding")) == (503, "gzip")
    response, body = _get(server, "/gzip/stall")
    assert response.status == 400
    assert b"cannot wrap /stall" in body


@pytest.mark.parametrize("chunked", [False, True])
def test_huge_streams_exact_bytes(server: FaultServer, chunked: bool) -> None:
    size = 3 * 64 * 1024 + 123
    response, body = _get(server, f"/huge?size={size}&chunked={int(chunked)}")
    assert response.getheader("Transfer-Encoding") == ("chunked" if chunked else None)
    assert body == filler(size)


def test_xml_attacks_are_real_attacks(server: FaultServer) -> None:
    _, bomb = _get(server, "/bomb.xml")
    _, xxe = _get(server, "/xxe.xml")
    assert (bomb, xxe) == (BILLION_LAUGHS, EXTERNAL_ENTITY)
    for body in (bomb, xxe):
        with pytest.raises(EntitiesForbidden):
            defusedxml.ElementTree.fromstring(body)
    assert b'SYSTEM "file:///etc/passwd"' in xxe


def test_delay_and_bytes_and_headers(server: FaultServer) -> None:
    started = time.monotonic()
    response, _ = _get(server, "/delay?ms=150")
    assert response.status == 200
    assert time.monotonic() - started >= 0.15
    assert _get(server, "/bytes?size=5000")[1] == filler(5000)
    _, body = _get(server, "/headers", {"X-Probe": "42"})
    assert "X-Probe: 42" in body.decode()


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/docs/50.xml", 404, "document 50 does not exist"),
        ("/nowhere", 404, "no route for /nowhere"),
        ("/bytes?size=abc", 400, "size='abc' is not an integer"),
        ("/truncate?size=10&send=10", 400, "send=10 is out of range"),
        ("/status/99", 400, "status 99 is not in 200..599"),
        ("/redirect-to", 400, "needs ?url="),
    ],
)
def test_bad_requests_name_the_problem(
    server: FaultServer, path: str, status: int, message: str
) -> None:
    response, body = _get(server, path)
    assert response.status == status
    assert message in body.decode()


def test_client_abort_counted_while_streaming(server: FaultServer) -> None:
    sock = _raw(server, "/huge?size=500000000")
    sock.recv(65536)
    # RST on close (unread data pending) makes the server's next write fail.
    sock.close()
    assert server.wait_for(lambda s: s.client_aborts == 1 and s.in_flight == 0, timeout=10)
    assert server.statistics().bytes_sent < 500_000_000 // 10


def test_latency_applies_to_documents() -> None:
    with FaultServer(documents=5, seed=1, latency=1.0) as srv:
        expected = document_latency(0, seed=1, factor=1.0)
        started = time.monotonic()
        response, _ = _get(srv, "/docs/0.xml")
        assert response.status == 200
        assert time.monotonic() - started >= expected


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support")
    try:
        srv = FaultServer("::1").start()
    except OSError:
        pytest.skip("::1 cannot be bound here")
    with srv:
        assert srv.base_url.startswith("http://[::1]:")
        conn = http.client.HTTPConnection("::1", srv.port, timeout=10)
        conn.request("GET", "/bytes?size=3")
        assert conn.getresponse().read() == filler(3)
        conn.close()


def test_start_twice_and_unstarted_use_fail() -> None:
    srv = FaultServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = srv.base_url
    with srv, pytest.raises(RuntimeError, match="already started"):
        srv.start()
    with pytest.raises(ValueError, match="latency"):
        FaultServer(latency=-1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_command_line_serves_until_signalled(signum: int) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "threadloom.server", "--port", "0", "--documents", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/docs/0\.xml", line)
        assert match, line
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/docs/2.xml")
        assert conn.getresponse().read() == document(2, 0)
        conn.close()
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_concurrent_clients_all_served(server: FaultServer) -> None:
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def client(k: int) -> None:
        try:
            barrier.wait(timeout=10)
            conn = _connect(server)
            for n in range(k, 50, 8):
                conn.request("GET", f"/docs/{n}.xml")
                assert conn.getresponse().read() == document(n, 7)
            conn.close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert server.wait_for(lambda s: s.in_flight == 0, timeout=5)
    assert server.statistics().requests == 50
    assert server.statistics().connections == 8


# -- hostile routes (a client must bound each) -----------------------------------------


def test_drip_can_be_chunked(server: FaultServer) -> None:
    response, body = _get(server, "/drip?size=300&rate=3000&chunked=1")
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    assert body == filler(300)


def _read_for(sock: socket.socket, seconds: float) -> bytes:
    """What ``sock`` receives in ``seconds`` (the routes below never end on their own)."""
    sock.settimeout(0.05)
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data += sock.recv(65536)
        except TimeoutError:
            continue
    return data


@pytest.mark.parametrize("every", [20, 0])
def test_endless_headers_never_end_the_head(server: FaultServer, every: int) -> None:
    sock = _raw(server, f"/endless-headers?every={every}")
    data = _read_for(sock, 0.3)
    sock.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\n\r\n" not in data
    assert data.count(b"\r\nX-Endless-") >= (5 if every else 1000)
    assert server.wait_for(lambda s: s.in_flight == 0, timeout=5)


def test_continue_stall_sends_only_the_interim_response() -> None:
    srv = FaultServer().start()
    sock = _raw(srv, "/continue-stall")
    assert _read_for(sock, 0.3) == b"HTTP/1.1 100 Continue\r\n\r\n"
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 1.0
    assert _read_to_eof(sock) == b""
    sock.close()


def test_hops_change_host_at_every_hop(server: FaultServer) -> None:
    port = server.port
    conn = _connect(server)
    conn.request("GET", "/hops?ms=0", headers={"Host": f"127.0.0.1:{port}"})
    response = conn.getresponse()
    response.read()
    first = response.getheader("Location")
    assert response.status == 302
    assert first == f"http://localhost:{port}/hops?n=1&hosts=127.0.0.1%2Clocalhost&ms=0"
    conn.request("GET", first.partition(str(port))[2], headers={"Host": f"localhost:{port}"})
    second = conn.getresponse()
    second.read()
    assert second.getheader("Location", "").startswith(f"http://127.0.0.1:{port}/hops?n=2&")
    conn.close()
    response, _ = _get(server, "/hops?hosts=a,b,c&n=7")
    assert response.getheader("Location", "").startswith(f"http://c:{port}/hops?n=8&")
    response, body = _get(server, "/hops", {"Host": "test"})  # no port to send it back to
    assert (response.status, body) == (400, b"/hops needs a Host header with a port\n")


def test_versioned_documents_answer_conditional_requests() -> None:
    import urllib.error
    import urllib.request

    def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    with FaultServer() as server:
        url = server.url("/versioned/k")
        status, headers, body = get(url)
        assert (status, headers["ETag"], body) == (200, '"k-v1"', b'<doc key="k" version="1"/>\n')
        modified = headers["Last-Modified"]
        assert get(url, **{"If-None-Match": 'W/"k-v1", "x"'})[0] == 304
        assert get(url, **{"If-Modified-Since": modified})[0] == 304
        # If-None-Match decides when present, even against a matching date.
        assert get(url, **{"If-None-Match": '"old"', "If-Modified-Since": modified})[0] == 200
        assert server.bump_version("k") == 2
        assert get(url, **{"If-None-Match": '"k-v1"'})[:1] == (200,)
        assert get(url, **{"If-Modified-Since": modified})[0] == 200
        assert "ETag" not in get(url + "?validators=lm")[1]
        assert "Last-Modified" not in get(url + "?validators=etag")[1]
        assert get(url + "?validators=none", **{"If-None-Match": '"k-v2"'})[0] == 200
        server.set_versioned_status("k", 503)
        assert get(url)[0] == 503
        assert server.versioned_conditions("k")[1] == ('W/"k-v1", "x"', "")
