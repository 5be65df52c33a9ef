"""``threadloom fetch --processes/--cluster`` as a user runs it: real subprocesses, a real
LocalCluster (or a scheduler and workers started here), Ctrl-C and kill -9."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from threadloom.server import FaultServer
from threadloom.server._documents import document

pytestmark = pytest.mark.timeout(180)

View = Callable[[Path], dict[str, tuple[str, str | None]]]
BIN = Path(sys.executable).parent
DASK = str(BIN / "dask")


def _threadloom(*args: str) -> list[str]:
    return [sys.executable, "-m", "threadloom", *args]


@pytest.fixture(scope="module")
def slow_server() -> Iterator[FaultServer]:
    """Documents answered after ~60 ms (median), so a run lasts long enough to stop."""
    with FaultServer(documents=1500, latency=3.0) as server:
        yield server


def _url_list(tmp_path: Path, server: FaultServer, count: int) -> Path:
    path = tmp_path / "urls.txt"
    path.write_text("".join(server.url(f"/docs/{n}.xml") + "\n" for n in range(count)))
    return path


def _all_done_right(view: dict[str, tuple[str, str | None]], server: FaultServer, n: int) -> None:
    assert len(view) == n
    for k in range(n):
        state, digest = view[f"docs/{k}.xml"]
        assert state == "done", (k, state)
        assert digest == hashlib.sha256(document(k, server.seed)).hexdigest()


def test_a_plain_fetch_imports_no_dask(tmp_path: Path, slow_server: FaultServer) -> None:
    urls = _url_list(tmp_path, slow_server, 3)
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['threadloom', 'fetch', {str(urls)!r}, '-o',"
        f" {str(tmp_path / 's.db')!r}, '-q']\n"
        "try:\n    runpy.run_module('threadloom', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_without_dask_one_line_and_exit_2(tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/x\n")
    # A finder that hides distributed, as on an install without the dask extra.
    code = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import importlib.util\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'distributed' else"
        " importlib.machinery.PathFinder.find_spec(name)\n"
        "from threadloom.cli import main\n"
        f"sys.argv = ['threadloom', 'fetch', {str(urls)!r}, '-o', {str(tmp_path / 's.db')!r},"
        " '--processes', '2']\n"
        "main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "--processes needs Dask: pip install 'threadloom[dask]'" in out.stderr
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--refresh"], "--refresh"),
        (["--refresh-older-than", "1h"], "--refresh"),
        (["--robots"], "--robots"),
        (["--auto-throttle"], "--auto-throttle"),
        (["--process", "xml"], "--process with input columns"),
    ],
)
def test_what_a_scaled_out_run_does_not_do_is_refused(
    tmp_path: Path, args: list[str], names: str
) -> None:
    listing = tmp_path / "urls.csv"  # columns: they matter to --process only
    listing.write_text("url,caption\nhttp://127.0.0.1:9/x,a\n")
    out = subprocess.run(
        _threadloom("fetch", str(listing), "-o", str(tmp_path / "s.db"), "--processes", "2", *args),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert f"{names} cannot be combined with --processes or --cluster yet" in out.stderr
    assert not (tmp_path / "s.db").exists()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return alive


def test_ctrl_c_stops_everything_and_resumes(
    tmp_path: Path, slow_server: FaultServer, store_view: View
) -> None:
    urls = _url_list(tmp_path, slow_server, 1500)
    store = tmp_path / "s.db"
    args = _threadloom("fetch", str(urls), "-o", str(store), "--processes", "2", "-q")
    args += ["--shard-size", "100"]
    before = slow_server.statistics().requests
    proc = subprocess.Popen(args, start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        assert slow_server.wait_for(lambda s: s.requests >= before + 150, timeout=60)
        workers = _children(proc.pid)
        assert len([p for p in workers if "python" in p.name().lower()]) >= 2
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        started = time.monotonic()
        assert proc.wait(10) == 130
        assert time.monotonic() - started < 5.0
        assert _wait_gone(workers, 5.0) == [], "every worker process stopped"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    again = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    _all_done_right(store_view(store), slow_server, 1500)


def test_client_killed_then_rerun(
    tmp_path: Path, slow_server: FaultServer, store_view: View
) -> None:
    urls = _url_list(tmp_path, slow_server, 1500)
    store = tmp_path / "s.db"
    args = _threadloom("fetch", str(urls), "-o", str(store), "--processes", "2", "-q")
    args += ["--shard-size", "100"]
    before = slow_server.statistics().requests
    proc = subprocess.Popen(args, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        assert slow_server.wait_for(lambda s: s.requests >= before + 400, timeout=60)
        workers = _children(proc.pid)
        proc.kill()
        proc.wait(10)
        # Dask's workers exit when the process that started them dies.
        assert _wait_gone(workers, 15.0) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    again = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    _all_done_right(store_view(store), slow_server, 1500)
    assert not Path(str(store) + ".shards").exists()


def test_streaming_input_from_a_pipe(
    tmp_path: Path, slow_server: FaultServer, store_view: View, cluster_address: str
) -> None:
    store = tmp_path / "s.db"
    args = _threadloom("fetch", "-", "-o", str(store), "--cluster", cluster_address, "-q")
    proc = subprocess.Popen([*args, "--shard-size", "1000"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    before = slow_server.statistics().requests
    try:
        first = "".join(slow_server.url(f"/docs/{n}.xml") + "\n" for n in range(20))
        proc.stdin.write(first.encode())
        proc.stdin.flush()
        # A partial shard goes out while the pipe stays open: fetched before input ends.
        assert slow_server.wait_for(lambda s: s.requests >= before + 20, timeout=30)
        rest = "".join(slow_server.url(f"/docs/{n}.xml") + "\n" for n in range(20, 60))
        proc.stdin.write(rest.encode())
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    _all_done_right(store_view(store), slow_server, 60)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _scheduler() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A ``dask scheduler`` on the loopback; yields its address and the list of the
    processes to stop at the end (the caller adds its workers)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    # The tests listen on the loopback only.
    scheduler += ["--dashboard-address", "127.0.0.1:0", "--no-show"]
    started = [subprocess.Popen(scheduler, stderr=subprocess.DEVNULL)]
    try:
        yield address, started
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _worker(address: str, name: str) -> list[str]:
    worker = [DASK, "worker", address, "--nthreads", "1", "--name", name]
    return [*worker, "--host", "127.0.0.1", "--no-dashboard"]


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=60)


def _fetch_one_url(tmp_path: Path, store: Path, address: str) -> subprocess.CompletedProcess[str]:
    """``threadloom fetch`` of one URL into ``store`` on the cluster at ``address``."""
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/x\n")
    return subprocess.run(
        _threadloom("fetch", str(urls), "-o", str(store), "--cluster", address),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_real_cluster(tmp_path: Path, slow_server: FaultServer, store_view: View) -> None:
    with _scheduler() as (address, started):
        for n in range(2):
            started.append(subprocess.Popen(_worker(address, f"w{n}"), stderr=subprocess.DEVNULL))
        _wait_for_workers(address, 2)
        urls = _url_list(tmp_path, slow_server, 200)
        store = tmp_path / "s.db"
        out = subprocess.run(
            _threadloom(
                "fetch",
                str(urls),
                "-o",
                str(store),
                "--cluster",
                address,
                "--shard-size",
                "40",
                "--trace",
                str(tmp_path / "t.json"),
            ),
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        _all_done_right(store_view(store), slow_server, 200)
        trace = (tmp_path / "t.json").read_text()
        assert "job-fetch@worker w0" in trace
        assert "job-fetch@worker w1" in trace
        # A scheduler that is not there: one line, exit 2.
        bad = subprocess.run(
            _threadloom(
                "fetch", str(urls), "-o", str(tmp_path / "x.db"), "--cluster", "tcp://127.0.0.1:9"
            ),
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2
        assert "cannot reach the Dask scheduler" in bad.stderr


_HIDE_THREADLOOM = """
import sys


class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "threadloom" or name.startswith("threadloom."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hide())
"""

_HIDE_THREADLOOM_PACKAGE = (
    _HIDE_THREADLOOM
    + """
import importlib.metadata

_version = importlib.metadata.version


def _no_threadloom(name):
    if name == "threadloom":
        raise importlib.metadata.PackageNotFoundError(name)
    return _version(name)


importlib.metadata.version = _no_threadloom
"""
)


@pytest.mark.parametrize("lacks", ["package", "module", "version"])
def test_workers_without_this_threadloom_are_refused(tmp_path: Path, lacks: str) -> None:
    # A worker whose environment has no threadloom (a sitecustomize hides the package
    # and its metadata), whose threadloom cannot be imported (metadata left: the probe
    # finds it), or that holds another version (a distribution's metadata found first):
    # one line, exit 2, before any input is taken; not every shard failing.
    extra = tmp_path / "extra"
    extra.mkdir()
    if lacks == "package":
        (extra / "sitecustomize.py").write_text(_HIDE_THREADLOOM_PACKAGE)
    elif lacks == "module":
        (extra / "sitecustomize.py").write_text(_HIDE_THREADLOOM)
    else:
        info = extra / "threadloom-9.9.9.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: threadloom\nVersion: 9.9.9\n")
    path = os.pathsep.join(p for p in (str(extra), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    with _scheduler() as (address, started):
        started.append(subprocess.Popen(_worker(address, "w0"), stderr=subprocess.DEVNULL))
        started.append(
            subprocess.Popen(_worker(address, "bare"), env=env, stderr=subprocess.DEVNULL)
        )
        _wait_for_workers(address, 2)
        out = _fetch_one_url(tmp_path, tmp_path / "s.db", address)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    error = out.stderr.strip().splitlines()[-1]
    if lacks == "package":
        assert "have no threadloom: install threadloom" in error, error
    elif lacks == "module":
        assert "cannot run threadloom's code" in error, error
        assert "No module named 'threadloom'" in error, error
    else:
        assert "(9.9.9) run another threadloom version" in error, error
        assert "pip install 'threadloom[dask]==" in error, error
    assert error.count("tcp://") == 1 + (lacks == "module"), "names the one worker only"
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM urls").fetchone() == (0,), "input untouched"


def _unshare_works() -> bool:
    probe = ["unshare", "--mount", "true"]
    try:
        return subprocess.run(probe, check=False, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare --mount (root)")
def test_a_store_the_workers_cannot_reach_is_refused(tmp_path: Path) -> None:
    # The worker runs in a mount namespace where the store's directory is another,
    # empty file system: the same path, not the same files, as on a machine that does
    # not share the client's disk.
    hidden = tmp_path / "data"
    hidden.mkdir()
    with _scheduler() as (address, started):
        worker = f"mount -t tmpfs none {hidden} && exec {' '.join(_worker(address, 'w0'))}"
        started.append(
            subprocess.Popen(["unshare", "--mount", "sh", "-c", worker], stderr=subprocess.DEVNULL)
        )
        _wait_for_workers(address, 1)
        out = _fetch_one_url(tmp_path, hidden / "s.db", address)
    assert out.returncode == 2, out.stderr
    assert "with --cluster the store must be on a file system every worker shares" in (
        out.stderr.replace("\n", " ")
    )
