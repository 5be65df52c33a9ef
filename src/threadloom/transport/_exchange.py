"""One request's life on a handle, shared by ``HttpClient.get`` and the multi driver:
checking the URL before any I/O, and turning a finished transfer into a ``Response``."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pycurl

from threadloom._redact import redact_url
from threadloom.transport._errors import HttpStatusError, InvalidUrl, TruncatedBody
from threadloom.transport._handle import Handle
from threadloom.transport._headers import Headers
from threadloom.transport._response import Response
from threadloom.transport._retry_after import parse_retry_after

_HTTP_VERSIONS = {
    pycurl.CURL_HTTP_VERSION_1_0: "1.0",
    pycurl.CURL_HTTP_VERSION_1_1: "1.1",
    pycurl.CURL_HTTP_VERSION_2_0: "2",
    pycurl.CURL_HTTP_VERSION_3: "3",
}

# Characters left alone when percent-encoding a non-ASCII URL: RFC 3986 reserved and
# unreserved characters, and "%" so existing escapes survive.
_URL_SAFE = ":/?#[]@!$&'()*+,;=-._~%"


def request_url(url: str) -> str:
    """The URL as handed to libcurl (non-ASCII percent-encoded as UTF-8); raises
    ``InvalidUrl`` for anything but http(s), before any I/O."""
    scheme = url[:8].lower()
    if not scheme.startswith(("http://", "https://")):
        given = urlsplit(url).scheme if "://" in url else ""
        reason = f"unsupported scheme {given}://" if given else "not an http(s) URL"
        raise InvalidUrl(url, reason)
    return url if url.isascii() else quote(url, safe=_URL_SAFE)


def build_response(url: str, handle: Handle, raise_for_status: bool) -> Response:
    """The ``Response`` of ``handle``'s transfer for ``url``, which libcurl finished
    without error. Raises ``TruncatedBody`` for a body shorter than its Content-Length
    and, with ``raise_for_status``, ``HttpStatusError`` for a status >= 400."""
    curl = handle.curl
    getinfo = curl.getinfo
    status: int = getinfo(pycurl.RESPONSE_CODE)
    # libcurl reports a short body as CURLE_PARTIAL_FILE; this re-check makes
    # "truncated is never a success" independent of libcurl's framing rules. Both
    # counts are of the bytes on the wire, before any Content-Encoding is decoded.
    length: int = getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T)
    if length >= 0 and status not in (204, 304):
        received: int = getinfo(pycurl.SIZE_DOWNLOAD_T)
        if received < length:
            raise TruncatedBody(url, f"body truncated: got {received} of {length} bytes")
    headers = Headers(handle.header_lines)
    # libcurl 8 drops user info from the effective URL; older ones keep a redirect
    # target's "user:password@", which must not reach a store or a report.
    final_url = redact_url(getinfo(pycurl.EFFECTIVE_URL))
    # Positional, in field order (url, final_url, status, headers, body, elapsed,
    # http_version, redirects, content_type): nine keywords cost ~1 us more to match,
    # on every document.
    response = Response(
        url,
        final_url,
        status,
        headers,
        handle.body.getvalue(),
        getinfo(pycurl.TOTAL_TIME_T) / 1_000_000,
        _HTTP_VERSIONS.get(getinfo(pycurl.INFO_HTTP_VERSION), ""),
        getinfo(pycurl.REDIRECT_COUNT),
        getinfo(pycurl.CONTENT_TYPE),
    )
    if raise_for_status and status >= 400:
        raise HttpStatusError(response, parse_retry_after(headers.get("retry-after")))
    return response
