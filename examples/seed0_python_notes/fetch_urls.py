"""Seed 000 (Python Notes 17.7): ``FetchUrls(threading.Thread)`` threads write fetched pages
to one output file, each write under a shared lock.

The original does not run (its ``__init__`` never calls ``Thread.__init__`` nor stores
the URLs), holds the lock for the whole write, and never joins. Here the pool fetches and
``imap_unordered`` hands each page to the calling thread as soon as it arrives: one
thread writes the file, so it needs no lock at all, and nothing waits for a slow page.
"""

from __future__ import annotations

import io

from threadloom.core import Pool
from threadloom.server import FaultServer
from threadloom.transport import HttpClient, Response


def main(documents: int = 20) -> dict[str, int]:
    """Fetch ``documents`` pages with 4 workers into one buffer; return what was written."""
    output = io.BytesIO()  # stands for the output file
    with FaultServer(documents=documents, latency=0.2) as server, HttpClient() as client:
        urls = [server.document_url(n) for n in range(documents)]

        def fetch(url: str) -> Response:
            return client.get(url)

        pages = 0
        with Pool(4, thread_name_prefix="fetch") as pool:
            for response in pool.imap_unordered(fetch, urls):
                output.write(response.body)  # only this thread writes: no lock
                pages += 1
    print(f"wrote {pages} pages, {len(output.getvalue())} bytes")
    return {"pages": pages, "bytes": len(output.getvalue())}


if __name__ == "__main__":
    main()
