"""Politeness of the fetch job: --rate spacing per host and Retry-After honoured."""

from __future__ import annotations

import socket
from pathlib import Path

from threadloom.jobs import FetchJob, FetchOptions
from threadloom.server import FaultServer


def test_rate_spaces_request_starts_per_host(tmp_path: Path, server: FaultServer) -> None:
    urls = [server.url(f"/docs/{n}.xml") for n in range(8)]
    options = FetchOptions(jobs=8, per_host=8, rate=20.0, retries=0)
    job = FetchJob(tmp_path / "s.db", options, progress="quiet", record_trace=True)
    result = job.run(url.encode() for url in urls)
    assert result.summary.counts["done"] == 8
    assert result.trace is not None
    starts = sorted(span.start for span in result.trace.spans)
    # 20 requests/s: starts are scheduled 50 ms apart. A worker may pick a task up a
    # little late, so check the spread and a sliding window rather than each gap.
    assert starts[-1] - starts[0] >= 7 * 0.05 - 0.05
    for first in starts:
        in_window = sum(first <= start < first + 0.1 for start in starts)
        assert in_window <= 3, f"more than 2 (+1 late) starts in 100 ms: {starts}"


def test_retry_after_is_honoured(tmp_path: Path, server: FaultServer) -> None:
    url = server.url("/flaky/politeness-429?fail=1&code=429&retry_after=1")
    options = FetchOptions(jobs=1, retries=2, backoff=0.01)
    job = FetchJob(tmp_path / "s.db", options, progress="quiet", record_trace=True)
    result = job.run([url.encode()])
    assert result.summary.counts["done"] == 1
    assert result.trace is not None
    first, second = sorted(result.trace.spans, key=lambda span: span.start)
    assert not first.ok
    assert second.ok
    waited = second.start - first.end
    assert 0.95 <= waited < 3.0, f"Retry-After: 1 asked for 1 s, waited {waited:.2f} s"


def test_retry_after_is_capped(tmp_path: Path, server: FaultServer) -> None:
    url = server.url("/flaky/politeness-cap?fail=1&code=503&retry_after=3600")
    options = FetchOptions(jobs=1, retries=1, backoff=0.01, max_retry_after=0.2)
    job = FetchJob(tmp_path / "s.db", options, progress="quiet")
    result = job.run([url.encode()])
    assert result.summary.counts["done"] == 1
    assert result.summary.elapsed < 5.0, "an hour-long Retry-After is capped"


def test_a_dead_host_does_not_starve_a_healthy_one(tmp_path: Path, server: FaultServer) -> None:
    # 40 URLs of a host that refuses connections come first, then 40 of a healthy one.
    # The dead host's URLs wait out their retries' backoff without a worker and without
    # taking the fetch stage's room, so the healthy host's URLs are all fetched while
    # the dead ones are still waiting for their next attempt.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = [f"http://127.0.0.1:{dead_port}/{n}.xml" for n in range(40)]
    healthy = [server.url(f"/docs/{n}.xml") for n in range(40)]
    options = FetchOptions(jobs=4, per_host=2, retries=2, backoff=1.0)
    job = FetchJob(tmp_path / "s.db", options, progress="quiet", record_trace=True)
    result = job.run(url.encode() for url in dead + healthy)
    assert result.summary.counts["done"] == 40
    assert result.summary.counts["failed"] == 40
    assert result.trace is not None
    healthy_end = max(span.end for span in result.trace.spans if span.ok)
    dead_retries = [span.start for span in result.trace.spans if span.attempt > 1]
    assert len(dead_retries) == 80
    assert healthy_end < min(dead_retries), "the healthy host waited behind the dead one"
