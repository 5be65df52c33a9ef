"""One URL on its way through a fetch pipeline, and the small functions its stages use
(the per-host key, the retry test, the label): shared by the fetch and refresh passes."""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from threadloom.jobs._process import ProcessOutcome
from threadloom.store import UrlRecord
from threadloom.transport import Response, TransportError, status_text


@dataclass(slots=True)
class Work:
    """One URL on its way through the stages; ``attempts`` counts this run's requests;
    ``headers`` are sent with each of its requests only (a refresh's conditions)."""

    record: UrlRecord
    host: str
    attempts: int = 0
    response: Response | None = None
    error: str | None = None
    http_status: int | None = None
    processed: ProcessOutcome | None = field(default=None)
    headers: tuple[str, ...] = ()

    def took(self, response: Response) -> Work:
        """Keep the response of a successful attempt (on the transport's thread).

        A final 3xx is not a document: a redirect without a Location to follow, or a
        304 to a request that asked no condition. It raises a non-retryable
        `TransportError`, so the URL fails with that reason instead of being stored
        done with a stub body.
        """
        self.http_status = response.status
        if 300 <= response.status < 400:
            what = status_text(response.status)
            raise TransportError(
                response.url,
                f"{what}: no document"
                if response.status == 304
                else f"{what} without a Location to follow",
                retryable=False,
            )
        self.response = response
        return self


# scheme "://" authority: what urlsplit calls the netloc, in one match (urlsplit cost
# several microseconds per URL, all of it holding the GIL).
_AUTHORITY = re.compile(r"[^:/?#]*://([^/?#]*)")


def host_of(url: str) -> str:
    """The per-host limit key: the URL's host and port, lower-cased (no user info)."""
    match = _AUTHORITY.match(url)
    netloc = match.group(1) if match is not None else urlsplit(url).netloc
    return netloc.rpartition("@")[2].lower()


def retryable(exc: BaseException) -> bool:
    """Whether the transport says another attempt may help (timeouts, resets, 408/429/5xx)."""
    return isinstance(exc, TransportError) and exc.retryable


def work_host(work: Work) -> Hashable:
    """A stage's ``key``: the work's host, or None for a URL refused by robots.txt (it
    passes the fetch stage without waiting for the host's slot or rate)."""
    return work.host if work.error is None else None


def work_url(work: Work) -> str:
    """A stage's ``label``: the work's URL."""
    return work.record.url
