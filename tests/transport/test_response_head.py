"""``Headers.head()`` and ``response_head``: the final response's status line and header
lines as received, for the store to keep without parsing them."""

from __future__ import annotations

from threadloom.server import FaultServer
from threadloom.transport import Headers, HttpClient, response_head
from threadloom.transport._headers import final_head


def test_head_of_a_redirected_fetch_is_the_final_response_as_received(
    server: FaultServer, client: HttpClient
) -> None:
    response = client.get(server.url("/redirect/2?doc=4"))
    assert response.redirects == 2
    head = response_head(response.status, response.http_version, response.headers)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Location" not in head, "the redirects' heads are left out"
    assert head.endswith(b"\r\n")
    assert not head.endswith(b"\r\n\r\n"), "without the blank line that ends the block"
    assert f"Content-Length: {len(response.body)}\r\n".encode() in head


def test_final_head_skips_interim_responses_and_trailers() -> None:
    lines = [
        b"HTTP/1.1 301 Moved\r\n",
        b"Location: /x\r\n",
        b"\r\n",
        b"HTTP/1.1 100 Continue\r\n",
        b"\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\r\n",
        b"X-Trailer: after the body\r\n",
    ]
    assert final_head(lines) == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    assert final_head([]) == b""
    assert Headers(lines).head() == final_head(lines)


def test_response_head_of_a_plain_mapping_is_built_from_its_items() -> None:
    assert response_head(404, "2", {"content-type": "text/plain"}) == (
        b"HTTP/2 404\r\ncontent-type: text/plain\r\n"
    )
    assert response_head(200, "", {}) == b"HTTP/1.1 200\r\n"
