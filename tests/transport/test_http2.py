"""HTTP/2 over TLS (ALPN ``h2``) against a real HTTP/2 server on 127.0.0.1 (hypercorn),
through both transports: per-thread handles and the CurlMulti driver, which multiplexes
concurrent requests over one connection."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import wait
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

from threadloom.server import document
from threadloom.transport import HttpClient, TransportOptions

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def documents_app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/docs/{n}.xml``: the FaultServer's generated document n (seed 11)."""
    if scope["type"] != "http":
        return
    name = scope["path"].removeprefix("/docs/").removesuffix(".xml")
    status, body = (200, document(int(name), 11)) if name.isdigit() else (404, b"no such path")
    headers = [(b"content-type", b"application/xml"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Http2Server:
    """hypercorn serving ``documents_app`` over TLS on 127.0.0.1, on a thread of its own."""

    def __init__(self, certfile: Path, keyfile: Path) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # connections wait in the backlog until hypercorn runs
        self.port = listener.getsockname()[1]
        self._config = Config()
        # hypercorn takes the descriptor over (and closes it when it stops).
        self._config.bind = [f"fd://{listener.detach()}"]
        self._config.certfile = str(certfile)
        self._config.keyfile = str(keyfile)
        self._config.alpn_protocols = ["h2"]
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="http2-server", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            await serve(documents_app, self._config, shutdown_trigger=self._stop.wait)

        self._loop.run_until_complete(main())

    def url(self, n: int) -> str:
        return f"https://127.0.0.1:{self.port}/docs/{n}.xml"

    def __enter__(self) -> Http2Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="module")
def http2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Http2Server, Path]]:
    ca = trustme.CA()
    directory = tmp_path_factory.mktemp("h2")
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, ca_file = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(ca_file))
    with Http2Server(certfile, keyfile) as server:
        yield server, ca_file


def test_http2_is_negotiated_and_bodies_arrive_whole(
    http2_server: tuple[Http2Server, Path], client_class: type[HttpClient]
) -> None:
    server, ca_file = http2_server
    options = TransportOptions(connect_timeout=5.0, low_speed_time=5.0, ca_bundle=str(ca_file))
    with client_class(options) as client:
        response = client.get(server.url(7))
    assert response.http_version == "2"
    assert response.status == 200
    assert response.body == document(7, 11)
    assert response.content_type == "application/xml"


def test_concurrent_http2_requests_on_the_transfer_thread(
    http2_server: tuple[Http2Server, Path],
) -> None:
    server, ca_file = http2_server
    options = TransportOptions(connect_timeout=5.0, low_speed_time=5.0, ca_bundle=str(ca_file))
    with HttpClient(options, max_transfers=8) as client:
        futures = [client.submit(server.url(n)) for n in range(40)]
        _, not_done = wait(futures, timeout=30)
        assert not not_done
        responses = [future.result() for future in futures]
    assert {response.http_version for response in responses} == {"2"}
    assert [response.body for response in responses] == [document(n, 11) for n in range(40)]
