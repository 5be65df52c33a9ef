"""``threadloom fetch --robots`` end to end, through the command line, against the
project's own server on 127.0.0.1 (its request log says what was asked, and when):
disallowed URLs recorded with their reason and never requested, User-Agent groups,
Crawl-delay spacing (with --rate: the stricter wins), one robots.txt per host per run,
what 4xx, 5xx, unreachable, redirected and oversized robots.txt files mean, and nothing
at all without --robots."""

from __future__ import annotations

import itertools
import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.core import Pool, Retry, Stage
from threadloom.jobs._robots import (
    DISALLOWED,
    PARSE_LIMIT,
    RobotsDisallowed,
    RobotsGate,
    parse_robots,
    product_token,
    user_agent_in_use,
)
from threadloom.server import FaultServer, ForwardProxy, LoggedRequest
from threadloom.transport import DEFAULT_USER_AGENT, HttpClient

_UNREACHABLE = f"{DISALLOWED} (unreachable: "


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """A server of its own per test: each test sets its own robots.txt."""
    with FaultServer(documents=20, log_requests=True) as running:
        yield running


def run_fetch(tmp_path: Path, urls: list[str], *args: str, store: str = "out.db") -> str:
    """``threadloom fetch`` in-process; returns its output (exit status 0 or 1 only)."""
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(f"{url}\n" for url in urls), encoding="utf-8")
    result = CliRunner().invoke(main, ["fetch", "-o", str(tmp_path / store), *args, str(listing)])
    assert result.exit_code in (0, 1), result.output
    return result.output


def rows(tmp_path: Path, store: str = "out.db") -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(main, ["export", str(tmp_path / store)])
    assert result.exit_code == 0, result.output
    return {str(row["url"]): row for row in map(json.loads, result.output.splitlines())}


def paths(log: list[LoggedRequest]) -> list[str]:
    return [entry.path for entry in log]


def docs(server: FaultServer, *numbers: int) -> list[str]:
    return [server.document_url(n) for n in numbers]


# -- what is disallowed is recorded, and never requested -------------------------------------


def test_a_disallowed_url_is_recorded_with_its_reason_and_never_requested(
    tmp_path: Path, server: FaultServer
) -> None:
    server.serve("/robots.txt", "User-agent: *\nDisallow: /docs/1.xml\nDisallow: /docs/3\n")
    urls = docs(server, 0, 1, 2, 3, 4)
    report = tmp_path / "report.html"
    output = run_fetch(tmp_path, urls, "--robots", "--report", str(report))

    outcome = rows(tmp_path)
    for n in (1, 3):
        row = outcome[server.document_url(n)]
        assert row["state"] == "failed"
        assert row["error"] == DISALLOWED
        assert row["attempts"] == 0
        assert row["http_status"] is None
    assert all(outcome[server.document_url(n)]["state"] == "done" for n in (0, 2, 4))
    log = server.request_log()
    assert paths(log)[0] == "/robots.txt"
    assert sorted(paths(log)) == ["/docs/0.xml", "/docs/2.xml", "/docs/4.xml", "/robots.txt"]
    # The summary, status (table and JSON) and the report all name the reason.
    assert f"2 │ {DISALLOWED}" in output
    status = CliRunner().invoke(main, ["status", str(tmp_path / "out.db")])
    assert f"2 │ {DISALLOWED}" in status.output
    status_json = CliRunner().invoke(main, ["status", "--json", str(tmp_path / "out.db")])
    assert json.loads(status_json.output)["error_reasons"] == [[DISALLOWED, 2]]
    page = report.read_text(encoding="utf-8")
    assert DISALLOWED in page
    assert "obeyed" in page


def test_without_robots_nothing_changes_and_robots_txt_is_never_requested(
    tmp_path: Path, server: FaultServer
) -> None:
    server.serve("/robots.txt", "User-agent: *\nDisallow: /\n")
    run_fetch(tmp_path, docs(server, 0, 1, 2))
    assert all(row["state"] == "done" for row in rows(tmp_path).values())
    assert "/robots.txt" not in paths(server.request_log())


# -- User-Agent groups -----------------------------------------------------------------------

_GROUPS = """\
User-agent: mybot
Disallow: /docs/1.xml

User-agent: *
Disallow: /docs/2.xml
"""


@pytest.mark.parametrize(
    ("args", "refused", "sent"),
    [
        ((), 2, DEFAULT_USER_AGENT),
        (("-A", "MyBot/2.0 (+https://example.org/bot)"), 1, "MyBot/2.0 (+https://example.org/bot)"),
        # -H replaces the User-Agent -A sets: robots.txt is read for the one sent.
        (("-A", "otherbot/1", "-H", "User-Agent: mybot/3"), 1, "mybot/3"),
        # Another crawler's group is not ours: the * group applies.
        (("-A", "otherbot/1.0"), 2, "otherbot/1.0"),
    ],
)
def test_the_group_of_the_user_agent_in_use_is_obeyed(
    tmp_path: Path, server: FaultServer, args: tuple[str, ...], refused: int, sent: str
) -> None:
    server.serve("/robots.txt", _GROUPS)
    urls = docs(server, 0, 1, 2)
    run_fetch(tmp_path, urls, "--robots", "-H", "X-Crawl: batch 7", *args)
    outcome = rows(tmp_path)
    assert outcome[server.document_url(refused)]["error"] == DISALLOWED
    assert [row["state"] for row in outcome.values()].count("done") == 2
    log = server.request_log()
    assert f"/docs/{refused}.xml" not in paths(log)
    robots = [entry for entry in log if entry.path == "/robots.txt"]
    assert len(robots) == 1
    # robots.txt is asked for as the documents are: same User-Agent, same -H headers.
    assert robots[0].header("User-Agent") == sent
    assert robots[0].header("X-Crawl") == "batch 7"


def test_robots_txt_goes_through_the_proxy_the_documents_go_through(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    server.serve("/robots.txt", "User-agent: *\nDisallow: /docs/1.xml\n")
    urls = docs(server, 0, 1)
    with ForwardProxy() as proxy:
        run_fetch(tmp_path, urls, "--robots", "--proxy", proxy.url)
        relayed = proxy.relayed
    assert relayed == [server.url("/robots.txt"), urls[0]]
    assert rows(tmp_path)[urls[1]]["error"] == DISALLOWED


def test_robots_txt_over_https_uses_the_runs_tls_settings(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with FaultServer(documents=3, tls=context, log_requests=True) as https:
        https.serve("/robots.txt", "User-agent: *\nDisallow: /docs/1.xml\n")
        urls = docs(https, 0, 1, 2)
        run_fetch(tmp_path, urls, "--robots", "--ca-bundle", str(ca_file))
        outcome = rows(tmp_path)
        assert outcome[urls[1]]["error"] == DISALLOWED
        assert outcome[urls[0]]["state"] == outcome[urls[2]]["state"] == "done"
        # Without the CA the certificate fails verification: robots.txt is unreachable
        # at once (no retry would help), so the host is refused, unrequested.
        run_fetch(tmp_path, urls, "--robots", store="no-ca.db")
        refused = rows(tmp_path, "no-ca.db")
        assert all(str(row["error"]).startswith(_UNREACHABLE) for row in refused.values())
        assert [entry.path for entry in https.request_log()].count("/docs/1.xml") == 0


def test_product_token_and_user_agent_in_use() -> None:
    assert product_token(DEFAULT_USER_AGENT) == "threadloom"
    assert product_token("mybot/1.0 (+https://example.org/bot)") == "mybot"
    assert product_token("  My_Bot-x/2") == "My_Bot-x"
    assert product_token("") == ""
    assert product_token("/1.0") == ""
    assert user_agent_in_use("a/1", ("Accept: x",)) == "a/1"
    assert user_agent_in_use("a/1", ("user-agent: b/2", "User-Agent: c/3")) == "c/3"
    assert user_agent_in_use("a/1", ("User-Agent:",)) == ""
    assert user_agent_in_use("a/1", ("User-Agent;",)) == ""


# -- Crawl-delay -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crawl_delay", "rate", "spacing"),
    [
        ("0.3", None, 0.3),
        ("0.3", "10", 0.3),  # Crawl-delay is the stricter
        ("0.1", "2", 0.5),  # --rate is the stricter
    ],
)
def test_crawl_delay_spaces_the_hosts_requests(
    tmp_path: Path, server: FaultServer, crawl_delay: str, rate: str | None, spacing: float
) -> None:
    server.serve("/robots.txt", f"User-agent: *\nCrawl-delay: {crawl_delay}\n")
    extra = ("--rate", rate) if rate is not None else ()
    run_fetch(tmp_path, docs(server, 0, 1, 2, 3), "--robots", "-j", "8", "--per-host", "4", *extra)
    assert all(row["state"] == "done" for row in rows(tmp_path).values())
    log = server.request_log()
    assert paths(log)[0] == "/robots.txt"
    times = [entry.time for entry in log]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Starts are scheduled one interval apart, each after the one before; a transfer
    # reaches the server a little after its start (more on a busy machine: 0.11 s was
    # seen with two CPU hogs), so one gap can shrink by that much, never the sum.
    assert len(gaps) == 4
    assert all(gap >= spacing / 2 for gap in gaps), gaps
    assert times[-1] - times[0] >= 4 * spacing - 0.02, gaps


# -- once per host, per run ------------------------------------------------------------------


def test_robots_txt_is_fetched_once_per_host_before_its_first_document(
    tmp_path: Path, server: FaultServer
) -> None:
    server.serve("/robots.txt", "User-agent: *\nDisallow: /docs/0.xml\n")
    local = [f"http://localhost:{server.port}/docs/{n}.xml" for n in range(8)]
    urls = [url for pair in zip(docs(server, *range(8)), local, strict=True) for url in pair]
    run_fetch(tmp_path, urls, "--robots", "-j", "8", "--per-host", "4")
    outcome = rows(tmp_path)
    assert sum(row["error"] == DISALLOWED for row in outcome.values()) == 2
    assert sum(row["state"] == "done" for row in outcome.values()) == 14
    log = server.request_log()
    assert server.statistics().by_path["/robots.txt"] == 2
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        mine = [entry.path for entry in log if entry.host == host]
        assert mine[0] == "/robots.txt"
        assert mine.count("/robots.txt") == 1
        assert "/docs/0.xml" not in mine


def test_a_resumed_run_reads_robots_txt_again(tmp_path: Path, server: FaultServer) -> None:
    server.serve("/robots.txt", "User-agent: *\nDisallow: /docs/1.xml\n")
    urls = docs(server, 0, 1)
    run_fetch(tmp_path, urls, "--robots")
    assert rows(tmp_path)[urls[1]]["error"] == DISALLOWED
    # The site changes its mind; the next run asks again and fetches the URL it refused.
    server.serve("/robots.txt", "User-agent: *\nAllow: /\n")
    run_fetch(tmp_path, urls, "--robots")
    assert rows(tmp_path)[urls[1]]["state"] == "done"
    assert paths(server.request_log()).count("/robots.txt") == 2


# -- what each robots.txt outcome means ------------------------------------------------------


@pytest.mark.parametrize("status", [404, 403, 410])
def test_no_robots_txt_4xx_allows_everything(
    tmp_path: Path, server: FaultServer, status: int
) -> None:
    if status != 404:  # 404: the server has no /robots.txt route
        server.serve("/robots.txt", "nothing here", status=status)
    run_fetch(tmp_path, docs(server, 0, 1, 2), "--robots")
    assert all(row["state"] == "done" for row in rows(tmp_path).values())
    assert paths(server.request_log()).count("/robots.txt") == 1


def test_a_5xx_robots_txt_is_retried_then_disallows_the_whole_host(
    tmp_path: Path, server: FaultServer
) -> None:
    server.serve("/robots.txt", "down", status=503, headers=[("Retry-After", "0")])
    run_fetch(tmp_path, docs(server, 0, 1, 2), "--robots", "--retries", "2")
    outcome = rows(tmp_path)
    reason = f"{_UNREACHABLE}HTTP 503 Service Unavailable)"
    assert all(row["error"] == reason for row in outcome.values()), outcome
    assert all(row["attempts"] == 0 for row in outcome.values())
    # Three attempts (--retries 2), then nothing else asked of that host.
    assert paths(server.request_log()) == ["/robots.txt"] * 3


def test_a_5xx_robots_txt_that_recovers_on_a_retry_is_obeyed(
    tmp_path: Path, server: FaultServer
) -> None:
    server.serve("/robots.txt", "busy", status=503, headers=[("Retry-After", "0")], times=1)
    server.serve("/robots.txt", "User-agent: *\nDisallow: /docs/1.xml\n")
    urls = docs(server, 0, 1, 2)
    run_fetch(tmp_path, urls, "--robots", "--retries", "1")
    outcome = rows(tmp_path)
    assert outcome[urls[1]]["error"] == DISALLOWED
    assert outcome[urls[0]]["state"] == outcome[urls[2]]["state"] == "done"
    assert paths(server.request_log()).count("/robots.txt") == 2


def test_an_unreachable_robots_txt_disallows_the_whole_host(
    tmp_path: Path, server: FaultServer
) -> None:
    # robots.txt redirects to a route that resets the connection: a network failure.
    server.serve("/robots.txt", status=302, headers=[("Location", "/reset")])
    run_fetch(tmp_path, docs(server, 0, 1), "--robots", "--retries", "0")
    outcome = rows(tmp_path)
    assert all(str(row["error"]).startswith(_UNREACHABLE) for row in outcome.values()), outcome
    asked = paths(server.request_log())
    # libcurl asks a reset connection's request again once on a new connection itself.
    assert asked[0] == "/robots.txt"
    assert set(asked[1:]) == {"/reset"}


def test_redirects_are_followed_and_a_chain_that_cannot_be_followed_allows_all(
    tmp_path: Path, server: FaultServer
) -> None:
    server.serve("/robots.txt", status=301, headers=[("Location", "/site/robots.txt")])
    server.serve("/site/robots.txt", "User-agent: *\nDisallow: /docs/1.xml\n")
    urls = docs(server, 0, 1)
    run_fetch(tmp_path, urls, "--robots")
    assert rows(tmp_path)[urls[1]]["error"] == DISALLOWED
    assert rows(tmp_path)[urls[0]]["state"] == "done"

    # Endless redirects: more than --max-redirects is "no robots.txt" (RFC 9309 2.3.1.2).
    server.serve("/robots.txt", status=302, headers=[("Location", "/redirect-loop")])
    run_fetch(tmp_path, urls, "--robots", "--max-redirects", "3", store="loop.db")
    assert all(row["state"] == "done" for row in rows(tmp_path, "loop.db").values())


def test_an_oversized_robots_txt_is_parsed_up_to_the_limit(
    tmp_path: Path, server: FaultServer
) -> None:
    padding = "# padding to push the next rule past the parse limit\n" * (PARSE_LIMIT // 50)
    body = f"User-agent: *\nDisallow: /docs/1.xml\n{padding}Disallow: /docs/2.xml\n"
    assert len(body) > PARSE_LIMIT
    server.serve("/robots.txt", body)
    urls = docs(server, 0, 1, 2)
    run_fetch(tmp_path, urls, "--robots")
    outcome = rows(tmp_path)
    assert outcome[urls[1]]["error"] == DISALLOWED
    assert outcome[urls[2]]["state"] == "done", "a rule past the parse limit is ignored"


def test_parse_robots_cuts_at_a_line_break_and_reads_the_crawl_delay() -> None:
    rule = b"Disallow: /secret\n"
    body = b"User-agent: *\nCrawl-delay: 2.5\n" + b"#" * (PARSE_LIMIT - 40) + b"\n" + rule
    rules = parse_robots(body, "threadloom")
    assert rules.crawl_delay == 2.5
    assert rules.refusal_for("http://h/secret", "threadloom") is None
    whole = parse_robots(b"\xef\xbb\xbfUser-agent: *\n" + rule, "threadloom")
    assert whole.refusal_for("http://h/secret", "threadloom") == DISALLOWED
    assert whole.refusal_for("http://h/robots.txt", "threadloom") is None


# -- Ctrl-C ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("robots", "waits_for"),
    [
        # robots.txt never comes: every URL of the host waits for it.
        ({"status": 302, "headers": [("Location", "/stall")]}, "/stall"),
        # A day between requests, counted from robots.txt: every URL waits for it.
        ({"body": "User-agent: *\nCrawl-delay: 86400\n"}, "/robots.txt"),
    ],
)
def test_ctrl_c_stops_a_run_waiting_for_robots_txt_or_a_crawl_delay(
    tmp_path: Path,
    server: FaultServer,
    robots: dict[str, object],
    waits_for: str,
    threadloom_process: Callable[..., Any],
) -> None:
    server.serve("/robots.txt", **robots)  # type: ignore[arg-type]
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(f"{url}\n" for url in docs(server, 0, 1, 2)), encoding="utf-8")
    store = tmp_path / "out.db"
    process = threadloom_process("fetch", "--robots", "-o", str(store), str(listing))
    stopped = process.interrupt(
        lambda: server.wait_for(lambda stats: waits_for in stats.by_path, timeout=30)
    )
    assert stopped.returncode == 130, stopped.output
    assert stopped.seconds < 3.0
    status = json.loads(CliRunner().invoke(main, ["status", "--json", str(store)]).output)
    assert status["pending"] == 3, "the URLs still waiting stay to do"


def test_a_client_closed_under_a_robots_fetch_refuses_instead_of_leaving_urls_waiting(
    server: FaultServer,
) -> None:
    # robots.txt stalls; the run ends (its client closes) while it is in flight.
    server.serve("/robots.txt", status=302, headers=[("Location", "/stall")])
    client = HttpClient()
    gate = RobotsGate(client, "mybot/1.0")
    stage = gate.stage(Stage(str, key=lambda url: url, retry=Retry(attempts=3)), url=str)
    with Pool(1) as timers, Pool(1) as fetch_pool:
        gate.attach(timers=timers, fetch_pool=fetch_pool)
        decided = stage.fn(server.document_url(0))
        assert server.wait_for(lambda stats: "/stall" in stats.by_path, timeout=30)
        client.close()
        error = decided.exception(timeout=30)
    assert isinstance(error, RobotsDisallowed)
    assert error.reason.startswith(_UNREACHABLE)
