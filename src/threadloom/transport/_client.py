"""``HttpClient``: thread-safe GETs over pycurl, one reusable easy handle per thread,
or many transfers driven by one thread through ``submit``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self, TypeVar, overload

import pycurl

from threadloom.transport._exchange import build_response, request_url
from threadloom.transport._feed import TransferFeed
from threadloom.transport._handle import Handle, cookie_share
from threadloom.transport._mapping import map_curl_error
from threadloom.transport._multi import FeedLink, MultiDriver
from threadloom.transport._options import TransportOptions, check_header
from threadloom.transport._response import Response

_T = TypeVar("_T")


class HttpClient:
    """GET requests over libcurl, safe to share between threads.

    Each thread that calls ``get`` gets its own pycurl easy handle, created on first
    use and kept for the thread's later requests, so connections are kept alive and
    reused (and TLS sessions resumed) per thread. libcurl releases the GIL while it
    transfers. Handles of threads that have ended are closed when another thread
    creates one; ``close()`` closes them all. Usable as a context manager.

    :meth:`submit` is the other way in: it returns a ``Future`` at once and one thread
    drives all submitted transfers (a ``CurlMulti``), which is far cheaper in CPU than
    a thread blocked in ``get`` per transfer when there are many small ones.

    With ``options.cookie_file`` the file is loaded here (ValueError if it cannot be
    read or holds no cookie) into one cookie store that every handle of the client,
    ``get`` and ``submit`` alike, shares.
    """

    def __init__(
        self, options: TransportOptions | None = None, *, max_transfers: int | None = None
    ) -> None:
        if max_transfers is not None and max_transfers < 1:
            raise ValueError(f"max_transfers must be None or >= 1, got {max_transfers}")
        self.options = options if options is not None else TransportOptions()
        self._max_transfers = max_transfers
        # Referenced by every handle that uses it (pycurl keeps it alive until the last
        # one is closed), so close() needs no ordering with the driver thread.
        self._share = cookie_share(self.options)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: dict[threading.Thread, Handle] = {}
        self._driver: MultiDriver | None = None
        self._closed = False

    @property
    def handle_count(self) -> int:
        """How many libcurl handles are open (one per thread that has used the client)."""
        with self._lock:
            return len(self._handles)

    def get(
        self, url: str, *, raise_for_status: bool = True, headers: Sequence[str] = ()
    ) -> Response:
        """GET ``url`` and return the complete ``Response``.

        ``headers``: ``"Name: value"`` lines sent with this request only (a conditional
        request's ``If-None-Match``), besides ``options.headers``, replacing one of
        those of the same name; each is checked as ``check_header`` checks (ValueError).

        Follows up to ``options.max_redirects`` redirects, to http/https only; the body
        is decoded and complete (a body shorter than its ``Content-Length`` is always a
        ``TruncatedBody``, never a response). Non-ASCII characters in ``url`` are
        percent-encoded as UTF-8.

        Raises:
            HttpStatusError: the final status is >= 400 and ``raise_for_status`` is
                True (the default); it carries the response.
            TransportError: any other failure, as the subclass naming it
                (``ConnectError``, ``TransferTimeout``, ``TruncatedBody``, ``TooLarge``,
                ``RedirectRefused``, ``InvalidUrl``, ...), with a one-line ``reason``.
            RuntimeError: the client is closed.
        """
        target = request_url(url)
        extra = _checked(headers)
        handle = self._handle()
        handle.begin(target, extra)
        try:
            handle.curl.perform()
        except pycurl.error as exc:
            code, message = exc.args
            raise map_curl_error(url, code, message, handle) from None
        else:
            return build_response(url, handle, raise_for_status)
        finally:
            handle.end()

    @overload
    def submit(
        self, url: str, *, raise_for_status: bool = True, headers: Sequence[str] = ()
    ) -> Future[Response]: ...

    @overload
    def submit(
        self,
        url: str,
        *,
        raise_for_status: bool = True,
        headers: Sequence[str] = (),
        then: Callable[[Response], _T],
    ) -> Future[_T]: ...

    def submit(
        self,
        url: str,
        *,
        raise_for_status: bool = True,
        headers: Sequence[str] = (),
        then: Callable[[Response], Any] | None = None,
    ) -> Future[Any]:
        """Start a GET of ``url`` on the client's transfer thread; return its ``Future``.

        The future resolves exactly as :meth:`get` returns or raises (the same
        ``Response``, the same ``TransportError`` subclasses and reasons); with
        ``then``, it resolves to ``then(response)`` instead, called on the transfer
        thread (keep it quick; what it raises fails the future). That saves chaining a
        second future when the caller wants the response turned into something else.
        The calling thread does not wait: one thread (``threadloom-http``, started on the
        first ``submit``) drives every submitted transfer through a ``pycurl.CurlMulti``,
        as ``curl -Z`` does, and completes the futures, so their done-callbacks run on
        that thread and must be quick. At most ``max_transfers`` (a constructor
        argument) run at once; the rest wait in submission order. Cancelling a future
        works until its transfer starts. Connections are kept alive between transfers.
        ``headers`` are sent with this request only, as for :meth:`get` (ValueError for
        a bad one, raised here). Raises RuntimeError if the client is closed.
        """
        extra = _checked(headers)
        driver = self._driver or self._start_driver()
        return driver.submit(url, raise_for_status=raise_for_status, headers=extra, then=then)

    def attach(self, feed: TransferFeed) -> FeedLink:
        """Drive the requests ``feed`` hands out on the transfer thread (the one
        `submit` uses, started if need be) and hand it their results in batches: see
        `TransferFeed`. At most ``max_transfers`` run at once, submitted ones and the
        feed's together (submitted ones start first). Returns the `FeedLink` that wakes
        the thread for new requests and detaches the feed. RuntimeError if the client
        is closed or a feed is attached already. Closing the client detaches the feed
        (``detached`` gets a RuntimeError)."""
        return (self._driver or self._start_driver()).attach(feed)

    def _start_driver(self) -> MultiDriver:
        with self._lock:
            if self._closed:
                raise RuntimeError("HttpClient is closed")
            driver = self._driver
            if driver is None:
                driver = self._driver = MultiDriver(
                    self.options, max_transfers=self._max_transfers, share=self._share
                )
            return driver

    def _handle(self) -> Handle:
        handle: Handle | None = getattr(self._local, "handle", None)
        if handle is not None and not self._closed:
            return handle
        with self._lock:
            if self._closed:
                raise RuntimeError("HttpClient is closed")
            # Threads come and go in some programs; close handles whose thread ended
            # so the open handles stay bounded by the live threads.
            for thread in [t for t in self._handles if not t.is_alive()]:
                self._handles.pop(thread).close()
            handle = Handle(self.options, share=self._share)
            self._handles[threading.current_thread()] = handle
        self._local.handle = handle
        return handle

    def close(self) -> None:
        """Close every handle (and so every kept-alive connection) this client made.

        Call it once no ``get`` is running; later ``get`` and ``submit`` calls raise
        RuntimeError. Submitted requests not started yet are cancelled; transfers still
        running are aborted and their futures fail with RuntimeError. Idempotent.
        """
        with self._lock:
            self._closed = True
            handles = list(self._handles.values())
            self._handles.clear()
            driver = self._driver
        for handle in handles:
            handle.close()
        if driver is not None:
            driver.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _checked(headers: Sequence[str]) -> tuple[str, ...]:
    """``headers`` as a tuple, each line checked by ``check_header`` (ValueError)."""
    return tuple(check_header(line) for line in headers) if headers else ()
