"""One pycurl easy handle and the per-request state its callbacks fill in.

A handle is used by one thread at a time (its owner); configuration that never
changes is set once here, so a request only sets the URL and fresh buffers and the
handle keeps its connection cache (keep-alive) between requests.
"""

from __future__ import annotations

import io
import math
import time

import pycurl

from threadloom.transport._options import TransportOptions

_WEB_PROTOCOLS = pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS

# Why a transfer was aborted by our own callbacks (None: it was not).
STALLED_NO_DATA = "no data"
STALLED_SLOW = "slow"


def libcurl_stall_seconds(low_speed_time: float) -> int:
    """The period libcurl's own stall cut uses for ``low_speed_time``: LOW_SPEED_TIME
    takes whole seconds, so it is rounded up (0.5 s becomes 1 s)."""
    return max(1, math.ceil(low_speed_time))


def millis(seconds: float) -> int:
    """``seconds`` as the whole milliseconds libcurl's ``*_MS`` time limits take (at
    least 1: 0 would mean "no limit")."""
    return max(1, round(seconds * 1000))


def _restrict_protocols(curl: pycurl.Curl) -> None:
    # The *_STR options (libcurl >= 7.85) replace the deprecated bitmasks; pycurl only
    # exposes them from the versions that know them, so fall back to the bitmasks.
    protocols_str = getattr(pycurl, "PROTOCOLS_STR", None)
    redir_protocols_str = getattr(pycurl, "REDIR_PROTOCOLS_STR", None)
    if protocols_str is not None and redir_protocols_str is not None:
        curl.setopt(protocols_str, "http,https")
        curl.setopt(redir_protocols_str, "http,https")
    else:
        curl.setopt(pycurl.PROTOCOLS, _WEB_PROTOCOLS)
        curl.setopt(pycurl.REDIR_PROTOCOLS, _WEB_PROTOCOLS)


class Handle:
    """A configured ``pycurl.Curl`` plus the buffers of its current request."""

    __slots__ = (
        "_last_bytes",
        "_last_change",
        "_monotonic",
        "_window_bytes",
        "_window_start",
        "body",
        "curl",
        "header_lines",
        "options",
        "stalled",
        "too_large",
    )

    def __init__(self, options: TransportOptions, *, watch_progress: bool = True) -> None:
        """Configure a new easy handle for ``options``. With ``watch_progress`` the handle
        cuts stalls itself during ``perform``, as ``options.stall_check`` says (a
        progress callback, or libcurl's low-speed limit); without it the owner must call
        :meth:`stalled_now` at short intervals while a transfer runs (the multi driver
        does, for all its transfers at once, instead of a Python call per progress tick)."""
        self.options = options
        self.curl = curl = pycurl.Curl()
        self.body = io.BytesIO()
        self.header_lines: list[bytes] = []
        self.stalled: str | None = None
        self.too_large = False
        self._monotonic = time.monotonic
        self._last_bytes = 0
        self._last_change = 0.0
        self._window_start = 0.0
        self._window_bytes = 0

        # Signals cannot be used for timeouts in a multi-threaded program.
        curl.setopt(pycurl.NOSIGNAL, 1)
        _restrict_protocols(curl)
        curl.setopt(pycurl.FOLLOWLOCATION, 1)
        curl.setopt(pycurl.MAXREDIRS, options.max_redirects)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, millis(options.connect_timeout))
        if options.timeout is not None:
            # The total limit is libcurl's own: a timer the multi driver's poll wakes
            # for (curl_multi_timeout), so it cuts to the millisecond, connect,
            # redirects, headers and body included, however steadily data comes.
            curl.setopt(pycurl.TIMEOUT_MS, millis(options.timeout))
        # With stall_check="exact", stalls are cut by _progress rather than
        # LOW_SPEED_LIMIT/TIME: libcurl judges speed over a window of about five seconds,
        # so a stall right after a burst of data would be cut up to five seconds late.
        if watch_progress and options.stall_check == "exact":
            curl.setopt(pycurl.NOPROGRESS, 0)
            curl.setopt(pycurl.XFERINFOFUNCTION, self._progress)
        elif watch_progress:
            curl.setopt(pycurl.LOW_SPEED_LIMIT, options.low_speed_limit)
            curl.setopt(pycurl.LOW_SPEED_TIME, libcurl_stall_seconds(options.low_speed_time))
        if options.max_size is not None:
            # Refuses at once when Content-Length announces too much; _write_limited
            # catches the rest (no Content-Length, or decoding that inflates the body).
            curl.setopt(pycurl.MAXFILESIZE_LARGE, options.max_size)
            curl.setopt(pycurl.WRITEFUNCTION, self._write_limited)
        if options.decompress:
            curl.setopt(pycurl.ACCEPT_ENCODING, "")
        curl.setopt(
            pycurl.HTTP_VERSION,
            pycurl.CURL_HTTP_VERSION_2TLS if options.http2 else pycurl.CURL_HTTP_VERSION_1_1,
        )
        curl.setopt(pycurl.USERAGENT, options.user_agent)
        curl.setopt(pycurl.SSL_VERIFYPEER, 1 if options.verify_tls else 0)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2 if options.verify_tls else 0)
        if options.ca_bundle is not None:
            curl.setopt(pycurl.CAINFO, options.ca_bundle)

    def begin(self, url: str | bytes) -> None:
        """Prepare a request for ``url``: fresh buffers and stall counters."""
        curl = self.curl
        self.body = body = io.BytesIO()
        lines: list[bytes] = []
        self.header_lines = lines
        self.stalled = None
        self.too_large = False
        now = self._monotonic()
        self._last_bytes = self._window_bytes = 0
        self._last_change = self._window_start = now
        curl.setopt(pycurl.URL, url)
        if self.options.max_size is None:
            # A C method as the write target: no Python frame per chunk.
            curl.setopt(pycurl.WRITEFUNCTION, body.write)
        curl.setopt(pycurl.HEADERFUNCTION, lines.append)

    def end(self) -> None:
        """Drop the request's buffers so an idle handle holds no body in memory."""
        self.body = io.BytesIO()
        self.header_lines = []
        if self.options.max_size is None:
            self.curl.setopt(pycurl.WRITEFUNCTION, self.body.write)
        self.curl.setopt(pycurl.HEADERFUNCTION, self.header_lines.append)

    def _write_limited(self, chunk: bytes) -> int | None:
        body = self.body
        body.write(chunk)
        max_size = self.options.max_size
        if max_size is not None and body.tell() > max_size:
            self.too_large = True
            return 0  # a short count makes libcurl abort with CURLE_WRITE_ERROR
        return None

    def _progress(self, _dltotal: int, dlnow: int, _ultotal: int, _ulnow: int) -> int:
        # Called by libcurl many times a second while data flows and about once a
        # second when it does not; returning non-zero aborts the transfer.
        return 1 if self.stalled_now(dlnow) else 0

    def stalled_now(self, dlnow: int) -> bool:
        """Whether the transfer, having received ``dlnow`` body bytes so far, is stalled
        (no data, or too slow, for ``low_speed_time``); if so ``stalled`` says how."""
        now = self._monotonic()
        options = self.options
        if dlnow != self._last_bytes:
            self._last_bytes = dlnow
            self._last_change = now
        elif now - self._last_change >= options.low_speed_time:
            self.stalled = STALLED_NO_DATA
            return True
        if options.low_speed_limit > 1 and now - self._window_start >= options.low_speed_time:
            received = dlnow - self._window_bytes
            if received < options.low_speed_limit * (now - self._window_start):
                self.stalled = STALLED_SLOW
                return True
            self._window_start = now
            self._window_bytes = dlnow
        return False

    def close(self) -> None:
        """Close the libcurl handle and its connections."""
        self.curl.close()
