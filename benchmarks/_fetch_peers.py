"""The Python peers of bench_fetch.py, each run as its own process so that its wall time,
CPU time and peak memory are measured exactly like those of curl, wget2 and aria2c.

    python _fetch_peers.py aiohttp|pycurl-threads --jobs J URLS OUT_DIR

Fetches every URL in the file URLS (one per line), at most J at a time, and writes each
body to OUT_DIR/<last path segment of the URL>. Exits 0 if every URL gave HTTP 200, else
prints the first failures to stderr and exits 1. Needs aiohttp or pycurl respectively.
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

_TIMEOUT = 30.0  # seconds per request; loopback answers in microseconds


def _file_name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def fetch_aiohttp(urls: Sequence[str], jobs: int, out_dir: Path) -> list[str]:
    """asyncio + aiohttp: one session, an asyncio.Semaphore(jobs) around each request.

    Returns one line per URL that failed (an empty list if all gave 200).
    """
    import asyncio

    import aiohttp

    async def run() -> list[str]:
        failures: list[str] = []
        limit = asyncio.Semaphore(jobs)
        connector = aiohttp.TCPConnector(limit=jobs)
        timeout = aiohttp.ClientTimeout(total=_TIMEOUT)

        async def one(session: aiohttp.ClientSession, url: str) -> None:
            async with limit:
                try:
                    async with session.get(url) as response:
                        body = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as error:
                    failures.append(f"{url}: {error!r}")
                    return
            if status != 200:
                failures.append(f"{url}: HTTP {status}")
                return
            # A plain blocking write, as the seeds do: a few KB to the page cache.
            (out_dir / _file_name(url)).write_bytes(body)

        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(one(session, url) for url in urls))
        return failures

    return asyncio.run(run())


def fetch_pycurl_threads(
    urls: Sequence[str], jobs: int, out_dir: Path, *, keep: bool = True
) -> list[str]:
    """ThreadPoolExecutor(jobs) + pycurl, one reusable easy handle per thread (keep-alive).

    With ``keep`` each body is written to a file in ``out_dir``; without, it is kept in
    memory and thrown away, and one line ``COUNT BYTES`` (of the 200 answers) goes to
    stdout: the floor a Python loop over libcurl pays per document, with no storage.
    Returns one line per URL that failed (an empty list if all gave 200).
    """
    import pycurl

    local = threading.local()

    def handle() -> pycurl.Curl:
        curl = getattr(local, "curl", None)
        if curl is None:
            curl = pycurl.Curl()
            curl.setopt(pycurl.NOSIGNAL, 1)
            curl.setopt(pycurl.TIMEOUT_MS, int(_TIMEOUT * 1000))
            local.curl = curl
        return curl

    def one(url: str) -> str | None:
        curl = handle()
        buffer = io.BytesIO()
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.WRITEDATA, buffer)
        try:
            curl.perform()
        except pycurl.error as error:
            return f"{url}: {error}"
        status = curl.getinfo(pycurl.RESPONSE_CODE)
        if status != 200:
            return f"{url}: HTTP {status}"
        if keep:
            (out_dir / _file_name(url)).write_bytes(buffer.getvalue())
        else:
            received.append(buffer.getbuffer().nbytes)  # list.append is atomic
        return None

    received: list[int] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        failures = [failure for failure in pool.map(one, urls) if failure is not None]
    if not keep:
        print(len(received), sum(received))
    return failures


def fetch_pycurl_threads_in_memory(urls: Sequence[str], jobs: int, out_dir: Path) -> list[str]:
    """``fetch_pycurl_threads`` with every body kept in memory and thrown away."""
    return fetch_pycurl_threads(urls, jobs, out_dir, keep=False)


PEERS: dict[str, Callable[[Sequence[str], int, Path], list[str]]] = {
    "aiohttp": fetch_aiohttp,
    "pycurl-threads": fetch_pycurl_threads,
    "pycurl-threads-mem": fetch_pycurl_threads_in_memory,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one peer over a URL file; the exit status says whether every URL gave 200."""
    parser = argparse.ArgumentParser(description="Fetch a URL list with one Python peer.")
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("urls", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    urls = [line.strip() for line in args.urls.read_text().splitlines() if line.strip()]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    failures = PEERS[args.peer](urls, args.jobs, args.out_dir)
    for failure in failures[:10]:
        print(failure, file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(urls)} URLs failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
