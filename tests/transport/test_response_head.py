"""``Headers.head()`` and ``response_head``: the final response's status line and header
lines as received, for the store to keep without parsing them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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


def _final_head_line_by_line(lines: list[bytes]) -> bytes:
    """The plain reading of final_head's contract: the last line starting with HTTP/,
    up to the first blank line after it."""
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith(b"HTTP/"):
            end = index + 1
            while end < len(lines) and lines[end] not in (b"\r\n", b"\n"):
                end += 1
            return b"".join(lines[index:end])
    return b""


_LINES = [
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n",
    b"HTTP/2 301 \r\n",
    b"HTTP/1.0 404\n",
    b"\r\n",
    b"\n",
    b"A: b\r\n",
    b"Via: HTTP/1.1 proxy\r\n",
    b"C: d\n",
    b"X: y\r\r\n",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_LINES), max_size=14))
def test_final_head_scans_the_joined_lines_as_a_line_by_line_reading_would(
    lines: list[bytes],
) -> None:
    # final_head works on the joined text (one join, C scans); on lines as libcurl gives
    # them, each ending in "\n", it must agree with reading the lines one by one.
    assert final_head(lines) == _final_head_line_by_line(lines)
