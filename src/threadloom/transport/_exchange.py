"""One request's life on a handle, shared by ``HttpClient.get`` and the multi driver:
checking the URL before any I/O, and turning a finished transfer into a ``Response``."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import pycurl

from threadloom.transport._errors import HttpStatusError, InvalidUrl, TruncatedBody
from threadloom.transport._handle import Handle
from threadloom.transport._response import Response
from threadloom.transport._retry_after import parse_retry_after

_HTTP_VERSIONS = {
    pycurl.CURL_HTTP_VERSION_1_0: "1.0",
    pycurl.CURL_HTTP_VERSION_1_1: "1.1",
    pycurl.CURL_HTTP_VERSION_2_0: "2",
    pycurl.CURL_HTTP_VERSION_3: "3",
}

# "name: value" per line. The value's trailing "\r" and blanks are cut in Python: a lazy
# "(.*?)[ \t]*\r?$" does the same in the pattern but backtracks at every character and
# made this function the largest single cost of a small response.
_HEADER_FIELD = re.compile(r"^([^:\s]+)[ \t]*:[ \t]*(.*)$", re.MULTILINE)

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
    status: int = curl.getinfo(pycurl.RESPONSE_CODE)
    headers = final_headers(handle.header_lines)
    body = handle.body.getvalue()
    # libcurl reports a short body as CURLE_PARTIAL_FILE; this re-check makes
    # "truncated is never a success" independent of libcurl's framing rules.
    length = headers.get("content-length")
    if (
        length is not None
        and length.isdigit()
        and "content-encoding" not in headers
        and status not in (204, 304)
        and len(body) < int(length)
    ):
        raise TruncatedBody(url, f"body truncated: got {len(body)} of {length} bytes")
    response = Response(
        url=url,
        final_url=curl.getinfo(pycurl.EFFECTIVE_URL),
        status=status,
        headers=headers,
        body=body,
        elapsed=curl.getinfo(pycurl.TOTAL_TIME_T) / 1_000_000,
        http_version=_HTTP_VERSIONS.get(curl.getinfo(pycurl.INFO_HTTP_VERSION), ""),
        redirects=curl.getinfo(pycurl.REDIRECT_COUNT),
    )
    if raise_for_status and status >= 400:
        raise HttpStatusError(response, parse_retry_after(headers.get("retry-after")))
    return response


def final_headers(lines: list[bytes]) -> dict[str, str]:
    """The header fields of the last response in ``lines`` (raw header callback lines,
    which hold every response of a redirect chain and any 1xx interim responses)."""
    start = 0
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith(b"HTTP/"):
            start = index + 1
            break
    # One decode and one regex pass instead of per-line Python work: this runs for
    # every request, so it shows in the per-request cost.
    text = b"".join(lines[start:]).decode("latin-1")
    headers: dict[str, str] = {}
    for name, raw in _HEADER_FIELD.findall(text):
        # Without surrounding whitespace (RFC 9110 5.5): one "\r" of the line end, then
        # blanks, as "[ \t]*\r?$" would take them.
        value = (raw[:-1] if raw.endswith("\r") else raw).rstrip(" \t")
        key = name.lower()
        if key in headers:
            headers[key] = f"{headers[key]}, {value}"
        else:
            headers[key] = value
    return headers
