"""``threadloom fetch --auto-throttle`` against a host that answers C requests at a time."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.jobs._throttling import fetch_throttle, is_overload
from threadloom.server import FaultServer

pytestmark = pytest.mark.timeout(120)

CAPACITY = 8
DOCUMENTS = 800


def fetch_capacity_host(
    tmp_path: Path, server: FaultServer, name: str, documents: int, *flags: str
) -> list[int]:
    urls = tmp_path / f"{name}.txt"
    urls.write_text(
        "".join(
            server.url(f"/capacity/{CAPACITY}/{name}?base=20&retry_after=0&n={n}") + "\n"
            for n in range(documents)
        )
    )
    store = tmp_path / f"{name}.db"
    args = ["fetch", "-q", "-j", "32", "--per-host", "16", *flags, "-o", str(store), str(urls)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return server.capacity.in_flight_seen(name)


def test_auto_throttle_converges_to_the_capacity_of_the_host(
    tmp_path: Path, server: FaultServer
) -> None:
    seen = fetch_capacity_host(tmp_path, server, "auto", DOCUMENTS, "--auto-throttle")
    refused = server.capacity.refused("auto")
    settled = seen[len(seen) // 4 :]
    # About C in flight once the first quarter is over (a sawtooth around it), and no
    # more than 2C (the 503 threshold): a few 503s at most, in slow start.
    assert CAPACITY / 2 <= statistics.mean(settled) <= CAPACITY + 3, settled
    assert max(settled) <= 2 * CAPACITY
    assert refused <= 16

    # Without it, --per-host 16 keeps about 16 in flight at the same host (fewer
    # documents: each takes 9 x base there).
    fixed = fetch_capacity_host(tmp_path, server, "fixed", 200)
    assert statistics.mean(fixed[len(fixed) // 4 :]) > CAPACITY + 3


def test_the_policy_follows_per_host_and_knows_overload() -> None:
    policy = fetch_throttle(16)
    assert (policy.min_limit, policy.initial_limit, policy.max_limit) == (1, 2, 16)
    assert fetch_throttle(1).initial_limit == 1
    assert is_overload(TimeoutError())
    assert not is_overload(ValueError())


def test_help_documents_the_option() -> None:
    result = CliRunner().invoke(main, ["fetch", "--help"])
    assert "--auto-throttle" in result.output
    assert "Default: off" in result.output


def test_the_report_draws_the_per_host_limit_over_time(tmp_path: Path, server: FaultServer) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(
        "".join(server.url(f"/capacity/4/report?base=10&n={n}") + "\n" for n in range(150))
    )
    report = tmp_path / "report.html"
    args = ["fetch", "-q", "--per-host", "16", "--auto-throttle", "--report", str(report)]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "r.db"), str(urls)])
    assert result.exit_code == 0, result.output
    page = report.read_text()
    assert "<h2>Per-host limit</h2>" in page
    assert '<svg id="limits"' in page
    assert "<title>127.0.0.1:" in page  # the host's line names it

    plain = tmp_path / "plain.html"
    args = ["fetch", "-q", "--report", str(plain), "-o", str(tmp_path / "p.db"), str(urls)]
    assert CliRunner().invoke(main, [*args]).exit_code == 0
    assert "Per-host limit" not in plain.read_text()
