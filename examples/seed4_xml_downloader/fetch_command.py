"""Seed 004 (Multi-threading in Python), as one command: the 500 XML documents, 4 at a
time, downloaded, stored and processed by ``threadloom fetch``::

    threadloom fetch -j 4 --per-host 4 -o out.db --process xml urls.txt

The article's program keeps every document in memory, loses failures, and starts over
from nothing if interrupted. The command records every URL's outcome (done with its body
and processing result, or failed with a reason) in a SQLite store as it goes, so running
it again resumes. This script starts a local FaultServer, writes ``urls.txt``, runs the
command and reads the store's counts.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from threadloom.server import FaultServer
from threadloom.store import open_store


def main(documents: int = 500, latency: float = 0.0) -> dict[str, int]:
    with (
        FaultServer(documents=documents, latency=latency) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        urls = Path(tmp, "urls.txt")
        urls.write_text("".join(server.document_url(n) + "\n" for n in range(documents)))
        out = Path(tmp, "out.db")
        command = [sys.executable, "-m", "threadloom", "fetch", "-j", "4", "--per-host", "4"]
        command += ["-o", str(out), "--process", "xml", str(urls)]
        status = subprocess.run(command, timeout=300, check=False).returncode
        store = open_store(out, readonly=True)
        try:
            counts = store.counts()
        finally:
            store.close()
    print(f"exit status {status}: {counts.done} done, {counts.failed} failed, ", end="")
    print(f"{counts.pending} pending")
    return {
        "status": status,
        "done": counts.done,
        "failed": counts.failed,
        "pending": counts.pending,
    }


if __name__ == "__main__":
    main()
