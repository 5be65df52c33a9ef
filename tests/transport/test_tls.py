"""HTTPS against the FaultServer with a certificate from a test CA (trustme): verification
on by default, a private CA through ``ca_bundle``, and ``verify_tls=False``."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from threadloom.server import FaultServer, ForwardProxy, document
from threadloom.transport import HttpClient, TlsError, TransportOptions

from .conftest import FAST


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, *names: str) -> FaultServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return FaultServer(documents=20, seed=11, tls=context)


@pytest.fixture(scope="module")
def https_server(ca: trustme.CA) -> Iterator[FaultServer]:
    with _tls_server(ca, "127.0.0.1") as server:
        yield server


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_the_base_url_is_https(https_server: FaultServer) -> None:
    assert https_server.base_url.startswith("https://127.0.0.1:")


def test_a_private_ca_verifies(
    https_server: FaultServer, ca_file: Path, client_class: type[HttpClient]
) -> None:
    options = TransportOptions(
        connect_timeout=FAST.connect_timeout,
        low_speed_time=FAST.low_speed_time,
        ca_bundle=str(ca_file),
    )
    before = https_server.statistics().connections
    with client_class(options) as client:
        response = client.get(https_server.document_url(3))
        assert response.status == 200
        assert response.body == document(3, 11)
        assert response.final_url.startswith("https://")
        # The connection is kept alive and reused for the next request.
        assert client.get(https_server.document_url(4)).body == document(4, 11)
    assert https_server.statistics().connections == before + 1


def test_an_unknown_ca_is_refused_by_default(
    https_server: FaultServer, client_class: type[HttpClient]
) -> None:
    with client_class(FAST) as client, pytest.raises(TlsError) as caught:
        client.get(https_server.document_url(1))
    assert not caught.value.retryable, "a certificate problem does not go away by retrying"
    assert "certificate" in caught.value.reason.lower()


def test_a_certificate_for_another_name_is_refused(
    ca: trustme.CA, ca_file: Path, client_class: type[HttpClient]
) -> None:
    options = TransportOptions(connect_timeout=5.0, low_speed_time=5.0, ca_bundle=str(ca_file))
    with (
        _tls_server(ca, "example.test") as server,
        client_class(options) as client,
        pytest.raises(TlsError) as caught,
    ):
        client.get(server.document_url(1))
    assert not caught.value.retryable


def test_verification_can_be_turned_off(
    https_server: FaultServer, client_class: type[HttpClient]
) -> None:
    options = TransportOptions(connect_timeout=5.0, low_speed_time=5.0, verify_tls=False)
    with client_class(options) as client:
        assert client.get(https_server.document_url(2)).body == document(2, 11)


def test_https_goes_through_the_https_proxy_of_the_environment(
    https_server: FaultServer,
    ca_file: Path,
    client_class: type[HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An https URL is tunnelled (CONNECT) through ``https_proxy``, the certificate is
    still the origin's and verified; ``http_proxy`` alone is not used for it."""
    for name in ("http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    options = TransportOptions(ca_bundle=str(ca_file))
    with ForwardProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        with client_class(options) as client:
            assert client.get(https_server.url("/docs/1.xml")).status == 200
        assert proxy.relayed == []
        monkeypatch.setenv("https_proxy", proxy.url)
        with client_class(options) as client:
            assert client.get(https_server.url("/docs/1.xml")).status == 200
        assert proxy.relayed == [f"CONNECT 127.0.0.1:{https_server.port}"]
