"""``HttpClient``: thread-safe GETs over pycurl, one reusable easy handle per thread."""

from __future__ import annotations

import re
import threading
from types import TracebackType
from typing import Self
from urllib.parse import quote, urlsplit

import pycurl

from threadloom.transport._errors import HttpStatusError, InvalidUrl, TruncatedBody
from threadloom.transport._handle import Handle
from threadloom.transport._mapping import map_curl_error
from threadloom.transport._options import TransportOptions
from threadloom.transport._response import Response
from threadloom.transport._retry_after import parse_retry_after

_HTTP_VERSIONS = {
    pycurl.CURL_HTTP_VERSION_1_0: "1.0",
    pycurl.CURL_HTTP_VERSION_1_1: "1.1",
    pycurl.CURL_HTTP_VERSION_2_0: "2",
    pycurl.CURL_HTTP_VERSION_3: "3",
}

# "name: value" per line; the value without surrounding whitespace (RFC 9110 5.5).
_HEADER_FIELD = re.compile(r"^([^:\s]+)[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.MULTILINE)

# Characters left alone when percent-encoding a non-ASCII URL: RFC 3986 reserved and
# unreserved characters, and "%" so existing escapes survive.
_URL_SAFE = ":/?#[]@!$&'()*+,;=-._~%"


class HttpClient:
    """GET requests over libcurl, safe to share between threads.

    Each thread that calls ``get`` gets its own pycurl easy handle, created on first
    use and kept for the thread's later requests, so connections are kept alive and
    reused (and TLS sessions resumed) per thread. libcurl releases the GIL while it
    transfers. Handles of threads that have ended are closed when another thread
    creates one; ``close()`` closes them all. Usable as a context manager.
    """

    def __init__(self, options: TransportOptions | None = None) -> None:
        self.options = options if options is not None else TransportOptions()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: dict[threading.Thread, Handle] = {}
        self._closed = False

    @property
    def handle_count(self) -> int:
        """How many libcurl handles are open (one per thread that has used the client)."""
        with self._lock:
            return len(self._handles)

    def get(self, url: str, *, raise_for_status: bool = True) -> Response:
        """GET ``url`` and return the complete ``Response``.

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
        scheme = url[:8].lower()
        if not scheme.startswith(("http://", "https://")):
            given = urlsplit(url).scheme if "://" in url else ""
            reason = f"unsupported scheme {given}://" if given else "not an http(s) URL"
            raise InvalidUrl(url, reason)
        handle = self._handle()
        curl = handle.curl
        handle.begin(url if url.isascii() else quote(url, safe=_URL_SAFE))
        try:
            curl.perform()
        except pycurl.error as exc:
            code, message = exc.args
            raise map_curl_error(url, code, message, handle) from None
        else:
            response = self._response(url, handle)
        finally:
            handle.end()
        if raise_for_status and response.status >= 400:
            raise HttpStatusError(response, parse_retry_after(response.headers.get("retry-after")))
        return response

    def _response(self, url: str, handle: Handle) -> Response:
        curl = handle.curl
        status: int = curl.getinfo(pycurl.RESPONSE_CODE)
        headers = _final_headers(handle.header_lines)
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
        return Response(
            url=url,
            final_url=curl.getinfo(pycurl.EFFECTIVE_URL),
            status=status,
            headers=headers,
            body=body,
            elapsed=curl.getinfo(pycurl.TOTAL_TIME_T) / 1_000_000,
            http_version=_HTTP_VERSIONS.get(curl.getinfo(pycurl.INFO_HTTP_VERSION), ""),
            redirects=curl.getinfo(pycurl.REDIRECT_COUNT),
        )

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
            handle = Handle(self.options)
            self._handles[threading.current_thread()] = handle
        self._local.handle = handle
        return handle

    def close(self) -> None:
        """Close every handle (and so every kept-alive connection) this client made.

        Call it once no ``get`` is running; later ``get`` calls raise RuntimeError.
        Idempotent.
        """
        with self._lock:
            self._closed = True
            handles = list(self._handles.values())
            self._handles.clear()
        for handle in handles:
            handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _final_headers(lines: list[bytes]) -> dict[str, str]:
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
    for name, value in _HEADER_FIELD.findall(text):
        key = name.lower()
        if key in headers:
            headers[key] = f"{headers[key]}, {value}"
        else:
            headers[key] = value
    return headers
