"""``MultiDriver``: many transfers driven from one thread through a ``pycurl.CurlMulti``.

This is what ``curl -Z`` does. Threads that each block in ``Curl.perform`` pay for the
GIL on every libcurl callback (a header line, a body chunk) while other threads want it
too, and for a thread switch per request; on 2 cores with 8 transfers at a time that
costs several times the transfer itself. Here one thread owns every easy handle and the
multi handle and runs the classic loop: ``curl_multi_perform`` (all transfers advance in
C, the GIL released), collect the finished ones and complete their ``Future`` s, then
``poll`` the sockets ``curl_multi_fdset`` names (and those it cannot name, numbered 1024
or higher: see ``_watch_high_sockets``), for at most ``curl_multi_timeout``.
That costs a few Python calls per *loop*, not per socket event: 20,000 small documents
from nginx took ~15 us of CPU each this way, against ~45 us with ``socket_action`` and
a Python callback per socket change. Callers hand it requests through a locked deque
and one wake-up byte on a socketpair (sent only when the driver may be asleep), which
the poll watches too. A ``TransferFeed`` (``_feed.py``) is the other way in: the driver
asks it for requests when it has room and hands it each wake-up's finished transfers as
one list, with no future per request and no other thread involved.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, cast

import pycurl

from threadloom.core._future import LeanFuture
from threadloom.transport._errors import InvalidUrl
from threadloom.transport._exchange import build_response, request_url
from threadloom.transport._feed import FeedResult, TransferFeed
from threadloom.transport._handle import Handle
from threadloom.transport._mapping import map_curl_error
from threadloom.transport._options import TransportOptions
from threadloom.transport._response import Response

_log = logging.getLogger("threadloom.transport")

# How often running transfers are checked for stalls, whatever ``stall_check`` says: the
# cut comes at most this much after ``low_speed_time`` (libcurl's own low-speed limit
# can be ~6 s late), for one getinfo per running transfer per sweep, not per transfer.
# The total limit (``options.timeout``, the fetch's --max-time) needs no sweep: it is a
# libcurl timer, which curl_multi_timeout wakes the poll for, so it cuts to the
# millisecond (measured: 1.00 s for a 1 s limit on a body trickling 10 bytes/s, against
# up to _SWEEP late here), and its reason is built from getinfo all the same.
_SWEEP = 0.25
# The longest wait for socket activity while transfers run: a safety net, so that a
# transfer whose socket the loop does not watch (see _FD_SETSIZE) still progresses, on
# libcurl's timers, instead of hanging.
_MAX_WAIT_MS = 100
# curl_multi_fdset leaves out sockets numbered this or higher (glibc's fd_set size). The
# loop watches those transfers' sockets itself (_watch_high_sockets).
_FD_SETSIZE = 1024
# The longest wait while a transfer has no socket yet (connecting) in a process whose
# sockets may be numbered _FD_SETSIZE or higher: such a socket cannot be watched before
# libcurl names it, so the connect moves on this timer instead of _MAX_WAIT_MS.
_UNWATCHED_WAIT_MS = 5
# A finished transfer's buffers are dropped at once only above this size; smaller ones
# are replaced when the handle's next request begins (saving two setopts per request).
_KEEP_BODY_BYTES = 1 << 20
# Wake-up bytes read at once (each submit from another thread sends at most one).
_DRAIN_BYTES = 4096
# The room a feed is offered when the driver has no cap on transfers.
_UNCAPPED_ROOM = 1 << 16
_POLL_IN = select.POLLIN
_POLL_OUT = select.POLLOUT


@dataclass(slots=True)
class _Request:
    url: str
    target: str
    raise_for_status: bool
    future: Future[Any] | None  # None: a feed's request, its result goes to the feed
    then: Callable[[Response], Any] | None
    headers: tuple[str, ...] = ()
    tag: object = None  # a feed's tag for the request


class MultiDriver:
    """Runs GET requests concurrently on one named daemon thread; see the module docstring.

    ``submit(url)`` returns a ``concurrent.futures.Future`` that resolves exactly as
    ``HttpClient.get(url)`` returns or raises (same ``Response``, same ``TransportError``
    subclasses and reasons). At most ``max_transfers`` run at once (None: no cap); the
    rest wait in submission order. Futures are completed on the driver thread, so their
    done-callbacks run there and must be quick. An unexpected error while starting or
    finishing one transfer fails that future with it and the driver carries on; should
    the driver itself fail, every outstanding future fails with a RuntimeError caused by
    that error, and the driver is closed. ``share`` (a CurlShare, the client's cookie
    store) is set on every handle the driver makes.
    """

    def __init__(
        self,
        options: TransportOptions,
        *,
        max_transfers: int | None = None,
        name: str = "threadloom-http",
        share: pycurl.CurlShare | None = None,
    ) -> None:
        if max_transfers is not None and max_transfers < 1:
            raise ValueError(f"max_transfers must be None or >= 1, got {max_transfers}")
        self.options = options
        self._share = share  # the client's cookie store, given to every handle
        self._max = max_transfers
        self._lock = threading.Lock()
        self._incoming: deque[_Request] = deque()
        self._closed = False
        self._wake_pending = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # The feed (see attach): handed over and let go under the lock, used by the
        # driver thread only once taken up.
        self._feed_attached = False
        self._attaching: TransferFeed | None = None
        self._detaching = False
        self._feed_gone = threading.Event()
        self._feed: TransferFeed | None = None
        self._finished: list[FeedResult] = []
        # Everything below is touched by the driver thread only.
        self._multi = pycurl.CurlMulti()
        self._wake_fd = self._wake_r.fileno()
        # Whether this process's sockets may be numbered _FD_SETSIZE or higher: the
        # wake-up socket is, or a transfer's socket was.
        self._high_sockets = max(self._wake_fd, self._wake_w.fileno()) >= _FD_SETSIZE
        self._waiting: deque[_Request] = deque()
        self._active: dict[pycurl.Curl, tuple[Handle, _Request]] = {}
        self._free: list[Handle] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        # Thread.ident is a property (an assert and an attribute): read once, not per submit.
        self._ident = self._thread.ident

    # ---- any thread ------------------------------------------------------------------

    def submit(
        self,
        url: str,
        *,
        raise_for_status: bool = True,
        headers: tuple[str, ...] = (),
        then: Callable[[Response], Any] | None = None,
    ) -> Future[Any]:
        """Start a GET of ``url``; the future resolves as ``HttpClient.get`` would return,
        or, with ``then``, to ``then(response)`` (called on the driver thread; what it
        raises fails the future). ``headers``: checked header lines for this request
        only (see `Handle.begin`).

        A URL that is not http(s) fails the future at once with ``InvalidUrl`` (no I/O).
        Cancelling the future works until the transfer starts. Raises RuntimeError once
        the driver is closed.
        """
        # LeanFuture: a standard Future that costs about half as much per request.
        future: Future[Any] = LeanFuture()
        try:
            target = request_url(url)
        except InvalidUrl as exc:
            future.set_running_or_notify_cancel()
            future.set_exception(exc)
            return future
        # The driver thread itself (a done-callback starting the next request) is not
        # asleep: it looks at the incoming line again before it next waits, so it sends
        # itself no wake-up byte (and leaves _wake_pending alone, so that other threads'
        # submits in the meantime still send theirs).
        on_driver = threading.get_ident() == self._ident
        with self._lock:
            if self._closed:
                raise RuntimeError("HttpClient is closed")
            self._incoming.append(_Request(url, target, raise_for_status, future, then, headers))
            wake = not on_driver and not self._wake_pending
            if wake:
                self._wake_pending = True
        if wake:
            self._wake()
        return future

    def attach(self, feed: TransferFeed) -> FeedLink:
        """Let the driver take requests from ``feed`` and give it their results (see
        `TransferFeed`), besides submitted ones (which start first when both wait).
        RuntimeError if the driver is closed or another feed is attached."""
        with self._lock:
            if self._closed:
                raise RuntimeError("HttpClient is closed")
            if self._feed_attached:
                raise RuntimeError("a transfer feed is attached already; detach it first")
            self._feed_attached = True
            self._attaching = feed
            self._detaching = False
            gone = self._feed_gone = threading.Event()
        self.wake()
        return FeedLink(self, gone)

    def wake(self) -> None:
        """Make the driver look at its feed (and submitted requests) again soon: for a
        feed that has new requests. Free on the driver thread, cheap elsewhere."""
        if threading.get_ident() == self._ident:
            return  # the driver asks its feed again before it next waits
        with self._lock:
            if self._closed or self._wake_pending:
                return
            self._wake_pending = True
        self._wake()

    def _detach(self) -> None:
        with self._lock:
            if self._closed or not self._feed_attached:
                return
            self._detaching = True
        self._wake()

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the driver: requests not started are cancelled, running transfers are
        aborted (their futures fail with RuntimeError), handles and connections closed.
        Waits up to ``timeout`` seconds for the thread. Idempotent."""
        with self._lock:
            already = self._closed
            self._closed = True
        if not already:
            self._wake()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _wake(self) -> None:
        # A full socketpair already holds a wake-up; a closed one means the driver stopped.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # ---- the driver thread -------------------------------------------------------------

    def _run(self) -> None:
        failure: BaseException | None = None
        try:
            self._loop()
        except BaseException as exc:
            failure = exc
            _log.critical("transfer driver failed", exc_info=True)
            with self._lock:
                self._closed = True
        finally:
            self._shut(failure)

    def _loop(self) -> None:
        multi = self._multi
        perform = multi.perform
        fdset = multi.fdset
        monotonic = time.monotonic
        active = self._active
        wake = self._wake_fd
        limit = self._max
        next_sweep = monotonic() + _SWEEP
        while True:
            if self._take_incoming():
                return
            self._start_waiting()
            if active:
                while perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                    pass
                self._collect()
                if monotonic() >= next_sweep:
                    next_sweep = monotonic() + _SWEEP
                    self._sweep()
            delivered = bool(self._finished)
            if delivered:
                self._deliver()
            room = limit is None or len(active) < limit
            if self._incoming or (
                room and (self._waiting or (delivered and self._feed is not None))
            ):
                # Finished transfers made room, or callbacks on this thread (of finished
                # or failed requests) submitted more without a wake-up, or the feed may
                # have more now: go on at once.
                continue
            poller = select.poll()
            poller.register(wake, _POLL_IN)
            if active:
                # curl_multi_fdset: the sockets libcurl waits on now. (poll reports
                # errors and hang-ups whatever it is asked, so fdset's third set is moot.)
                reads, writes, _errors = fdset()
                masks = dict.fromkeys(reads, _POLL_IN)
                for fd in writes:
                    masks[fd] = masks.get(fd, 0) | _POLL_OUT
                unwatched = self._watch_high_sockets(masks)
                for fd, mask in masks.items():
                    poller.register(fd, mask)
                timeout_ms = multi.timeout()
                timeout = _MAX_WAIT_MS if timeout_ms < 0 else min(timeout_ms, _MAX_WAIT_MS)
                if unwatched:
                    timeout = min(timeout, _UNWATCHED_WAIT_MS)
                timeout = min(timeout, max(0, int((next_sweep - monotonic()) * 1000)))
                events = poller.poll(timeout)
            else:
                events = poller.poll()
            for fd, _mask in events:
                if fd == wake:
                    self._drain_wake()
            if not active:
                next_sweep = monotonic() + _SWEEP

    def _watch_high_sockets(self, masks: dict[int, int]) -> bool:
        """Add the sockets fdset could not report (numbered ``_FD_SETSIZE`` or higher,
        in a process with that many files open) to ``masks``, for reading; return
        whether, with such sockets about, a transfer has no socket to watch yet.

        Without this such a transfer moves only on the ``_MAX_WAIT_MS`` safety timer
        (measured: 80 ms a request instead of ~1 ms). Reading is what a GET waits for once
        its request is sent. A connect has no socket to watch until libcurl names it; the
        caller then waits at most ``_UNWATCHED_WAIT_MS``. One ``getinfo`` per running
        transfer per loop (~0.15 us each).
        """
        unnamed = False
        for curl in self._active:
            fd: int = curl.getinfo(pycurl.ACTIVESOCKET)
            if fd >= _FD_SETSIZE:
                self._high_sockets = True
                if fd not in masks:
                    masks[fd] = _POLL_IN
            elif fd < 0:
                unnamed = True
        return unnamed and self._high_sockets

    def _take_incoming(self) -> bool:
        """Move submitted requests to the waiting line, take up or let go of a feed;
        True when the driver must stop."""
        with self._lock:
            if self._closed:
                return True
            self._wake_pending = False
            incoming = self._incoming
            if incoming:
                self._waiting.extend(incoming)
                incoming.clear()
            if self._attaching is not None:
                self._feed, self._attaching = self._attaching, None
            detach, self._detaching = self._detaching, False
        if detach:
            self._drop_feed(None)
        return False

    def _start_waiting(self) -> None:
        waiting = self._waiting
        limit = self._max
        while waiting and (limit is None or len(self._active) < limit):
            request = waiting.popleft()
            future = request.future
            assert future is not None  # the waiting line holds submitted requests only
            if not future.set_running_or_notify_cancel():
                continue  # cancelled before it started
            try:
                self._start(request)
            except BaseException as exc:
                # The request is in neither line now, so nothing else would ever settle
                # its future; the failure (a setopt pycurl refused, a bug) is its alone.
                future.set_exception(exc)
        feed = self._feed
        if feed is None or waiting:
            return
        room = _UNCAPPED_ROOM if limit is None else limit - len(self._active)
        if room <= 0:
            return
        try:
            taken = feed.take(room)
        except BaseException as exc:
            self._feed_failed(exc)
            return
        finished = self._finished
        for url, tag in taken:
            try:
                self._start(_Request(url, request_url(url), True, None, None, (), tag))
            except BaseException as exc:  # an InvalidUrl, a setopt refused: this one's
                finished.append((tag, exc))

    def _deliver(self) -> None:
        """Hand the feed the results of its requests that ended in this loop."""
        results, self._finished = self._finished, []
        feed = self._feed
        if feed is None:
            return
        try:
            feed.finished(results)
        except BaseException as exc:
            self._feed_failed(exc)

    def _feed_failed(self, exc: BaseException) -> None:
        _log.critical("transfer feed %r failed; detached", self._feed, exc_info=exc)
        self._drop_feed(exc)

    def _drop_feed(self, error: BaseException | None) -> None:
        """Let the feed go: abort its transfers, drop their results, tell it (once)."""
        feed = self._feed
        if feed is None:
            return
        self._feed = None
        for curl, (handle, request) in list(self._active.items()):
            if request.future is None:
                del self._active[curl]
                with contextlib.suppress(pycurl.error):
                    self._multi.remove_handle(curl)
                self._free.append(handle)
        self._finished.clear()
        with self._lock:
            self._feed_attached = False
            gone = self._feed_gone
        try:
            feed.detached(error)
        except BaseException:
            _log.critical("transfer feed %r failed while detached", feed, exc_info=True)
        finally:
            gone.set()

    def _start(self, request: _Request) -> None:
        handle = (
            self._free.pop()
            if self._free
            else Handle(self.options, watch_progress=False, share=self._share)
        )
        try:
            handle.begin(request.target, request.headers)
            self._multi.add_handle(handle.curl)
        except BaseException:
            handle.close()  # half set up: not worth trusting with another request
            raise
        self._active[handle.curl] = (handle, request)

    def _collect(self) -> None:
        info_read = self._multi.info_read
        while True:
            queued, succeeded, failed = info_read()
            for curl in succeeded:
                self._finish(curl, 0, "")
            for curl, code, message in failed:
                self._finish(curl, code, message)
            if not queued:
                return

    def _finish(self, curl: pycurl.Curl, code: int, message: str) -> None:
        handle, request = self._active.pop(curl)
        url = request.url
        outcome: object
        try:
            self._multi.remove_handle(curl)
            if code:
                outcome = map_curl_error(url, code, message, handle)
            else:
                outcome = build_response(url, handle, request.raise_for_status)
                if request.then is not None:
                    outcome = request.then(outcome)
        except BaseException as exc:
            # A TransportError is the usual answer; anything else (a decoding error, a
            # bug) is this request's too, rather than the end of the driver with this
            # future, already out of ``_active``, never settled.
            outcome = exc
        future = request.future
        if future is None:  # a feed's request: no ``then``, so a Response or an error
            self._finished.append((request.tag, cast("Response | BaseException", outcome)))
        elif isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
        if handle.body.tell() > _KEEP_BODY_BYTES:
            handle.end()  # an idle handle should not pin a large body in memory
        self._free.append(handle)

    def _sweep(self) -> None:
        """Abort transfers that stalled (no data, or too slow, for ``low_speed_time``).

        A transfer still connecting (no active socket until the TCP, proxy and TLS steps
        are done) is libcurl's to cut at ``connect_timeout``, as in the easy client, and
        its error names the step; cut here, it could not (libcurl fills in a
        connection's details only once connected or failed).
        """
        for curl, (handle, _request) in list(self._active.items()):
            if curl.getinfo(pycurl.ACTIVESOCKET) < 0:
                handle.still_connecting()
            elif handle.stalled_now(curl.getinfo(pycurl.SIZE_DOWNLOAD_T)):
                self._finish(curl, pycurl.E_ABORTED_BY_CALLBACK, "stalled")

    def _drain_wake(self) -> None:
        # A stream socket: a read shorter than asked for took all there was, so the
        # usual single byte costs one recv, not a second one raising BlockingIOError
        # (an exception per wake-up, most of this call's time).
        recv = self._wake_r.recv
        try:
            while len(recv(_DRAIN_BYTES)) == _DRAIN_BYTES:
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _shut(self, failure: BaseException | None) -> None:
        """Settle every outstanding future, then release every handle and the sockets.

        After ``close()`` (``failure`` None) what waits is cancelled and what runs fails
        with RuntimeError; after the driver failed, all of them fail with a RuntimeError
        whose ``__cause__`` is ``failure``.
        """
        with self._lock:
            self._waiting.extend(self._incoming)
            self._incoming.clear()
            if self._attaching is not None:
                self._feed, self._attaching = self._attaching, None
        # The feed first (its transfers aborted, then told), then the futures: an error
        # while releasing resources must not leave one pending.
        self._drop_feed(_closed_error("HttpClient is closed", failure))
        for request in self._waiting:
            future = request.future  # pending or cancelled: only this thread starts one
            assert future is not None  # the waiting line holds submitted requests only
            if failure is None:
                future.cancel()
            elif future.set_running_or_notify_cancel():  # so no cancel() races set_exception
                future.set_exception(_closed_error("HttpClient is closed", failure))
        self._waiting.clear()
        for _handle, request in self._active.values():
            if request.future is not None and not request.future.done():
                request.future.set_exception(
                    _closed_error("HttpClient was closed while the request was in flight", failure)
                )
        for curl, (handle, _request) in self._active.items():
            with contextlib.suppress(pycurl.error):
                self._multi.remove_handle(curl)
            self._free.append(handle)
        self._active.clear()
        for handle in self._free:
            handle.close()
        self._free.clear()
        self._multi.close()
        self._wake_r.close()
        self._wake_w.close()


def _closed_error(message: str, failure: BaseException | None) -> RuntimeError:
    # One exception per future: a shared one would gather every raiser's traceback.
    if failure is None:
        return RuntimeError(message)
    error = RuntimeError(f"{message}: the transfer driver failed ({failure!r})")
    error.__cause__ = failure
    return error


class FeedLink:
    """An attached `TransferFeed`'s line to the transfer thread (`HttpClient.attach`)."""

    __slots__ = ("_driver", "_gone")

    def __init__(self, driver: MultiDriver, gone: threading.Event) -> None:
        self._driver = driver
        self._gone = gone

    def wake(self) -> None:
        """Tell the transfer thread the feed has new requests (it asks `take` soon)."""
        self._driver.wake()

    def detach(self, timeout: float | None = None) -> bool:
        """Let the feed go: its transfers in flight are aborted (results dropped) and
        its ``detached(None)`` is called on the transfer thread. Waits up to ``timeout``
        seconds (None: as long as it takes; not at all on the transfer thread itself)
        for that; True if it happened. Idempotent."""
        self._driver._detach()
        if threading.get_ident() == self._driver._ident:
            return self._gone.is_set()
        return self._gone.wait(timeout)

    @property
    def detached(self) -> bool:
        """True once the feed's ``detached`` has been called."""
        return self._gone.is_set()
