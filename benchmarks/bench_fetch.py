"""Bulk fetch: `threadloom fetch` side by side with curl -Z, wget2, aria2c, aiohttp and
ThreadPoolExecutor + pycurl, every tool fetching the same small XML documents from one
nginx on 127.0.0.1 with the same concurrency.

    python benchmarks/bench_fetch.py                 # 500 and 20,000 docs, 3 repeats each
    python benchmarks/bench_fetch.py --quick         # 500 docs, 1 repeat
    python benchmarks/bench_fetch.py --docs 2000 --jobs 4 --tools curl-dir,threadloom-sqlite

Each run is one child process (a fresh output directory or store each time), timed with
`time.perf_counter` around its whole life; its CPU time (user + sys) and peak RSS come
from `os.wait4` on exactly that child. Every run is verified (number of files and bytes,
HTTP statuses, or the store's counts) and a run that fails verification is reported, not
averaged. The table shows medians and the ratio wall(tool) / wall(baseline) -- by default
the baseline is threadloom with its SQLite store, so a ratio above 1 means threadloom
was faster.

Needs nginx, curl, wget2 and aria2c (``apt-get install nginx aria2 wget2 curl``; a missing
peer is skipped with a message, a missing nginx stops the benchmark) and, for the Python
peers, aiohttp and pycurl in the Python given by ``--python`` (default: the repository's
.venv). Installs nothing. Talks to 127.0.0.1 only. Linux only (os.wait4, pidfd).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _nginx import INSTALL_HINT, NginxError, NginxServer, find_nginx

REPO = Path(__file__).resolve().parent.parent
PEERS_SCRIPT = Path(__file__).resolve().parent / "_fetch_peers.py"
DEFAULT_BASELINE = "threadloom-sqlite"
CPU_BASELINE = "pycurl-threads-mem"
"""The CPU floor: the simplest Python loop over libcurl, storing nothing (issue 13)."""


# --------------------------------------------------------------------------- documents


def document_name(index: int) -> str:
    """The file name (and URL path) of document ``index`` (1-based)."""
    return f"doc-{index:06d}.xml"


def make_document(index: int, rng: random.Random) -> bytes:
    """One small XML catalogue of a size drawn uniformly from 1-8 KiB (by ``rng``)."""
    target = rng.randint(1024, 8192)
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<catalog id="{index}">\n'
    tail = "</catalog>\n"
    parts = [head]
    size = len(head) + len(tail)
    item = 0
    while size < target:
        item += 1
        line = (
            f'  <item n="{item}"><title>Item {item} of document {index}</title>'
            f"<price>{rng.randint(1, 99_999) / 100:.2f}</price></item>\n"
        )
        parts.append(line)
        size += len(line)
    parts.append(tail)
    return "".join(parts).encode()


def write_documents(directory: Path, count: int, seed: int = 3) -> list[int]:
    """Write documents 1..count into ``directory``; return their sizes (deterministic)."""
    rng = random.Random(seed)
    sizes = []
    for index in range(1, count + 1):
        body = make_document(index, rng)
        (directory / document_name(index)).write_bytes(body)
        sizes.append(len(body))
    return sizes


@dataclass(frozen=True)
class Workload:
    """The first ``count`` documents, as the input files each tool wants."""

    count: int
    expected_bytes: int
    urls_file: Path  # one URL per line: threadloom, wget2, aria2c, the Python peers
    curl_dir_config: Path  # curl -K: url + output name per document
    curl_null_config: Path  # curl -K: url + output /dev/null per document


def prepare_workload(base_url: str, sizes: Sequence[int], count: int, into: Path) -> Workload:
    """Write the URL list and curl configs for the first ``count`` documents into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    names = [document_name(index) for index in range(1, count + 1)]
    urls = [f"{base_url}/{name}" for name in names]
    urls_file = into / "urls.txt"
    urls_file.write_text("".join(f"{url}\n" for url in urls))
    curl_dir = into / "curl-dir.cfg"
    curl_dir.write_text(
        "".join(
            f'url = "{url}"\noutput = "{name}"\n' for url, name in zip(urls, names, strict=True)
        )
    )
    curl_null = into / "curl-null.cfg"
    curl_null.write_text("".join(f'url = "{url}"\noutput = "/dev/null"\n' for url in urls))
    return Workload(count, sum(sizes[:count]), urls_file, curl_dir, curl_null)


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Measurement:
    """One child process's life: exit code (None if killed on timeout) and resources."""

    exit_code: int | None
    wall: float  # seconds, spawn to reap
    cpu: float  # seconds, user + sys of the child and every descendant it reaped
    max_rss_kib: int | None  # peak resident set size of the tool; None: not measurable


def find_gnu_time() -> str | None:
    """GNU time (``/usr/bin/time``) if it is there and understands ``-f %M -o FILE``."""
    executable = shutil.which("time", path="/usr/bin:/bin") or shutil.which("gtime")
    if executable is None:
        return None
    with tempfile.NamedTemporaryFile("r") as output:
        probe = [executable, "-f", "%M", "-o", output.name, "true"]
        if not _works(probe):
            return None
        return executable if output.read().strip().isdigit() else None


def measure(
    argv: Sequence[str],
    *,
    cwd: Path,
    stdout: Path,
    stderr: Path,
    timeout: float,
    gnu_time: str | None,
) -> Measurement:
    """Run ``argv`` to completion (killing its process group after ``timeout`` s) and
    measure it.

    The child is reaped with `os.wait4` directly (never through `Popen.wait`), which gives
    its CPU time; a pidfd gives the timeout without a polling loop. Peak RSS comes from
    GNU time (``gnu_time``) wrapped around ``argv``: the ``ru_maxrss`` that `os.wait4`
    reports for a direct child includes the memory of this (Python) process at fork time,
    so it cannot tell a 2 MiB curl from a 25 MiB Python.
    """
    rss_file = cwd / "max-rss-kib.txt"
    if gnu_time is not None:
        argv = [gnu_time, "-f", "%M", "-o", str(rss_file), *argv]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        try:
            timed_out = not _exits_within(process.pid, timeout)
            if timed_out:
                _kill_group(process.pid)
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C included: never leave the child behind
            _kill_group(process.pid)
            with contextlib.suppress(ChildProcessError):
                os.wait4(process.pid, 0)
            process.returncode = -signal.SIGKILL
            raise
        wall = time.perf_counter() - start
    exit_code = os.waitstatus_to_exitcode(status)
    process.returncode = exit_code  # reaped: keep Popen from ever waiting on the pid again
    max_rss_kib = None
    if gnu_time is not None and not timed_out:
        # GNU time's last line is %M; a line before it may say the command failed.
        lines = rss_file.read_text().split()
        max_rss_kib = int(lines[-1]) if lines and lines[-1].isdigit() else None
    return Measurement(
        exit_code=None if timed_out else exit_code,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_kib=max_rss_kib,
    )


def _exits_within(pid: int, timeout: float) -> bool:
    descriptor = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(descriptor, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(descriptor)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class Settings:
    """What every tool needs besides the workload."""

    jobs: int
    python: str
    threadloom: str
    timeout: float
    gnu_time: str | None
    threadloom_has_status: bool = False


@dataclass(frozen=True)
class Run:
    """One run's private directory: ``out`` (the tool's output), stdout, stderr."""

    directory: Path
    workload: Workload
    settings: Settings

    @property
    def out(self) -> Path:
        return self.directory / "out"

    @property
    def stdout(self) -> Path:
        return self.directory / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.directory / "stderr.txt"

    @property
    def store(self) -> Path:
        return self.directory / "run.db"


@dataclass(frozen=True)
class Tool:
    """A way to fetch the workload: the command for a run and how to check its result.

    ``verify`` returns None if the run produced every document, else one line saying what
    is wrong (it is called only after the tool exited 0).
    """

    name: str
    description: str
    command: Callable[[Run], list[str]]
    verify: Callable[[Run], str | None]
    creates_out: bool = True  # False: the tool must create ``out`` itself
    processes: int = 1  # fetching processes (the "docs/s/proc" column)


def verify_files(run: Run) -> str | None:
    """Every document is a file in ``run.out`` (hidden files aside) with the right bytes."""
    files = [entry for entry in os.scandir(run.out) if not entry.name.startswith(".")]
    count = sum(1 for entry in files if entry.is_file(follow_symlinks=False))
    size = sum(entry.stat(follow_symlinks=False).st_size for entry in files)
    expected = run.workload
    if count != expected.count or size != expected.expected_bytes or len(files) != count:
        return (
            f"{count} files ({len(files)} entries), {size} bytes in {run.out}; "
            f"expected {expected.count} files, {expected.expected_bytes} bytes"
        )
    return None


def verify_curl_write_out(run: Run) -> str | None:
    """curl's ``-w '%{http_code} %{size_download}'`` lines: all 200, the right bytes."""
    lines = run.stdout.read_text().split()
    codes, sizes = lines[0::2], lines[1::2]
    ok = sum(1 for code in codes if code == "200")
    size = sum(int(value) for value in sizes)
    expected = run.workload
    if ok != expected.count or size != expected.expected_bytes:
        return f"{ok} of {len(codes)} HTTP 200, {size} bytes; expected {expected.count}"
    return None


def verify_count_and_bytes(run: Run) -> str | None:
    """A peer's own ``COUNT BYTES`` line on stdout: every document, the right bytes."""
    words = run.stdout.read_text().split()
    expected = run.workload
    if words != [str(expected.count), str(expected.expected_bytes)]:
        return f"reported {' '.join(words)!r}; expected {expected.count} {expected.expected_bytes}"
    return None


def verify_wget2_stats(run: Run) -> str | None:
    """wget2's ``--stats-site`` CSV: one row per URL, all HTTP 200, the right bytes."""
    with (run.directory / "stats.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    ok = sum(1 for row in rows if row["Status"] == "200")
    size = sum(int(row["Size"]) for row in rows if row["Status"] == "200")
    expected = run.workload
    if ok != expected.count or size != expected.expected_bytes:
        return f"{ok} of {len(rows)} HTTP 200, {size} bytes; expected {expected.count}"
    return None


def verify_threadloom_sqlite(run: Run) -> str | None:
    """The store says every URL is done."""
    return _verify_store_counts(run, run.store, run.store)


def verify_threadloom_directory(run: Run) -> str | None:
    """The store says every URL is done, and the bodies are files in the directory."""
    return _verify_store_counts(run, run.out, run.out / ".threadloom.db") or verify_files(run)


def _verify_store_counts(run: Run, store: Path, index: Path) -> str | None:
    expected = run.workload.count
    if run.settings.threadloom_has_status:
        result = subprocess.run(
            [run.settings.threadloom, "status", str(store), "--json"],
            capture_output=True,
            text=True,
            timeout=run.settings.timeout,
            check=False,
        )
        if result.returncode != 0:
            return f"threadloom status exited {result.returncode}: {_last_line(result.stderr)}"
        counts = json.loads(result.stdout)
        done, total = counts.get("done"), counts.get("total")
    else:
        # No `status` command yet: read the store's index (table `urls`) directly.
        with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as db:
            done, total = db.execute("SELECT sum(state = 'done'), count(*) FROM urls").fetchone()
    if done != expected or total != expected:
        return f"store has {done} done of {total} URLs; expected {expected}"
    return None


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no output)"


def _peer(name: str) -> Callable[[Run], list[str]]:
    def command(run: Run) -> list[str]:
        return [
            run.settings.python,
            str(PEERS_SCRIPT),
            name,
            "--jobs",
            str(run.settings.jobs),
            str(run.workload.urls_file),
            str(run.out),
        ]

    return command


def _curl(run: Run, *, to_directory: bool) -> list[str]:
    jobs = str(run.settings.jobs)
    # --no-progress-meter, not -s: curl 7.88 still draws its parallel progress meter with -s.
    argv = ["curl", "--disable", "-Z", "--parallel-max", jobs, "--no-progress-meter", "--fail"]
    if to_directory:
        return [*argv, "--output-dir", str(run.out), "-K", str(run.workload.curl_dir_config)]
    return [
        *argv,
        "-w",
        "%{http_code} %{size_download}\\n",
        "-K",
        str(run.workload.curl_null_config),
    ]


def _wget2(run: Run, *, to_directory: bool) -> list[str]:
    argv = ["wget2", "--no-config", "--max-threads", str(run.settings.jobs), "-q"]
    # No robots.txt, no retries, no extended attributes per file (wget2 writes the URL
    # into an xattr by default; the others store only the body).
    argv += ["--no-robots", "--tries", "1", "--no-xattr", "--progress", "none"]
    argv += ["-i", str(run.workload.urls_file)]
    if to_directory:
        return [*argv, "-nd", "-P", str(run.out)]
    # The exit code is not enough to check the run (wget2 1.99 exits 0 after HTTP 403s),
    # so it writes one CSV line per URL (status and size) for verify_wget2_stats.
    return [*argv, "-O", "/dev/null", f"--stats-site=csv:{run.directory / 'stats.csv'}"]


def _aria2c(run: Run) -> list[str]:
    return [
        "aria2c",
        "--no-conf",
        "-q",
        "-j",
        str(run.settings.jobs),
        "-x1",
        "-i",
        str(run.workload.urls_file),
        "-d",
        str(run.out),
        "--show-console-readout=false",
        "--summary-interval=0",
        "--console-log-level=error",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
        "--file-allocation=none",
        "--max-tries=1",
    ]


def _threadloom(run: Run, *, store: str) -> list[str]:
    jobs = str(run.settings.jobs)
    return [run.settings.threadloom, "fetch", "-j", jobs, "--per-host", jobs, "-q", "-o", store]


TOOLS: list[Tool] = [
    Tool(
        "threadloom-sqlite",
        "threadloom fetch -j J --per-host J -q -o run.db (SQLite store)",
        lambda run: [*_threadloom(run, store=str(run.store)), str(run.workload.urls_file)],
        verify_threadloom_sqlite,
        creates_out=False,
    ),
    Tool(
        "threadloom-sqlite-p2",
        "threadloom fetch -j J --per-host J --processes 2 -q -o run.db (2 Dask worker"
        " processes, J/2 per host each: the same global politeness; needs the dask extra)",
        lambda run: [
            *_threadloom(run, store=str(run.store)),
            "--processes",
            "2",
            str(run.workload.urls_file),
        ],
        verify_threadloom_sqlite,
        creates_out=False,
        processes=2,
    ),
    Tool(
        "threadloom-dir",
        "threadloom fetch -j J --per-host J -q -o out/ (directory store)",
        lambda run: [*_threadloom(run, store=f"{run.out}/"), str(run.workload.urls_file)],
        verify_threadloom_directory,
        creates_out=False,
    ),
    Tool(
        "curl-dir",
        "curl -Z --parallel-max J -K cfg --output-dir out (a file per URL)",
        lambda run: _curl(run, to_directory=True),
        verify_files,
    ),
    Tool(
        "curl-null",
        "curl -Z --parallel-max J -K cfg, every body to /dev/null",
        lambda run: _curl(run, to_directory=False),
        verify_curl_write_out,
    ),
    Tool(
        "wget2-dir",
        "wget2 --max-threads J -i urls -nd -P out",
        lambda run: _wget2(run, to_directory=True),
        verify_files,
        creates_out=False,
    ),
    Tool(
        "wget2-null",
        "wget2 --max-threads J -i urls -O /dev/null",
        lambda run: _wget2(run, to_directory=False),
        verify_wget2_stats,
    ),
    Tool(
        "aria2c-dir",
        "aria2c -j J -x1 -i urls -d out",
        _aria2c,
        verify_files,
        creates_out=False,
    ),
    Tool(
        "aiohttp-dir",
        "asyncio + aiohttp, Semaphore(J), a file per URL",
        _peer("aiohttp"),
        verify_files,
    ),
    Tool(
        "pycurl-threads-dir",
        "ThreadPoolExecutor(J) + pycurl, a handle per thread, a file per URL",
        _peer("pycurl-threads"),
        verify_files,
    ),
    Tool(
        "pycurl-threads-mem",
        "ThreadPoolExecutor(J) + pycurl, a handle per thread, bodies kept in memory and dropped",
        _peer("pycurl-threads-mem"),
        verify_count_and_bytes,
    ),
]
TOOL_NAMES = [tool.name for tool in TOOLS]
TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}


def _works(argv: Sequence[str]) -> bool:
    try:
        result = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def unavailable_reason(tool: Tool, settings: Settings) -> str | None:
    """Why ``tool`` cannot run on this machine, or None if it can."""
    if tool.name.startswith("threadloom"):
        if not _works([settings.threadloom, "fetch", "--help"]):
            return f"`{settings.threadloom} fetch --help` fails: the fetch command is not there yet"
        return None
    if tool.name in ("aiohttp-dir", "pycurl-threads-dir", "pycurl-threads-mem"):
        module = "aiohttp" if tool.name == "aiohttp-dir" else "pycurl"
        if not _works([settings.python, "-c", f"import {module}"]):
            return f"{settings.python} cannot import {module} (pip install {module})"
        return None
    executable = tool.name.split("-")[0]
    if shutil.which(executable) is None:
        return f"{executable} not found (install: {INSTALL_HINT})"
    return None


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RunResult:
    """One measured run. ``problem`` is None if it exited 0 and passed verification."""

    tool: str
    docs: int
    repeat: int
    wall: float
    cpu: float
    max_rss_mib: float | None  # None: GNU time missing
    exit_code: int | None
    problem: str | None


@dataclass
class Summary:
    """The medians of the good runs of one tool on one workload."""

    tool: str
    docs: int
    runs: int
    failed: int
    wall: float | None = None
    cpu: float | None = None
    max_rss_mib: float | None = None
    docs_per_second: float | None = None
    processes: int = 1  # the tool's fetching processes: docs/s per process
    ratio_to_baseline: float | None = None  # wall(tool) / wall(baseline)
    cpu_ratio: float | None = None  # cpu(tool) / cpu(CPU_BASELINE), same docs
    problems: list[str] = field(default_factory=list)


def run_once(
    tool: Tool, workload: Workload, settings: Settings, scratch: Path, repeat: int
) -> RunResult:
    """Run ``tool`` once in a fresh directory under ``scratch``, verify, clean up."""
    directory = Path(tempfile.mkdtemp(prefix=f"{tool.name}-", dir=scratch))
    run = Run(directory, workload, settings)
    try:
        if tool.creates_out:
            run.out.mkdir()
        # Flush the previous run's dirty pages now, not during this run.
        os.sync()
        measured = measure(
            tool.command(run),
            cwd=directory,
            stdout=run.stdout,
            stderr=run.stderr,
            timeout=settings.timeout,
            gnu_time=settings.gnu_time,
        )
        if measured.exit_code is None:
            problem: str | None = f"killed after the {settings.timeout:g} s timeout"
        elif measured.exit_code != 0:
            problem = (
                f"exit {measured.exit_code}: {_last_line(run.stderr.read_text('utf-8', 'replace'))}"
            )
        else:
            try:
                problem = tool.verify(run)
            except (
                OSError,
                ValueError,
                KeyError,
                sqlite3.Error,
                subprocess.SubprocessError,
            ) as error:
                problem = f"cannot verify: {error}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return RunResult(
        tool=tool.name,
        docs=workload.count,
        repeat=repeat,
        wall=measured.wall,
        cpu=measured.cpu,
        max_rss_mib=None if measured.max_rss_kib is None else measured.max_rss_kib / 1024,
        exit_code=measured.exit_code,
        problem=problem,
    )


def summarise(results: Sequence[RunResult], baseline: str) -> list[Summary]:
    """Medians per (docs, tool) in first-seen order, with ratios to ``baseline``'s wall."""
    groups: dict[tuple[int, str], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.docs, result.tool), []).append(result)
    summaries = []
    for (docs, tool), runs in groups.items():
        good = [run for run in runs if run.problem is None]
        summary = Summary(tool, docs, len(runs), len(runs) - len(good))
        known = TOOLS_BY_NAME.get(tool)
        summary.processes = 1 if known is None else known.processes
        summary.problems = sorted({run.problem for run in runs if run.problem is not None})
        if good:
            summary.wall = statistics.median(run.wall for run in good)
            summary.cpu = statistics.median(run.cpu for run in good)
            rss = [run.max_rss_mib for run in good if run.max_rss_mib is not None]
            summary.max_rss_mib = statistics.median(rss) if rss else None
            summary.docs_per_second = docs / summary.wall
        summaries.append(summary)
    walls = {(s.docs, s.tool): s.wall for s in summaries}
    cpus = {(s.docs, s.tool): s.cpu for s in summaries}
    for summary in summaries:
        reference = walls.get((summary.docs, baseline))
        if summary.wall is not None and reference:
            summary.ratio_to_baseline = summary.wall / reference
        floor = cpus.get((summary.docs, CPU_BASELINE))
        if summary.cpu is not None and floor:
            summary.cpu_ratio = summary.cpu / floor
    return summaries


def format_table(summaries: Sequence[Summary], baseline: str) -> str:
    """A plain-text table; ``ratio`` is wall(tool) / wall(baseline), >1: baseline faster;
    ``docs/s/proc`` is docs/s over the tool's fetching processes (2 for a
    ``--processes 2`` row: the scaling shows against the one-process row);
    ``CPU µs/doc`` is user + sys per document, and the column after it the CPU ratio to
    the floor (``CPU_BASELINE``) in the same run."""
    header = (
        "tool",
        "docs",
        "wall s",
        "docs/s",
        "docs/s/proc",
        "CPU s",
        "CPU µs/doc",
        f"CPU vs {CPU_BASELINE}",
        "peak RSS MiB",
        f"vs {baseline}",
    )
    rows = [header]
    for s in summaries:
        if s.wall is None:
            rows.append((s.tool, str(s.docs), "FAILED", *[""] * (len(header) - 3)))
            continue
        assert s.docs_per_second is not None
        assert s.cpu is not None
        rss = "?" if s.max_rss_mib is None else f"{s.max_rss_mib:.1f}"
        ratio = "-" if s.ratio_to_baseline is None else f"{s.ratio_to_baseline:.2f}x"
        cpu_ratio = "-" if s.cpu_ratio is None else f"{s.cpu_ratio:.2f}x"
        flag = f" ({s.failed} of {s.runs} runs failed)" if s.failed else ""
        rows.append(
            (
                s.tool,
                str(s.docs),
                f"{s.wall:.3f}",
                f"{s.docs_per_second:,.0f}",
                f"{s.docs_per_second / s.processes:,.0f}",
                f"{s.cpu:.2f}",
                f"{s.cpu / s.docs * 1e6:,.0f}",
                cpu_ratio,
                rss,
                ratio + flag,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    problems = [f"  {s.tool} @ {s.docs}: {p}" for s in summaries for p in s.problems]
    if problems:
        lines += ["", "problems:", *problems]
    return "\n".join(lines)


# --------------------------------------------------------------------------- environment


def _first_line(argv: Sequence[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "(not available)"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else "(no version output)"


def _filesystem(path: Path) -> str:
    """The type of the filesystem holding ``path`` (from /proc/mounts), e.g. ``ext4``."""
    best, kind = "", "?"
    with contextlib.suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            mount_point = fields[1]
            inside = str(path).startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best):
                best, kind = mount_point, fields[2]
    return kind


def environment(nginx: str, scratch: Path, settings: Settings) -> dict[str, str]:
    """What the figures depend on, printed above the table and saved with --json."""
    return {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "python (peers)": _first_line([settings.python, "--version"]),
        "nginx": _first_line([nginx, "-v"]),
        "curl": _first_line(["curl", "--version"]),
        "wget2": _first_line(["wget2", "--version"]),
        "aria2c": _first_line(["aria2c", "--version"]),
        "scratch": f"{scratch} ({_filesystem(scratch)})",
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Bulk fetch benchmark: threadloom against curl -Z, wget2, aria2c, "
        "aiohttp and ThreadPoolExecutor+pycurl, from nginx on 127.0.0.1."
    )
    parser.add_argument(
        "--docs", type=int, nargs="+", default=[500, 20_000], help="document counts (500 20000)"
    )
    parser.add_argument("--jobs", type=int, default=8, help="concurrency of every tool (8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; median shown (3)")
    parser.add_argument("--quick", action="store_true", help="500 docs, 1 repeat")
    parser.add_argument(
        "--tools", default=",".join(TOOL_NAMES), help=f"comma-separated subset of {TOOL_NAMES}"
    )
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="ratio column reference")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run (120)")
    parser.add_argument("--json", type=Path, help="also write all runs and medians here")
    parser.add_argument("--workdir", type=Path, help="where temp files go (default: $TMPDIR)")
    parser.add_argument(
        "--python", default=_venv("python"), help="Python for aiohttp and pycurl peers"
    )
    parser.add_argument("--threadloom", default=_venv("threadloom"), help="threadloom command")
    args = parser.parse_args(argv)
    if args.quick:
        args.docs, args.repeat = [500], 1
    # Runs start in their own directories: make relative paths absolute (not resolved:
    # a venv's python is a symlink that must stay one).
    args.python, args.threadloom = (
        str(Path(value).absolute()) if os.sep in value else value
        for value in (args.python, args.threadloom)
    )
    unknown = set(args.tools.split(",")) - set(TOOL_NAMES)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}; choose from {TOOL_NAMES}")
    if min(args.docs) < 1 or args.jobs < 1 or args.repeat < 1:
        parser.error("--docs, --jobs and --repeat must be at least 1")
    return args


def compile_bytecode(python: str) -> None:
    """Write the .pyc files of the threadloom package that ``python`` imports.

    An installed package has them (pip compiles at install time); an editable install
    does not, and with PYTHONDONTWRITEBYTECODE set (as on some CI machines) Python never
    writes them, so every run would compile ~60 modules first (~35 ms): a cost no user
    of an installed threadloom pays. Measured runs should not pay it either.
    """
    locate = "import pathlib, threadloom; print(pathlib.Path(threadloom.__file__).parent)"
    where = subprocess.run(
        [python, "-c", locate],
        capture_output=True,
        text=True,
        check=False,
    )
    if where.returncode != 0:
        return  # the availability checks report a broken threadloom
    package = where.stdout.strip()
    subprocess.run([python, "-m", "compileall", "-q", package], check=False, capture_output=True)
    print(f"bytecode of {package} compiled", file=sys.stderr)


def _venv(name: str) -> str:
    candidate = REPO / ".venv" / "bin" / name
    if candidate.exists():
        return str(candidate)
    return sys.executable if name == "python" else name


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so that `finally` blocks stop nginx."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    nginx = find_nginx()
    if nginx is None:
        print(f"nginx not found; install the benchmark's servers and peers: {INSTALL_HINT}")
        return 2
    settings = Settings(
        jobs=args.jobs,
        python=args.python,
        threadloom=args.threadloom,
        timeout=args.timeout,
        gnu_time=find_gnu_time(),
        threadloom_has_status=_works([args.threadloom, "status", "--help"]),
    )
    if settings.gnu_time is None:
        print("GNU time not found (apt-get install time): peak RSS not measured", file=sys.stderr)
    selected = set(args.tools.split(","))
    tools = []
    for tool in TOOLS:
        if tool.name not in selected:
            continue
        reason = unavailable_reason(tool, settings)
        if reason is None:
            tools.append(tool)
        else:
            print(f"skipping {tool.name}: {reason}", file=sys.stderr)
    if not tools:
        print("nothing to run", file=sys.stderr)
        return 2
    if any(tool.name.startswith("threadloom") for tool in tools):
        compile_bytecode(settings.python)

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench_fetch-", dir=args.workdir))
    scratch.chmod(0o755)  # nginx's workers may run as another user and must reach docs/
    results: list[RunResult] = []
    env: dict[str, str] = {}
    try:
        with _terminate_cleanly():
            docs_dir = scratch / "docs"
            docs_dir.mkdir()
            print(f"writing {max(args.docs):,} documents ...", file=sys.stderr)
            sizes = write_documents(docs_dir, max(args.docs))
            with NginxServer(nginx, docs_dir, scratch / "nginx") as server:
                env = environment(nginx, scratch, settings)
                for key, value in env.items():
                    print(f"{key}: {value}", flush=True)
                print(f"jobs: {args.jobs}, repeats: {args.repeat} (median shown)\n", flush=True)
                for count in sorted(set(args.docs)):
                    workload = prepare_workload(
                        server.base_url, sizes, count, scratch / f"input-{count}"
                    )
                    for repeat in range(1, args.repeat + 1):
                        for tool in tools:
                            result = run_once(tool, workload, settings, scratch, repeat)
                            results.append(result)
                            status = "ok" if result.problem is None else result.problem
                            print(
                                f"  {tool.name:<20} {count:>7} docs  run {repeat}/{args.repeat}"
                                f"  {result.wall:7.3f} s  {status}",
                                file=sys.stderr,
                            )
    except NginxError as error:
        print(f"cannot start nginx: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    summaries = summarise(results, args.baseline)
    if not any(s.tool == args.baseline and s.wall is not None for s in summaries):
        print(f"(no ratios: baseline {args.baseline} has no good run; see --baseline)")
    print(format_table(summaries, args.baseline))
    if args.json is not None:
        document = {
            "environment": env,
            "settings": {"jobs": args.jobs, "repeat": args.repeat, "baseline": args.baseline},
            "runs": [asdict(result) for result in results],
            "summary": [asdict(summary) for summary in summaries],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if any(s.failed for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
