"""Replies that are not HTTP, refused redirects and libcurl errors without text each get
a reason that names what happened, through ``get`` and ``submit`` alike."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pycurl
import pytest

from threadloom.server import FaultServer
from threadloom.transport import (
    HttpClient,
    ProtocolError,
    RedirectRefused,
    TransportError,
    TransportOptions,
)
from threadloom.transport._handle import Handle
from threadloom.transport._mapping import map_curl_error

# What the raw server answers to a GET of each path, whatever the request says.
_REPLIES = {
    "/not-http": b"SSH-2.0-OpenSSH_9.6\r\n",
    "/binary": b"\x00\x01\x02\x03 not a status line\r\n\r\n",
    "/javascript": b"HTTP/1.1 302 Found\r\nLocation: javascript:alert(1)\r\n"
    b"Content-Length: 0\r\n\r\n",
    "/huge-header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 2_000_000 + b"\r\n"
    b"Content-Length: 2\r\n\r\nok",
}


class RawServer:
    """Answers each request on 127.0.0.1 with the raw bytes its path names, then closes."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-server", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                path = request.split(b" ", 2)[1].decode() if request.count(b" ") >= 2 else ""
                # The client may hang up mid-reply (a header it will not take).
                with contextlib.suppress(OSError):
                    conn.sendall(_REPLIES.get(path, b"HTTP/1.1 404 Not Found\r\n\r\n"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture(scope="module")
def raw() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


@pytest.fixture
def client(client_class: type[HttpClient], options: TransportOptions) -> Iterator[HttpClient]:
    """A client with short limits, once per way of making requests."""
    with client_class(options) as http:
        yield http


@pytest.mark.parametrize("path", ["/not-http", "/binary"])
def test_a_reply_that_is_not_http_is_a_protocol_error(
    raw: RawServer, client: HttpClient, path: str
) -> None:
    # libcurl reports these as CURLE_UNSUPPORTED_PROTOCOL, which was read as the URL's
    # scheme: "unsupported scheme http://".
    with pytest.raises(ProtocolError) as info:
        client.get(raw.url(path))
    assert info.value.reason == "protocol error: Received HTTP/0.9 when not allowed"
    assert info.value.retryable


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "mailto:someone@example.invalid",
        "data:text/html,hello",
    ],
)
def test_a_redirect_to_a_scheme_without_slashes_names_it(
    server: FaultServer, client: HttpClient, url: str
) -> None:
    with pytest.raises(RedirectRefused) as info:
        client.get(server.url(f"/redirect-to?url={url}"))
    scheme = url.partition(":")[0].lower()
    assert info.value.reason == f"redirect to unsupported scheme {scheme}:"
    assert not info.value.retryable


def test_a_raw_redirect_to_javascript_names_it(raw: RawServer, client: HttpClient) -> None:
    with pytest.raises(RedirectRefused, match=r"^redirect to unsupported scheme javascript:$"):
        client.get(raw.url("/javascript"))


def test_a_huge_response_header_has_a_readable_reason(raw: RawServer, client: HttpClient) -> None:
    # libcurl >= 8.6 says CURLE_TOO_LARGE (100) with an empty error buffer under the
    # multi interface; the reason was " (curl error 100)".
    with pytest.raises(TransportError) as info:
        client.get(raw.url("/huge-header"))
    reason = info.value.reason
    assert reason[:1].isalpha(), reason
    assert not reason.startswith("curl error")


@pytest.mark.skipif(not hasattr(pycurl, "easy_strerror"), reason="pycurl < 7.49")
@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (100, "A value or data field grew larger than allowed (curl error 100)"),
        (9999, "Unknown error (curl error 9999)"),
    ],
)
def test_an_empty_error_buffer_falls_back_to_libcurls_text(code: int, reason: str) -> None:
    handle = Handle(TransportOptions())
    try:
        assert map_curl_error("http://127.0.0.1/x", code, "", handle).reason == reason
    finally:
        handle.close()
