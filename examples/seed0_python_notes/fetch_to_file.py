"""Seed 000 (Python Notes 17.2): ``fetchURL`` threads append to one file under a lock.

The original turns every fetch error into the data ``"Not found. URLError"``, pairs
``acquire``/``release`` by hand, and never waits for its threads. Here the fetches run
on a Pool with the project's HTTP client against the local FaultServer; a failure is
written as a failure with its reason; and the file is a :class:`~threadloom.sync.Guarded`
value, so no thread can reach it without holding its lock.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TextIO

from threadloom.core import Pool
from threadloom.server import FaultServer
from threadloom.sync import Guarded, Lock
from threadloom.transport import HttpClient, TransportError


def fetch_url(client: HttpClient, url: str, out: Guarded[TextIO]) -> None:
    """Fetch ``url`` and append one line saying what happened to the shared file."""
    try:
        body = client.get(url).body
    except TransportError as exc:
        line = f"failed {url}: {exc.reason}\n"
    else:
        line = f"fetched {url}: {len(body)} bytes\n"
    with out as f:  # takes the lock; the only way to reach the file
        f.write(line)


def main(path: Path) -> list[str]:
    """Fetch three documents and one missing page into ``path``; return its lines, sorted."""
    with FaultServer(documents=3) as server, HttpClient() as client:
        urls = [server.document_url(n) for n in range(3)] + [server.url("/status/404")]
        with path.open("a") as f, Pool(4, thread_name_prefix="fetch") as pool:
            out: Guarded[TextIO] = Guarded(f, Lock())
            for future in [pool.submit(fetch_url, client, url, out) for url in urls]:
                future.result()  # re-raises anything unexpected
    lines = sorted(path.read_text().splitlines())
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp) / "test.txt")
