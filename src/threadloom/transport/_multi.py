"""``MultiDriver``: many transfers driven from one thread through a ``pycurl.CurlMulti``.

This is what ``curl -Z`` does. Threads that each block in ``Curl.perform`` pay for the
GIL on every libcurl callback (a header line, a body chunk, a progress tick) while seven
other threads want it too, and for a thread switch per request; measured on 2 cores with
8 transfers at a time, that costs several times the transfer itself. Here one thread
owns every easy handle and the multi handle: it waits in ``epoll`` for the sockets
libcurl names (``M_SOCKETFUNCTION``) and for libcurl's next timeout
(``M_TIMERFUNCTION``), lets libcurl act on them (``socket_action``), and completes each
finished transfer's ``Future``. Callers hand it requests through a locked deque and one
wake-up byte on a socketpair (sent only when the driver may be asleep).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

import pycurl

from threadloom.transport._errors import InvalidUrl
from threadloom.transport._exchange import build_response, request_url
from threadloom.transport._handle import Handle
from threadloom.transport._mapping import map_curl_error
from threadloom.transport._options import TransportOptions
from threadloom.transport._response import Response

_log = logging.getLogger("threadloom.transport")

# How often running transfers are checked for stalls (the cut comes at most this much
# after ``low_speed_time``; the per-thread client's progress callback is about 1 s).
_SWEEP = 0.25


@dataclass(slots=True)
class _Request:
    url: str
    target: str
    raise_for_status: bool
    future: Future[Response]


class MultiDriver:
    """Runs GET requests concurrently on one named daemon thread; see the module docstring.

    ``submit(url)`` returns a ``concurrent.futures.Future`` that resolves exactly as
    ``HttpClient.get(url)`` returns or raises (same ``Response``, same ``TransportError``
    subclasses and reasons). At most ``max_transfers`` run at once (None: no cap); the
    rest wait in submission order. Futures are completed on the driver thread, so their
    done-callbacks run there and must be quick. An unexpected error while starting or
    finishing one transfer fails that future with it and the driver carries on; should
    the driver itself fail, every outstanding future fails with a RuntimeError caused by
    that error, and the driver is closed.
    """

    def __init__(
        self,
        options: TransportOptions,
        *,
        max_transfers: int | None = None,
        name: str = "threadloom-http",
    ) -> None:
        if max_transfers is not None and max_transfers < 1:
            raise ValueError(f"max_transfers must be None or >= 1, got {max_transfers}")
        self.options = options
        self._max = max_transfers
        self._lock = threading.Lock()
        self._incoming: deque[_Request] = deque()
        self._closed = False
        self._wake_pending = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # Everything below is touched by the driver thread only.
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._wake_fd = self._wake_r.fileno()
        self._timer_due: float | None = None
        self._waiting: deque[_Request] = deque()
        self._active: dict[pycurl.Curl, tuple[Handle, _Request]] = {}
        self._free: list[Handle] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---- any thread ------------------------------------------------------------------

    def submit(self, url: str, *, raise_for_status: bool = True) -> Future[Response]:
        """Start a GET of ``url``; the future resolves as ``HttpClient.get`` would return.

        A URL that is not http(s) fails the future at once with ``InvalidUrl`` (no I/O).
        Cancelling the future works until the transfer starts. Raises RuntimeError once
        the driver is closed.
        """
        future: Future[Response] = Future()
        try:
            target = request_url(url)
        except InvalidUrl as exc:
            future.set_running_or_notify_cancel()
            future.set_exception(exc)
            return future
        with self._lock:
            if self._closed:
                raise RuntimeError("HttpClient is closed")
            self._incoming.append(_Request(url, target, raise_for_status, future))
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            self._wake()
        return future

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
        select = self._selector.select
        monotonic = time.monotonic
        active = self._active
        next_sweep = monotonic() + _SWEEP
        while True:
            if self._take_incoming():
                return
            self._start_waiting()
            now = monotonic()
            due = self._timer_due
            timeout = None if due is None else max(0.0, due - now)
            if active:
                timeout = min(timeout, _SWEEP) if timeout is not None else _SWEEP
            for key, mask in select(timeout):
                fd = key.fd
                if fd == self._wake_fd:
                    self._drain_wake()
                    continue
                flags = (pycurl.CSELECT_IN if mask & selectors.EVENT_READ else 0) | (
                    pycurl.CSELECT_OUT if mask & selectors.EVENT_WRITE else 0
                )
                multi.socket_action(fd, flags)
            due = self._timer_due
            if due is not None and monotonic() >= due:
                self._timer_due = None
                multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
            self._collect()
            if active:
                now = monotonic()
                if now >= next_sweep:
                    next_sweep = now + _SWEEP
                    self._sweep()
            else:
                next_sweep = monotonic() + _SWEEP

    def _take_incoming(self) -> bool:
        """Move submitted requests to the waiting line; True when the driver must stop."""
        with self._lock:
            if self._closed:
                return True
            self._wake_pending = False
            incoming = self._incoming
            if incoming:
                self._waiting.extend(incoming)
                incoming.clear()
        return False

    def _start_waiting(self) -> None:
        waiting = self._waiting
        limit = self._max
        while waiting and (limit is None or len(self._active) < limit):
            request = waiting.popleft()
            if not request.future.set_running_or_notify_cancel():
                continue  # cancelled before it started
            try:
                self._start(request)
            except BaseException as exc:
                # The request is in neither line now, so nothing else would ever settle
                # its future; the failure (a setopt pycurl refused, a bug) is its alone.
                request.future.set_exception(exc)

    def _start(self, request: _Request) -> None:
        handle = self._free.pop() if self._free else Handle(self.options, watch_progress=False)
        try:
            handle.begin(request.target)
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
        outcome: Response | BaseException
        try:
            self._multi.remove_handle(curl)
            if code:
                outcome = map_curl_error(url, code, message, handle)
            else:
                outcome = build_response(url, handle, request.raise_for_status)
        except BaseException as exc:
            # A TransportError is the usual answer; anything else (a decoding error, a
            # bug) is this request's too, rather than the end of the driver with this
            # future, already out of ``_active``, never settled.
            outcome = exc
        if isinstance(outcome, BaseException):
            request.future.set_exception(outcome)
        else:
            request.future.set_result(outcome)
        handle.end()
        self._free.append(handle)

    def _sweep(self) -> None:
        """Abort transfers that stalled (no data, or too slow, for ``low_speed_time``)."""
        for curl, (handle, _request) in list(self._active.items()):
            if handle.stalled_now(curl.getinfo(pycurl.SIZE_DOWNLOAD_T)):
                self._finish(curl, pycurl.E_ABORTED_BY_CALLBACK, "stalled")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _on_socket(self, what: int, fd: int, _multi: object, _socketp: object) -> None:
        selector = self._selector
        if what == pycurl.POLL_REMOVE:
            with contextlib.suppress(KeyError, ValueError, OSError):
                selector.unregister(fd)
            return
        events = (selectors.EVENT_READ if what & pycurl.POLL_IN else 0) | (
            selectors.EVENT_WRITE if what & pycurl.POLL_OUT else 0
        )
        try:
            selector.modify(fd, events)
        except KeyError:
            selector.register(fd, events)
        except OSError:
            # libcurl closed the socket without a POLL_REMOVE and the number was reused.
            selector.unregister(fd)
            selector.register(fd, events)

    def _on_timer(self, timeout_ms: int) -> None:
        self._timer_due = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000

    def _shut(self, failure: BaseException | None) -> None:
        """Settle every outstanding future, then release every handle and the sockets.

        After ``close()`` (``failure`` None) what waits is cancelled and what runs fails
        with RuntimeError; after the driver failed, all of them fail with a RuntimeError
        whose ``__cause__`` is ``failure``.
        """
        with self._lock:
            self._waiting.extend(self._incoming)
            self._incoming.clear()
        # Futures first: an error while releasing resources must not leave one pending.
        for request in self._waiting:
            future = request.future  # pending or cancelled: only this thread starts one
            if failure is None:
                future.cancel()
            elif future.set_running_or_notify_cancel():  # so no cancel() races set_exception
                future.set_exception(_closed_error("HttpClient is closed", failure))
        self._waiting.clear()
        for _handle, request in self._active.values():
            if not request.future.done():
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
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()


def _closed_error(message: str, failure: BaseException | None) -> RuntimeError:
    # One exception per future: a shared one would gather every raiser's traceback.
    if failure is None:
        return RuntimeError(message)
    error = RuntimeError(f"{message}: the transfer driver failed ({failure!r})")
    error.__cause__ = failure
    return error
