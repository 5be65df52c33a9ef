"""Seed 004 (Multi-threading in Python): download about 500 XML documents, 4 at a time,
with a ``FileGetter(threading.Thread)`` per file, a producer that starts them behind a
``Queue(3)`` and a consumer that ``join()`` s them in FIFO order.

The original prints and forgets failed downloads ("So much for error handling"), its
``run()`` returns the contents into nowhere (and reads an undefined ``url``), and joining
in FIFO order means one slow file leaves fewer than 4 downloads running, a loss the
article calls "outside the scope of this article". Here a Pool runs the downloads with a
key limit of 4 per host, retries what may succeed on a retry, parses each document as
untrusted XML, and hands results back in completion order, so a slow file never stalls
the others: the run ends within a few percent of the best possible time.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from urllib.parse import urlsplit

import defusedxml.ElementTree as SafeElementTree

from threadloom.core import Listener, Pool, Retry, TaskEvent
from threadloom.server import FaultServer, document_latency
from threadloom.sync import Lock
from threadloom.transport import HttpClient, TransportError


@dataclass(frozen=True, slots=True)
class Document:
    """What we keep of one downloaded document."""

    url: str
    size: int
    items: int
    finished: float  # time.monotonic() when it was done


def get_file(client: HttpClient, url: str) -> Document:
    """Download ``url`` and parse it as untrusted XML (no entities, no external DTDs)."""
    body = client.get(url).body
    root = SafeElementTree.fromstring(body)
    return Document(url, len(body), sum(1 for _ in root.iter("item")), time.monotonic())


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransportError) and exc.retryable


RETRY = Retry(attempts=3, backoff=0.2, retry_on=retryable)


class PeakPerKey:
    """A pool event listener: the most tasks of one key (host) that ran at once."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._running: dict[object, int] = {}
        self.peak = 0

    def __call__(self, event: TaskEvent) -> None:
        if event.kind not in ("start", "finish"):
            return
        with self._lock:
            running = self._running.get(event.key, 0) + (1 if event.kind == "start" else -1)
            self._running[event.key] = running
            self.peak = max(self.peak, running)


def get_files(
    urls: list[str], per_host: int = 4, listener: Listener | None = None
) -> tuple[list[Document], dict[str, str]]:
    """Download ``urls``, at most ``per_host`` at a time per host; return the documents in
    completion order and the failures (URL -> reason). ``listener`` gets the pool's events."""
    documents: list[Document] = []
    failures: dict[str, str] = {}
    with HttpClient() as client, Pool(16, thread_name_prefix="getter", key_limit=per_host) as pool:
        if listener is not None:
            pool.subscribe(listener)
        futures: dict[Future[Document], str] = {
            pool.submit_task(get_file, (client, url), key=urlsplit(url).netloc, retry=RETRY): url
            for url in urls
        }
        for future in as_completed(futures):
            try:
                documents.append(future.result())
            except Exception as exc:  # every URL ends as a document or a reason
                failures[futures[future]] = f"{type(exc).__name__}: {exc}"
    return documents, failures


def main(documents: int = 500, latency: float = 1.0, per_host: int = 4) -> dict[str, object]:
    """Download ``documents`` from a local FaultServer; compare with the lower bound."""
    with FaultServer(documents=documents, latency=latency) as server:
        urls = [server.document_url(n) for n in range(documents)]
        started = time.monotonic()
        peak = PeakPerKey()
        done, failures = get_files(urls, per_host, peak)
        elapsed = time.monotonic() - started
    # No schedule beats the server's total delay shared by per_host connections, nor
    # the slowest single document.
    delays = [document_latency(n, server.seed, latency) for n in range(documents)]
    lower_bound = max(sum(delays) / per_host, *delays)
    print(
        f"{len(done)} documents ({sum(d.items for d in done)} items), {len(failures)} failed, "
        f"in {elapsed:.2f} s; lower bound {lower_bound:.2f} s; at most {peak.peak} at once"
    )
    return {
        "done": done,
        "failures": failures,
        "elapsed": elapsed,
        "lower_bound": lower_bound,
        "max_in_flight": peak.peak,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Download XML documents from a local server.")
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--latency", type=float, default=1.0, help="server delay factor")
    parser.add_argument("--per-host", type=int, default=4)
    args = parser.parse_args()
    main(args.documents, args.latency, args.per_host)
