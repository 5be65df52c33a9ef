"""HttpClient: responses, keep-alive, one handle per thread, close()."""

from __future__ import annotations

import threading

import pytest

from threadloom import __version__
from threadloom.server import FaultServer, document
from threadloom.transport import Headers, HttpClient, Response, TransportOptions
from threadloom.transport._headers import parse_final_headers as _final_headers


def test_response_fields(server: FaultServer, client: HttpClient) -> None:
    url = server.document_url(3)
    response = client.get(url)
    assert isinstance(response, Response)
    assert (response.url, response.final_url, response.status) == (url, url, 200)
    assert response.body == document(3, 11)
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["content-length"] == str(len(response.body))
    assert response.http_version == "1.1"
    assert response.redirects == 0
    assert 0 < response.elapsed < 5


def test_request_headers_sent(server: FaultServer, client: HttpClient) -> None:
    sent = client.get(server.url("/headers")).body.decode()
    assert f"User-Agent: threadloom/{__version__}" in sent
    accept = next(line for line in sent.splitlines() if line.startswith("Accept-Encoding:"))
    assert "gzip" in accept


def test_gzip_is_decoded(server: FaultServer, client: HttpClient) -> None:
    response = client.get(server.url("/gzip/docs/5.xml"))
    assert response.headers["content-encoding"] == "gzip"
    assert response.body == document(5, 11)
    assert int(response.headers["content-length"]) < len(response.body)


def test_keep_alive_reuses_the_connection(server: FaultServer, client: HttpClient) -> None:
    for n in range(20):
        assert client.get(server.document_url(n)).body == document(n, 11)
    stats = server.statistics()
    assert stats.requests == 20
    assert stats.connections == 1


def test_one_handle_per_thread(server: FaultServer, client: HttpClient) -> None:
    threads_n, per_thread = 8, 6
    barrier = threading.Barrier(threads_n)
    failures: list[BaseException] = []

    def work(k: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(per_thread):
                n = k * per_thread + i
                assert client.get(server.document_url(n)).body == document(n, 11)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(k,), name=f"t{k}") for k in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert client.handle_count == threads_n
    stats = server.statistics()
    assert stats.requests == threads_n * per_thread
    # Each thread's handle kept its own connection alive.
    assert stats.connections == threads_n


def test_handles_of_ended_threads_are_closed(server: FaultServer, client: HttpClient) -> None:
    for _ in range(3):
        thread = threading.Thread(target=client.get, args=(server.document_url(0),))
        thread.start()
        thread.join(timeout=10)
    # Each new thread closed the handle of the one before it.
    assert client.handle_count == 1
    assert server.wait_for(lambda s: s.open_connections <= 1, timeout=5)


def test_close_closes_every_handle_and_connection(
    server: FaultServer, options: TransportOptions
) -> None:
    client = HttpClient(options)
    client.get(server.document_url(0))
    thread = threading.Thread(target=client.get, args=(server.document_url(1),))
    thread.start()
    thread.join(timeout=10)
    assert client.handle_count == 2
    assert server.statistics().open_connections == 2
    client.close()
    assert client.handle_count == 0
    assert server.wait_for(lambda s: s.open_connections == 0, timeout=5)
    with pytest.raises(RuntimeError, match="closed"):
        client.get(server.document_url(0))
    client.close()  # idempotent


def test_errors_do_not_poison_the_handle(server: FaultServer, client: HttpClient) -> None:
    for path in ("/reset", "/redirect-loop", "/truncate", "/status/500"):
        with pytest.raises(Exception):
            client.get(server.url(path))
        assert client.get(server.document_url(2)).body == document(2, 11)
    assert client.handle_count == 1


def test_final_headers_come_from_the_last_response() -> None:
    lines = [
        b"HTTP/1.1 302 Found\r\n",
        b"Location: /x\r\n",
        b"Set-Cookie: a=1\r\n",
        b"\r\n",
        b"HTTP/1.1 100 Continue\r\n",
        b"\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"Content-Type: text/plain\r\n",
        b"Cache-Control: no-cache\r\n",
        b"cache-control:  max-age=0 \r\n",
        b"\r\n",
    ]
    assert _final_headers(lines) == {
        "content-type": "text/plain",
        "cache-control": "no-cache, max-age=0",
    }
    assert _final_headers([]) == {}


def test_final_headers_trim_like_rfc_9110() -> None:
    lines = [
        b"HTTP/1.1 200 OK\r\n",
        b"A:  x  \r\n",
        b"B :y\t\r \r\n",  # a stray CR inside stays; one CR of the line end and blanks go
        b" folded continuation\r\n",
        b"C:\r\n",
        b"A: 2\r\n",
        b"\r\n",
    ]
    assert _final_headers(lines) == {"a": "x, 2", "b": "y\t\r", "c": ""}


def test_headers_are_a_lazy_read_only_mapping(server: FaultServer, client: HttpClient) -> None:
    response = client.get(server.document_url(3))
    headers = response.headers
    assert isinstance(headers, Headers)
    assert headers["content-type"] == response.content_type == "application/xml"
    assert headers == dict(headers.items())
    assert "content-length" in headers
    assert len(headers) == len(list(headers))
    with pytest.raises(TypeError):
        headers["x"] = "y"  # type: ignore[index]


def test_a_gzip_body_is_checked_for_truncation_on_the_wire(
    server: FaultServer, client: HttpClient
) -> None:
    # Content-Length counts the compressed bytes; the decoded body is longer. Only a
    # short read on the wire is a truncation.
    response = client.get(server.url("/gzip/docs/4.xml"))
    assert response.body == document(4, 11)
    assert int(response.headers["content-length"]) < len(response.body)
