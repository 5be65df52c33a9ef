"""``threadloom fetch`` over HTTPS: verified by default, ``--ca-bundle`` for a private CA,
``--insecure`` to turn verification off; a refused certificate fails the URL with a reason."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def https_server(ca: trustme.CA) -> Iterator[FaultServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FaultServer(documents=10, tls=context) as server:
        yield server


def _fetch(
    tmp_path: Path, server: FaultServer, *options: str
) -> tuple[int, list[dict[str, object]]]:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.document_url(n) + "\n" for n in range(5)))
    store = tmp_path / "s.db"
    args = ["fetch", "-q", "--retries", "0", "-o", str(store), *options, str(urls)]
    code = CliRunner().invoke(main, args).exit_code
    if code == 2:
        return code, []
    exported = CliRunner().invoke(main, ["export", str(store), "--format", "jsonl"])
    rows = [json.loads(line) for line in exported.output.splitlines()]
    return code, rows


def test_a_private_ca_through_ca_bundle(
    tmp_path: Path, https_server: FaultServer, ca: trustme.CA
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    code, rows = _fetch(tmp_path, https_server, "--ca-bundle", str(ca_file))
    assert code == 0
    assert [row["state"] for row in rows] == ["done"] * 5


def test_an_unverifiable_certificate_fails_each_url_with_a_reason(
    tmp_path: Path, https_server: FaultServer
) -> None:
    code, rows = _fetch(tmp_path, https_server)
    assert code == 1
    assert {row["state"] for row in rows} == {"failed"}
    assert all("certificate" in str(row["error"]).lower() for row in rows)
    assert all(row["attempts"] == 1 for row in rows), "not retried: it cannot help"


def test_insecure_turns_verification_off(tmp_path: Path, https_server: FaultServer) -> None:
    code, rows = _fetch(tmp_path, https_server, "--insecure")
    assert code == 0
    assert [row["state"] for row in rows] == ["done"] * 5


def test_a_missing_ca_bundle_is_a_usage_error(tmp_path: Path, https_server: FaultServer) -> None:
    code, _ = _fetch(tmp_path, https_server, "--ca-bundle", str(tmp_path / "nope.pem"))
    assert code == 2
