"""HTTP over pycurl: ``submit`` hands a transfer to one CurlMulti thread that drives them
all; ``get`` blocks its thread on a reusable easy handle of that thread's own.

``HttpClient(TransportOptions(...)).get(url)`` returns a complete ``Response`` or raises
a ``TransportError`` subclass whose ``reason`` is one human line, whose ``retryable``
says whether trying again may help and whose ``retry_after`` carries the server's
``Retry-After`` (parsed by ``parse_retry_after``, the one place that reads it).
"""

from threadloom.transport._client import HttpClient
from threadloom.transport._errors import (
    RETRYABLE_STATUSES,
    ConnectError,
    ConnectionLost,
    HttpStatusError,
    InvalidUrl,
    ProtocolError,
    RedirectRefused,
    TlsError,
    TooLarge,
    TransferTimeout,
    TransportError,
    TruncatedBody,
    status_text,
)
from threadloom.transport._feed import FeedResult, TransferFeed
from threadloom.transport._handle import check_cookie_file
from threadloom.transport._headers import Headers, response_head
from threadloom.transport._multi import FeedLink
from threadloom.transport._options import (
    DEFAULT_USER_AGENT,
    MAX_SECONDS,
    PROXY_SCHEMES,
    TransportOptions,
    check_header,
    check_proxy,
)
from threadloom.transport._response import Response
from threadloom.transport._retry_after import parse_retry_after

__all__ = [
    "DEFAULT_USER_AGENT",
    "MAX_SECONDS",
    "PROXY_SCHEMES",
    "RETRYABLE_STATUSES",
    "ConnectError",
    "ConnectionLost",
    "FeedLink",
    "FeedResult",
    "Headers",
    "HttpClient",
    "HttpStatusError",
    "InvalidUrl",
    "ProtocolError",
    "RedirectRefused",
    "Response",
    "TlsError",
    "TooLarge",
    "TransferFeed",
    "TransferTimeout",
    "TransportError",
    "TransportOptions",
    "TruncatedBody",
    "check_cookie_file",
    "check_header",
    "check_proxy",
    "parse_retry_after",
    "response_head",
    "status_text",
]
