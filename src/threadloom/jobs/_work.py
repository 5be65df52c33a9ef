"""One URL on its way through a fetch pipeline, and the small functions its stages use
(the per-host key, the retry test, the label) and its recording uses (the failure's
reason, the outcome): shared by the fetch pass, both ways (``_fetch.py``'s pipeline,
``_direct.py``), and the refresh pass."""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from threadloom.jobs._process import ProcessOutcome
from threadloom.store import NOT_PROCESSED, Outcome, State, Store, UrlRecord
from threadloom.transport import (
    HttpStatusError,
    Response,
    TransportError,
    response_head,
    status_text,
)


@dataclass(slots=True)
class Work:
    """One URL on its way through the stages; ``attempts`` counts this run's requests;
    ``headers`` are sent with each of its requests only (a refresh's conditions).

    It is also what a `KeyGate` admits on the plain fetch path (``_direct.py``; see
    ``threadloom.core._gated.Gated``): keyed by ``host``, in input order (``seq``), with
    the gate's own limit and rate; ``keyed`` and ``dropped`` are the gate's marks.
    """

    record: UrlRecord
    host: str
    attempts: int = 0
    response: Response | None = None
    error: str | None = None
    http_status: int | None = None
    processed: ProcessOutcome | None = field(default=None)
    headers: tuple[str, ...] = ()
    keyed: bool = False
    dropped: bool = False

    @property
    def key(self) -> Hashable:
        """The per-host limit key (`Gated.key`): ``host``."""
        return self.host

    @property
    def key_limit(self) -> None:
        """None: the gate's limit (``per_host``) holds for every host."""
        return None

    @property
    def key_rate(self) -> None:
        """None: the gate's rate (``rate``) holds for every host."""
        return None

    @property
    def priority(self) -> int:
        """0: URLs start in input order."""
        return 0

    @property
    def order(self) -> int:
        """The URL's place in the input (``seq``)."""
        return self.record.seq

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


def fail_work(work: Work, exc: BaseException) -> Work:
    """The fetch stage's error policy: a failure after the last attempt becomes the
    work's ``error`` (the transport's one-line reason, else the exception's type and
    text) and, for an HTTP status, its ``http_status``."""
    if isinstance(exc, TransportError):
        work.error = exc.reason
        if isinstance(exc, HttpStatusError):
            work.http_status = exc.status
    else:
        work.error = f"{type(exc).__name__}: {exc}"
    return work


def work_outcome(work: Work) -> Outcome:
    """The `Outcome` to record for ``work``: done with its response (and processing
    result), or failed with its reason."""
    response = work.response
    if response is None:
        return Outcome(
            url=work.record.url,
            state=State.FAILED,
            http_status=work.http_status,
            attempts=work.attempts,
            error=work.error or "unknown failure",
        )
    processed = work.processed
    return Outcome(
        url=work.record.url,
        state=State.DONE,
        http_status=response.status,
        body=response.body,
        attempts=work.attempts,
        content_type=response.content_type,
        final_url=response.final_url,
        # A failed processing has no result: the URL is processed again by the next
        # run asked to process (a result of None is a result, stored as null).
        processed=NOT_PROCESSED
        if processed is None or processed.error is not None
        else processed.value,
        process_error=None if processed is None else processed.error,
        response_head=response_head(response.status, response.http_version, response.headers),
    )


def record_work(store: Store, work: Work) -> tuple[bool, int]:
    """Record ``work``'s outcome in ``store``; return whether it is recorded done and
    its body's size (0 if not). A plain done document (most of them) goes in straight
    from its response (`Store.record_document`), without an `Outcome`."""
    response = work.response
    if response is not None and work.processed is None:
        body = response.body
        ok = store.record_document(
            work.record.url,
            body,
            response.status,
            work.attempts,
            response.content_type,
            response.final_url,
            response_head(response.status, response.http_version, response.headers),
        )
        return ok, len(body) if ok else 0
    outcome = store.record(work_outcome(work))
    ok = outcome.state is State.DONE
    return ok, len(outcome.body) if ok and outcome.body is not None else 0
