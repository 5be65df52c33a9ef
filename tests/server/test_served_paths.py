"""``FaultServer.serve`` (fixed replies for a path, e.g. a robots.txt) and the request
log (``log_requests=True``)."""

from __future__ import annotations

import http.client

import pytest

from threadloom.server import FaultServer


def _get(server: FaultServer, target: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_robots_txt_is_a_404_until_a_test_serves_one() -> None:
    with FaultServer() as server:
        assert _get(server, "/robots.txt")[0] == 404
        server.serve("/robots.txt", "User-agent: *\nDisallow: /private/\n")
        status, headers, body = _get(server, "/robots.txt?any=query")
        assert (status, body) == (200, b"User-agent: *\nDisallow: /private/\n")
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
        # A later call replaces a reply given for ever.
        server.serve("/robots.txt", b"User-agent: *\n")
        assert _get(server, "/robots.txt")[2] == b"User-agent: *\n"


def test_replies_with_times_are_given_in_turn_then_the_built_in_route() -> None:
    with FaultServer(documents=3) as server:
        server.serve("/robots.txt", status=503, times=2)
        server.serve("/robots.txt", "ok", times=1)
        server.serve("/docs/1.xml", status=301, headers=[("Location", "/docs/2.xml")])
        assert [_get(server, "/robots.txt")[0] for _ in range(4)] == [503, 503, 200, 404]
        status, headers, _ = _get(server, "/docs/1.xml")
        assert (status, headers["Location"]) == (301, "/docs/2.xml")
        assert _get(server, "/docs/0.xml")[0] == 200  # other paths keep their routes


def test_serve_refuses_bad_arguments() -> None:
    server = FaultServer()
    with pytest.raises(ValueError, match="must start with '/'"):
        server.serve("robots.txt", "x")
    with pytest.raises(ValueError, match="status"):
        server.serve("/robots.txt", status=99)
    with pytest.raises(ValueError, match="times"):
        server.serve("/robots.txt", times=0)


def test_the_request_log_keeps_order_time_host_target_and_headers() -> None:
    with FaultServer(documents=2, log_requests=True) as server:
        _get(server, "/docs/0.xml?a=1", **{"User-Agent": "probe/1"})
        _get(server, "/robots.txt")
        log = server.request_log()
        assert [entry.target for entry in log] == ["/docs/0.xml?a=1", "/robots.txt"]
        assert log[0].path == "/docs/0.xml"
        assert log[0].host == f"127.0.0.1:{server.port}"
        assert log[0].header("user-agent") == "probe/1"
        assert log[1].header("x-absent") is None
        assert log[0].time <= log[1].time
    with FaultServer() as quiet, pytest.raises(RuntimeError, match="log_requests"):
        quiet.request_log()
