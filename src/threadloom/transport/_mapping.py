"""Turning a failed libcurl transfer into a ``TransportError`` with a human reason."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from urllib.parse import urlsplit

import pycurl

from threadloom._redact import redact_text
from threadloom.transport._errors import (
    ConnectError,
    ConnectionLost,
    InvalidUrl,
    ProtocolError,
    RedirectRefused,
    TlsError,
    TooLarge,
    TransferTimeout,
    TransportError,
    TruncatedBody,
)
from threadloom.transport._handle import (
    STALLED_NO_DATA,
    STALLED_SLOW,
    Handle,
    libcurl_stall_seconds,
    millis,
)
from threadloom.transport._headers import parse_final_headers

# Codes missing from older pycurl builds are spelled out (values are libcurl's ABI).
_E_WEIRD_SERVER_REPLY = 8
_E_HTTP2_STREAM = 92
_E_HTTP3 = 95
_E_PROXY = 97  # CURLE_PROXY: a SOCKS or HTTPS proxy handshake failed (libcurl 7.73)

# How libcurl's message begins when a response's headers exceed its cap (it reports
# CURLE_RECV_ERROR, or CURLE_TOO_LARGE from 8.6 on some paths): "...: 308159 > 307200".
_HEADERS_TOO_LARGE = "Too large response headers"

_TLS_VERIFY_CODES = frozenset(
    {
        pycurl.E_PEER_FAILED_VERIFICATION,
        pycurl.E_SSL_CERTPROBLEM,
        pycurl.E_SSL_CACERT_BADFILE,
        pycurl.E_SSL_ISSUER_ERROR,
        pycurl.E_SSL_PINNEDPUBKEYNOTMATCH,
        pycurl.E_SSL_INVALIDCERTSTATUS,
        pycurl.E_SSL_CRL_BADFILE,
    }
)

# The steps of connecting (see _connect_phase): what a timeout in each is called, and
# how a --max-time reason says where the request was.
_TCP = "tcp"
_TLS = "tls"
_PHASE_NAME = {_TCP: "connect", _TLS: "TLS handshake"}
_PHASE_PROGRESS = {_TCP: " while connecting", _TLS: " during the TLS handshake"}

# libcurl's text for an error code (curl_easy_strerror); pycurl exposes it from 7.49.
_easy_strerror: Callable[[int], str] | None = getattr(pycurl, "easy_strerror", None)


def seconds(value: float) -> str:
    """``10`` for 10.0, ``0.5`` for 0.5: durations as people write them."""
    return f"{value:g}"


def too_large_reason(max_size: int) -> str:
    """The reason of every ``TooLarge``, worded for the command line's option."""
    return f"response larger than --max-size {max_size}"


def map_curl_error(url: str, code: int, message: str, handle: Handle) -> TransportError:
    """The ``TransportError`` for libcurl error ``code`` on ``handle``'s just-failed
    request for ``url``. ``message`` is libcurl's error buffer, which may be empty (the
    multi interface leaves it so for some codes); libcurl's text for the code
    (:func:`_curl_error_text`) stands in then, so no reason is ever blank."""
    curl = handle.curl
    options = handle.options
    # libcurl's text may quote a URL, and a URL may carry a password (a proxy's).
    message = redact_text(message) if message else _curl_error_text(code)
    if code == pycurl.E_ABORTED_BY_CALLBACK and handle.stalled is not None:
        return _stall(url, handle, options.low_speed_time)
    if (code == pycurl.E_WRITE_ERROR and handle.too_large) or code == pycurl.E_FILESIZE_EXCEEDED:
        assert options.max_size is not None
        return TooLarge(url, too_large_reason(options.max_size))
    if code == pycurl.E_OPERATION_TIMEDOUT and message.startswith("Operation too slow"):
        # libcurl's own low-speed cut (stall_check="libcurl"), over whole seconds.
        handle.stalled = STALLED_NO_DATA if options.low_speed_limit <= 1 else STALLED_SLOW
        return _stall(url, handle, libcurl_stall_seconds(options.low_speed_time))
    if code == pycurl.E_OPERATION_TIMEDOUT:
        return _timed_out(url, handle)
    if code == pycurl.E_COULDNT_CONNECT:
        os_errno = curl.getinfo(pycurl.OS_ERRNO)
        # Say so when it is the proxy (given or from the environment) that is down.
        to = " to the proxy" if _used_proxy(handle) else ""
        if os_errno == errno.ECONNREFUSED:
            return ConnectError(url, f"connection{to} refused")
        detail = os.strerror(os_errno).lower() if os_errno else message
        return ConnectError(url, f"could not connect{to}: {detail}")
    if code == pycurl.E_COULDNT_RESOLVE_HOST:
        return ConnectError(url, f"could not resolve host {urlsplit(url).hostname or ''}")
    if code == pycurl.E_COULDNT_RESOLVE_PROXY:
        # libcurl's message is "Could not resolve proxy: NAME".
        name = message.rpartition(": ")[2] if ": " in message else message
        return ConnectError(url, f"could not resolve proxy {name}")
    if code == _E_PROXY:
        return ConnectError(url, f"proxy failed: {message}")
    if code == pycurl.E_PARTIAL_FILE:
        return _truncated(url, handle)
    if code == pycurl.E_TOO_MANY_REDIRECTS:
        return RedirectRefused(url, max_redirects_reason(options.max_redirects))
    if code == pycurl.E_UNSUPPORTED_PROTOCOL:
        # The request's own scheme was checked before any I/O (request_url), so this is
        # a redirect libcurl refused, or a reply that is not HTTP: libcurl reuses the
        # code for "Received HTTP/0.9 when not allowed" (garbage, another protocol) and
        # for an HTTP version it does not speak.
        scheme = _refused_redirect_scheme(handle)
        if scheme is not None:
            return RedirectRefused(url, f"redirect to unsupported scheme {scheme}")
        return ProtocolError(url, f"protocol error: {message}", retryable=True)
    if code == pycurl.E_URL_MALFORMAT:
        return InvalidUrl(url, f"malformed URL: {message}")
    if message.startswith(_HEADERS_TOO_LARGE):
        # libcurl caps a response's headers (300 KiB in 8.x): a server sending header
        # lines without end. It would do so again, so this is no reason to retry.
        detail = message[len(_HEADERS_TOO_LARGE) :].lstrip(": ")
        reason = (
            f"response headers too large: {detail} bytes"
            if detail
            else "response headers too large"
        )
        return ProtocolError(url, reason)
    if code in (pycurl.E_RECV_ERROR, pycurl.E_SEND_ERROR):
        if curl.getinfo(pycurl.OS_ERRNO) == errno.ECONNRESET:
            return ConnectionLost(url, "connection reset by peer")
        verb = "receive" if code == pycurl.E_RECV_ERROR else "send"
        return ConnectionLost(url, f"{verb} failed: {message}")
    if code == pycurl.E_GOT_NOTHING:
        return ConnectionLost(url, "server closed the connection without a response")
    if code == pycurl.E_SSL_CONNECT_ERROR:
        return TlsError(url, f"TLS handshake failed: {message}", retryable=True)
    if code in _TLS_VERIFY_CODES:
        return TlsError(url, f"TLS certificate verification failed: {message}")
    if code == pycurl.E_BAD_CONTENT_ENCODING:
        return ProtocolError(url, f"undecodable Content-Encoding: {message}")
    if code in (pycurl.E_HTTP2, _E_HTTP2_STREAM, _E_HTTP3, _E_WEIRD_SERVER_REPLY):
        return ProtocolError(url, f"protocol error: {message}", retryable=True)
    return TransportError(url, f"{message} (curl error {code})")


def _used_proxy(handle: Handle) -> bool:
    """Whether ``handle``'s last transfer went to a proxy (CURLINFO_USED_PROXY, libcurl
    8.7; False where pycurl or libcurl cannot tell)."""
    info = getattr(pycurl, "USED_PROXY", None)
    if info is None:
        return False
    try:
        return bool(handle.curl.getinfo(info))
    except pycurl.error:
        return False


def _curl_error_text(code: int) -> str:
    """libcurl's description of error ``code`` (curl_easy_strerror, which says "Unknown
    error" for a code it does not know), or "unknown error" from a pycurl too old (before
    7.49) to ask libcurl."""
    return _easy_strerror(code) if _easy_strerror is not None else "unknown error"


def _refused_redirect_scheme(handle: Handle) -> str | None:
    """How the redirect target that ``handle``'s last response asked for begins
    (``"ftp://"``, ``"javascript:"``), if that response was a redirect to a scheme other
    than http(s); else None. Read from the ``Location`` header: libcurl never makes an
    unparsable target (``javascript:alert(1)``) the effective URL."""
    if not 300 <= handle.curl.getinfo(pycurl.RESPONSE_CODE) < 400:
        return None
    location = parse_final_headers(handle.header_lines).get("location", "")
    scheme = urlsplit(location).scheme
    if scheme in ("", "http", "https"):
        return None
    return f"{scheme}://" if location[len(scheme) + 1 :].startswith("//") else f"{scheme}:"


def max_redirects_reason(limit: int) -> str:
    """The reason of a request that met more redirects than ``max_redirects``, worded
    for the command line's option (0: no redirect is followed)."""
    if limit == 0:
        return "redirect not followed (--max-redirects 0)"
    return f"too many redirects (more than --max-redirects {limit})"


def max_time_reason(limit: float, progress: str) -> str:
    """The reason of a request cut by the total limit (``TransportOptions.timeout``),
    worded for the command line's option; ``progress`` says how far it got (``": 10 of
    100000 bytes received"``, ``" while connecting"``)."""
    return f"exceeded --max-time of {seconds(limit)} s{progress}"


def _timed_out(url: str, handle: Handle) -> TransferTimeout:
    """The error for CURLE_OPERATION_TIMEDOUT other than libcurl's low-speed cut: its
    total limit (``options.timeout``) or its connect limit ran out.

    libcurl's own clock tells which: the total limit counts from the start of the
    request, so a request that ended before it was cut by the connect limit (the phase
    cannot tell: while connecting libcurl applies whichever limit ends first, with the
    same message). A request cut by the total limit is not retryable: it used all the
    time it had, with data still coming or not, and another attempt would be cut alike,
    so a retry policy would only multiply the wait (a server trickling a body would
    hold a slot for ``attempts`` times the limit). A connect timeout stays retryable.
    """
    options = handle.options
    phase = _connect_phase(handle)
    elapsed_us: int = handle.curl.getinfo(pycurl.TOTAL_TIME_T)
    # libcurl was given whole milliseconds and compares them so: 1 ms of slack.
    if options.timeout is not None and elapsed_us >= (millis(options.timeout) - 1) * 1000:
        progress = _PHASE_PROGRESS[phase] if phase is not None else _progress(handle)
        return TransferTimeout(url, max_time_reason(options.timeout, progress), retryable=False)
    what = _PHASE_NAME[phase or _TCP]
    return TransferTimeout(url, f"{what} timed out after {seconds(options.connect_timeout)} s")


def _connect_phase(handle: Handle) -> str | None:
    """``"tcp"`` if the request had no connection up yet, ``"tls"`` if its new https
    connection was up but the TLS handshake had not ended, None once connected.

    Measured on libcurl 8: LOCAL_PORT is -1 until a connection is up (reset for every
    request; a reused connection has it at once), and CONNECT_TIME_T and
    APPCONNECT_TIME_T are set when a new connection's TCP and TLS steps end (both stay
    0 on a reused connection, so "connect time 0" alone would call it connecting).
    """
    getinfo = handle.curl.getinfo
    if getinfo(pycurl.LOCAL_PORT) < 0:
        return _TCP
    if (
        getinfo(pycurl.CONNECT_TIME_T) > 0
        and getinfo(pycurl.APPCONNECT_TIME_T) == 0
        and getinfo(pycurl.EFFECTIVE_URL).startswith("https:")
    ):
        return _TLS
    return None


def _progress(handle: Handle) -> str:
    """How far a connected request got, for a reason: ``": 10 of 100000 bytes
    received"``, ``": headers incomplete after 230 bytes"``, with ``" (after 3
    redirects)"`` when it was redirected."""
    getinfo = handle.curl.getinfo
    received: int = getinfo(pycurl.SIZE_DOWNLOAD_T)
    if received:
        expected: int = getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T)
        of = f" of {expected}" if expected > 0 else ""
        progress = f": {received}{of} bytes received"
    else:
        progress = f": {_headers_note(handle) or 'no data received'}"
    return progress + _redirects_note(handle)


def _redirects_note(handle: Handle) -> str:
    """``" (after 3 redirects)"`` when the request was redirected, else ``""``."""
    redirects: int = handle.curl.getinfo(pycurl.REDIRECT_COUNT)
    if not redirects:
        return ""
    return f" (after {redirects} redirect{'s' if redirects > 1 else ''})"


def _headers_note(handle: Handle) -> str | None:
    """What is wrong with the last response's headers, if the body has not begun: they
    have not ended (``"headers incomplete after 230 bytes"``), or only an interim 1xx
    came (``"no response after HTTP/1.1 100 Continue"``). None when there are no header
    lines or they ended with a final response (its body is what did not come)."""
    lines = handle.header_lines
    start = 0
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith(b"HTTP/"):
            start = index
            break
    block = lines[start:]
    if not block:
        return None
    if len(block) == 1 or block[-1].strip():
        return f"headers incomplete after {sum(map(len, block))} bytes"
    status = block[0].strip().decode("latin-1")
    code = status.split(" ", 2)[1] if " " in status else ""
    if len(code) == 3 and code.startswith("1"):
        return f"no response after {status}"
    return None


def _stall(url: str, handle: Handle, period_seconds: float) -> TransferTimeout:
    """The reason for a stall cut after ``period_seconds`` without (enough) data."""
    options = handle.options
    period = seconds(period_seconds)
    received = handle.curl.getinfo(pycurl.SIZE_DOWNLOAD_T)
    after = f" (after {received} bytes)" if received else ""
    if handle.stalled == STALLED_NO_DATA:
        # No body yet: the headers may be what never ended (a line now and then keeps
        # libcurl busy but brings no body), or only a "100 Continue" came.
        if not received:
            phase = _connect_phase(handle)
            if phase is not None:
                return TransferTimeout(url, f"{_PHASE_NAME[phase]} timed out after {period} s")
            note = _headers_note(handle)
            if note is not None:
                return TransferTimeout(url, f"timed out after {period} s: {note}")
            after = _redirects_note(handle)
        return TransferTimeout(url, f"timed out after {period} s with no data{after}")
    return TransferTimeout(
        url, f"timed out: under {options.low_speed_limit} bytes/s for {period} s{after}"
    )


def _truncated(url: str, handle: Handle) -> TruncatedBody:
    received = handle.curl.getinfo(pycurl.SIZE_DOWNLOAD_T)
    expected = handle.curl.getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T)
    if expected > 0:
        return TruncatedBody(url, f"body truncated: got {received} of {expected} bytes")
    return TruncatedBody(url, f"body truncated: connection closed after {received} bytes")
