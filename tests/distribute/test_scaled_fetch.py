"""A fetch run by Dask worker processes ends as a single-process fetch does, holds the
per-host limit across the processes, and survives a worker killed mid-run."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import distributed
import pytest

from threadloom.distribute import DistributedFetchJob, ScaleOut, ShardTask, plan, run_shard
from threadloom.jobs import FetchJob, FetchOptions, FetchResult
from threadloom.server import FaultServer
from threadloom.server._documents import document
from threadloom.store import Outcome, State, open_store, shard_tally

pytestmark = pytest.mark.timeout(120)

View = Callable[[Path], dict[str, tuple[str, str | None]]]


def _faulty_lines(server: FaultServer) -> list[str]:
    """Plain documents and every fault the server has, with invalid lines and duplicates."""
    lines = [server.url(f"/docs/{n}.xml") for n in range(60)]
    lines += [server.url(f"/flaky/f{n}?fail=2") for n in range(6)]
    lines += [server.url(f"/flaky/r{n}?fail=1&code=429&retry_after=1") for n in range(3)]
    lines += [server.url("/reset"), server.url("/truncate?size=2000&send=100")]
    lines += [server.url(f"/redirect/{n}?doc={n}") for n in range(1, 4)]
    lines += [server.url("/redirect-loop"), server.url("/bytes?size=300000")]
    lines += [server.url("/status/404"), server.url("/status/503")]
    lines += ["not a url", "ftp://example.invalid/x", "", "# a comment"]
    lines += [server.url(f"/docs/{n}.xml") for n in range(0, 60, 7)]  # duplicates
    return lines


_OPTIONS = FetchOptions(
    jobs=8, per_host=4, retries=2, backoff=0.05, max_size=200_000, max_redirects=3, timeout=5
)


# Both ways a shard's outcomes reach the run's store: recorded there by the workers
# (shared, what --processes does) or merged from shard stores (what --cluster does).
shared_or_merged = pytest.mark.parametrize("shared", [True, False], ids=["shared", "merged"])


@shared_or_merged
def test_same_results_as_one_process(
    tmp_path: Path, cluster_address: str, store_view: View, shared: bool
) -> None:
    # Two servers with the same documents: /flaky counts per server, so each run sees
    # the same faults. URLs are compared by path.
    with FaultServer(documents=60) as one, FaultServer(documents=60) as two:
        single = FetchJob(tmp_path / "single.db", _OPTIONS, progress="quiet").run(
            _faulty_lines(one)
        )
        scaled = DistributedFetchJob(
            tmp_path / "scaled.db",
            _OPTIONS,
            ScaleOut(cluster=cluster_address, shard_size=10, shared_store=shared),
            progress="quiet",
        ).run(_faulty_lines(two))
    expected = store_view(tmp_path / "single.db")
    assert store_view(tmp_path / "scaled.db") == expected
    states = {state for state, _ in expected.values()}
    assert states == {"done", "failed", "invalid"}, "the input covers every end state"
    assert scaled.summary.counts == single.summary.counts
    assert scaled.summary.finished_this_run == single.summary.finished_this_run
    assert scaled.added == single.added
    assert not (tmp_path / "scaled.db.shards").exists(), "merged shards are removed"


@shared_or_merged
def test_per_host_limit_holds_across_processes(
    tmp_path: Path, cluster_address: str, store_view: View, shared: bool
) -> None:
    options = FetchOptions(jobs=8, per_host=4, retries=0)
    # Both worker processes run shards at once, each allowed 2 of the host's 4.
    assert plan(options, slots=2).shard_options.per_host == 2
    with FaultServer(documents=200, latency=2.0) as server:
        result = DistributedFetchJob(
            tmp_path / "s.db",
            options,
            ScaleOut(cluster=cluster_address, shard_size=20, shared_store=shared),
            progress="quiet",
            record_trace=True,
        ).run([server.url(f"/docs/{n}.xml") for n in range(200)])
        stats = server.statistics()
    assert result.summary.counts["done"] == 200
    host = f"127.0.0.1:{server.port}"
    assert stats.max_in_flight_by_host[host] <= 4
    assert stats.max_in_flight_by_host[host] >= 3, "both processes fetched at once"
    assert result.trace is not None
    workers = {span.pool.partition("@")[2] for span in result.trace.spans}
    assert len(workers) == 2, f"one group of lanes per worker process: {workers}"


@shared_or_merged
def test_a_worker_killed_mid_run(
    tmp_path: Path, cluster_address: str, store_view: View, shared: bool
) -> None:
    client = distributed.Client(cluster_address, set_as_default=False)
    try:
        pids = list(client.run(os.getpid).values())
        assert len(pids) == 2
        with FaultServer(documents=300, latency=1.0) as server:
            job = DistributedFetchJob(
                tmp_path / "s.db",
                FetchOptions(jobs=4, per_host=8, retries=0),
                ScaleOut(cluster=cluster_address, shard_size=25, shared_store=shared),
                progress="quiet",
            )
            results: list[FetchResult] = []
            runner = threading.Thread(
                target=lambda: results.append(
                    job.run([server.url(f"/docs/{n}.xml") for n in range(300)])
                )
            )
            runner.start()
            assert server.wait_for(lambda s: s.requests >= 60, timeout=30)
            os.kill(pids[0], signal.SIGKILL)
            runner.join(90)
            assert not runner.is_alive()
        view = store_view(tmp_path / "s.db")
        assert len(view) == 300
        assert all(state == "done" for state, _ in view.values())
        for n in range(300):
            digest = hashlib.sha256(document(n, server.seed)).hexdigest()
            assert view[f"docs/{n}.xml"][1] == digest
        assert results[0].summary.finished_this_run == 300
        # The nanny restarts the worker: the module's cluster has two again.
        client.wait_for_workers(2, timeout=30)
    finally:
        client.close()


@shared_or_merged
def test_progress_events_arrive_while_a_shard_runs(
    cluster_address: str, tmp_path: Path, shared: bool
) -> None:
    # One shard of slow documents: its worker reports documents as they finish, so
    # the client hears of them long before the shard ends.
    client = distributed.Client(cluster_address, set_as_default=False)
    heard = threading.Event()
    try:
        client.subscribe_topic("test-progress", lambda event: heard.set())
        with (
            FaultServer(documents=100, latency=3.0) as server,
            open_store(tmp_path / "run.db") as store,
        ):
            urls = tuple(server.url(f"/docs/{n}.xml") for n in range(100))
            store.add_urls(urls)
            task = ShardTask(
                number=1,
                directory=str(tmp_path / "shard"),
                urls=urls,
                options=FetchOptions(jobs=2, per_host=2, retries=0),
                topic="test-progress",
                store=str(tmp_path / "run.db") if shared else None,
                since=time.time(),
            )
            future = client.submit(run_shard, task, pure=False)
            assert heard.wait(30), "no progress event"
            assert not future.done(), "the first event came before the shard ended"
            result = future.result(timeout=60)
            assert store.counts().done == (100 if shared else 0)
        assert result.finished == 100
        assert result.worker.startswith("worker ")
    finally:
        client.close()


def test_shards_in_flight_stay_bounded(tmp_path: Path, cluster_address: str) -> None:
    client = distributed.Client(cluster_address, set_as_default=False)
    try:
        with FaultServer(documents=1000) as server:
            job = DistributedFetchJob(
                tmp_path / "s.db",
                FetchOptions(jobs=4, per_host=4, retries=0),
                ScaleOut(cluster=cluster_address, shard_size=20),
                progress="quiet",
            )
            ended = threading.Event()
            results: list[FetchResult] = []

            def run() -> None:
                try:
                    results.append(job.run(server.url(f"/docs/{n}.xml") for n in range(1000)))
                finally:
                    ended.set()

            runner = threading.Thread(target=run)
            runner.start()
            most = 0
            while not ended.wait(0.02):
                tasks = client.run_on_scheduler(_shard_tasks)
                most = max(most, tasks)
            runner.join(10)
        assert results[0].summary.counts["done"] == 1000
        # 50 shards; 2 lanes, 2 shards each submitted at most (running or waiting).
        assert 1 <= most <= 4, most
    finally:
        client.close()


def _shard_tasks(dask_scheduler: distributed.Scheduler) -> int:
    return sum(
        1
        for key, task in dask_scheduler.tasks.items()
        if str(key).startswith("threadloom-shard-") and task.state != "memory"
    )


@shared_or_merged
def test_a_directory_store_and_export(tmp_path: Path, cluster_address: str, shared: bool) -> None:
    with FaultServer(documents=40) as server:
        result = DistributedFetchJob(
            f"{tmp_path}/out/",
            FetchOptions(jobs=4, per_host=4, retries=0),
            ScaleOut(cluster=cluster_address, shard_size=10, shared_store=shared),
            progress="quiet",
        ).run([server.url(f"/docs/{n}.xml") for n in range(40)])
    assert result.summary.counts["done"] == 40
    files = sorted(p for p in (tmp_path / "out").rglob("*.xml"))
    assert len(files) == 40
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in files} == {
        hashlib.sha256(document(n, server.seed)).hexdigest() for n in range(40)
    }


def test_cli_shard_size_default_is_the_library_default() -> None:
    from threadloom.cli import fetch as fetch_command
    from threadloom.distribute import DEFAULT_SHARD_SIZE

    assert fetch_command.DEFAULT_SHARD_SIZE == DEFAULT_SHARD_SIZE


def test_processes_and_cluster_exclude_each_other(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from threadloom.cli import main

    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/x\n")
    out = CliRunner().invoke(
        main,
        ["fetch", str(urls), "-o", str(tmp_path / "s.db"), "--processes", "2", "--cluster", "x"],
    )
    assert out.exit_code == 2
    assert "--processes and --cluster exclude each other" in out.output


@shared_or_merged
def test_the_progress_line_ends_on_the_runs_total(
    tmp_path: Path, cluster_address: str, capsys: pytest.CaptureFixture[str], shared: bool
) -> None:
    with FaultServer(documents=50) as server:
        lines = [server.url(f"/docs/{n}.xml") for n in range(50)] + [server.url("/status/404")]
        result = DistributedFetchJob(
            tmp_path / "s.db",
            FetchOptions(jobs=4, per_host=4, retries=0),
            ScaleOut(cluster=cluster_address, shard_size=10, shared_store=shared),
            progress="plain",
        ).run(lines)
    assert result.summary.finished_this_run == 51
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("fetch: 51/51 (50 done, 1 failed)"), last


@pytest.mark.parametrize("records", [False, True], ids=["no-records", "second-attempt"])
def test_a_shard_run_again_fetches_only_what_it_has_not_recorded(
    tmp_path: Path, records: bool
) -> None:
    # The task of a worker killed mid-shard runs again: the shard's URLs its first
    # attempt recorded in the run's store (shared) are not fetched again. A task with
    # the client's records knows it is not the first attempt by its directory, which
    # the first one created.
    directory = tmp_path / "shard-1"
    if records:
        directory.mkdir()
    with FaultServer(documents=10) as server:
        urls = [server.url(f"/docs/{n}.xml") for n in range(10)]
        with open_store(tmp_path / "s.db") as store:
            store.add_urls(urls)
            taken = tuple(
                (record.seq, record.url, record.state.value, record.attempts)
                for record in store.pending()
            )
            since = time.time()
            for n in range(4):
                store.record(Outcome(urls[n], State.DONE, 200, document(n, server.seed), 1))
            store.flush()
            before = server.statistics().requests
            task = ShardTask(
                number=1,
                directory=str(directory),
                urls=tuple(urls),
                options=FetchOptions(jobs=2, per_host=2, retries=0),
                store=str(tmp_path / "s.db"),
                since=since,
                records=taken if records else (),
            )
            result = run_shard(task)
            assert result.finished == 6
            assert server.statistics().requests - before == 6
            assert store.counts().done == 10
            assert result.tally == shard_tally(store, urls, since)
            assert result.tally is not None
            assert result.tally.done == 10
            assert store.read_body(urls[9]) == document(9, server.seed)
    assert directory.exists() == records, "a marker only where one was (no shard store)"
    assert not (directory / "shard.db").exists()


def test_a_first_attempt_fetches_the_records_it_was_given(tmp_path: Path) -> None:
    # No look-up: the records are the URLs still to do when the client took them (here
    # one of them was recorded since, which no run does: a look-up would skip it). The
    # attempt leaves its marker directory (removed by the client at the end of the run)
    # and reports its own counts.
    with FaultServer(documents=6) as server:
        urls = [server.url(f"/docs/{n}.xml") for n in range(6)] + [server.url("/status/404")]
        with open_store(tmp_path / "s.db") as store:
            store.add_urls(urls)
            taken = tuple((r.seq, r.url, r.state.value, r.attempts) for r in store.pending())
            store.record(Outcome(urls[0], State.DONE, 200, document(0, server.seed), 1))
            store.flush()
            since = time.time()
            before = server.statistics().requests
            task = ShardTask(
                number=1,
                directory=str(tmp_path / "shards" / "shard-1"),
                urls=tuple(urls),
                options=FetchOptions(jobs=2, per_host=2, retries=0),
                store=str(tmp_path / "s.db"),
                since=since,
                records=taken,
            )
            result = run_shard(task)
            assert server.statistics().requests - before == 7, "all 7, no look-up"
            assert result.tally == shard_tally(store, urls, since)
            assert result.tally is not None
            assert (result.tally.done, result.tally.failed) == (6, 1)
            assert result.tally.bytes == sum(len(document(n, server.seed)) for n in range(6))
    assert (tmp_path / "shards" / "shard-1").is_dir()


def test_a_jsonl_store_gets_shard_stores(tmp_path: Path, cluster_address: str) -> None:
    # Its one file takes one appender: the workers write shard stores even when asked
    # to share the run's store, and the client merges them.
    with FaultServer(documents=30) as server:
        result = DistributedFetchJob(
            tmp_path / "out.jsonl",
            FetchOptions(jobs=4, per_host=4, retries=0),
            ScaleOut(cluster=cluster_address, shard_size=10, shared_store=True),
            progress="quiet",
        ).run([server.url(f"/docs/{n}.xml") for n in range(30)])
    assert result.summary.counts["done"] == 30
    with open_store(tmp_path / "out.jsonl", readonly=True) as store:
        for n in range(30):
            assert store.read_body(server.url(f"/docs/{n}.xml")) == document(n, server.seed)
    assert not (tmp_path / "out.jsonl.shards").exists()
