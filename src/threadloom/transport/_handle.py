"""One pycurl easy handle and the per-request state its callbacks fill in.

A handle is used by one thread at a time (its owner); configuration that never
changes is set once here, so a request only sets the URL and fresh buffers and the
handle keeps its connection cache (keep-alive) between requests.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Sequence

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


def _request_options(
    curl: pycurl.Curl, options: TransportOptions, share: pycurl.CurlShare | None
) -> None:
    """What every request of the handle carries: headers, proxy, cookies, credentials.
    Set once, here: a handle is reused for many requests with the same options, so a
    request pays nothing for them (libcurl keeps its own copies)."""
    # Text goes to libcurl as UTF-8 bytes and file names as the file system spells
    # them: pycurl takes a str only if it is ASCII (a UnicodeEncodeError otherwise).
    if options.headers:
        curl.setopt(pycurl.HTTPHEADER, [line.encode() for line in options.headers])
    if options.proxy is not None:
        curl.setopt(pycurl.PROXY, options.proxy.encode())
    if options.noproxy is not None:
        curl.setopt(pycurl.NOPROXY, options.noproxy.encode())
    if options.netrc or options.netrc_file is not None:
        curl.setopt(pycurl.NETRC, pycurl.NETRC_OPTIONAL)
        if options.netrc_file is not None:
            curl.setopt(pycurl.NETRC_FILE, os.fsencode(options.netrc_file))
    if share is not None:
        curl.setopt(pycurl.SHARE, share)
        # "": the cookie engine on, reading no file here. The file was loaded into the
        # share once (cookie_share); loading it again per handle would put back cookies
        # that servers have changed since.
        curl.setopt(pycurl.COOKIEFILE, "")


def cookie_share(options: TransportOptions) -> pycurl.CurlShare | None:
    """A CurlShare holding the cookies of ``options.cookie_file`` (None without one),
    for all the handles of one client: cookies set by a server on one handle are sent
    by every other. pycurl locks a share itself, so handles on several threads may use
    it. Raises ValueError as :func:`check_cookie_file` does."""
    if options.cookie_file is None:
        return None
    return _loaded_share(options.cookie_file)[0]


def check_cookie_file(path: str) -> int:
    """How many cookies the Netscape cookie file ``path`` holds, as libcurl reads it.
    Raises ValueError naming the file when it cannot be read, or when it has lines but
    no cookie could be read from them (a file in another format, or only expired
    cookies), which libcurl itself would ignore silently."""
    share, count = _loaded_share(path)
    share.close()
    return count


def _loaded_share(path: str) -> tuple[pycurl.CurlShare, int]:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cookie file {path}: {(exc.strerror or str(exc)).lower()}") from None
    share = pycurl.CurlShare()
    share.setopt(pycurl.SH_SHARE, pycurl.LOCK_DATA_COOKIE)
    loader = pycurl.Curl()
    try:
        loader.setopt(pycurl.SHARE, share)
        loader.setopt(pycurl.COOKIEFILE, os.fsencode(path))
        # "RELOAD" reads the COOKIEFILE files at once, into the share, rather than at
        # this (never performed) handle's first transfer.
        loader.setopt(pycurl.COOKIELIST, "RELOAD")
        count = len(loader.getinfo(pycurl.INFO_COOKIELIST))
    finally:
        loader.close()
    if count == 0 and _has_cookie_lines(path):
        share.close()
        raise ValueError(
            f"cookie file {path}: no cookie could be read (expected the Netscape format"
            " of curl and wget: 7 tab-separated fields a line; expired cookies are dropped)"
        )
    return share, count


def _has_cookie_lines(path: str) -> bool:
    """Whether the file has a line that is not blank or a comment (a ``#HttpOnly_``
    line is a cookie, not a comment)."""
    with open(path, "rb") as file:
        for raw in file:
            line = raw.strip()
            if line and (not line.startswith(b"#") or line.startswith(b"#HttpOnly_")):
                return True
    return False


def _header_name(line: str) -> str:
    """The lower-cased field name of a header line (``Name: value``, ``Name:``, ``Name;``)."""
    return line.partition(":")[0].removesuffix(";").strip().lower()


class Handle:
    """A configured ``pycurl.Curl`` plus the buffers of its current request."""

    __slots__ = (
        "_base_headers",
        "_extra_headers",
        "_last_bytes",
        "_last_change",
        "_max_size",
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

    def __init__(
        self,
        options: TransportOptions,
        *,
        watch_progress: bool = True,
        share: pycurl.CurlShare | None = None,
    ) -> None:
        """Configure a new easy handle for ``options``, using ``share`` (the client's
        cookie store, see :func:`cookie_share`) if given. With ``watch_progress`` the handle
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
        self._max_size = options.max_size
        self._last_bytes = 0
        self._last_change = 0.0
        self._window_start = 0.0
        self._window_bytes = 0
        # The request headers every request sends (-H), and whether the last request
        # sent others too (then the next one without them must set these back).
        self._base_headers = [line.encode() for line in options.headers]
        self._extra_headers = False

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
        curl.setopt(pycurl.USERAGENT, options.user_agent.encode())
        curl.setopt(pycurl.SSL_VERIFYPEER, 1 if options.verify_tls else 0)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2 if options.verify_tls else 0)
        if options.ca_bundle is not None:
            curl.setopt(pycurl.CAINFO, os.fsencode(options.ca_bundle))
        _request_options(curl, options, share)

    def begin(self, url: str | bytes, headers: Sequence[str] = ()) -> None:
        """Prepare a request for ``url``: fresh buffers and stall counters, and
        ``headers`` (``"Name: value"`` lines, checked by the caller) sent with this
        request only, besides ``options.headers``; one of these of the same name (case
        aside) is replaced for this request. A request without ``headers`` costs no
        option change unless the one before had some."""
        curl = self.curl
        if headers:
            names = {_header_name(line) for line in headers}
            kept = [line for line in self.options.headers if _header_name(line) not in names]
            curl.setopt(pycurl.HTTPHEADER, [line.encode() for line in (*kept, *headers)])
            self._extra_headers = True
        elif self._extra_headers:
            if self._base_headers:
                curl.setopt(pycurl.HTTPHEADER, self._base_headers)
            else:
                curl.unsetopt(pycurl.HTTPHEADER)
            self._extra_headers = False
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
        # Called for every chunk of every body: the limit is read from a slot (it is
        # never None here, but _max_size is typed as the option is).
        body = self.body
        body.write(chunk)
        max_size = self._max_size
        if max_size is not None and body.tell() > max_size:
            self.too_large = True
            return 0  # a short count makes libcurl abort with CURLE_WRITE_ERROR
        return None

    def _progress(self, _dltotal: int, dlnow: int, _ultotal: int, _ulnow: int) -> int:
        # Called by libcurl many times a second while data flows and about once a
        # second when it does not; returning non-zero aborts the transfer.
        return 1 if self.stalled_now(dlnow) else 0

    def still_connecting(self) -> None:
        """Note that the transfer has no connection up yet (TCP, proxy or TLS steps):
        ``connect_timeout`` governs it, and the stall clock starts once it connects."""
        self._last_change = self._window_start = self._monotonic()

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
