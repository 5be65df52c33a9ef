"""The transport's exceptions: one human reason each, and whether a retry may help."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from threadloom.transport._response import Response


class TransportError(Exception):
    """A request that did not produce a usable response.

    Attributes:
        url: the URL that was requested (not the redirect target).
        reason: one human-readable line, e.g. ``"connection refused"``; also ``str(exc)``.
        retryable: True when repeating the request may succeed (connection problems,
            connect and stall timeouts, truncated bodies, HTTP 408/429/5xx); False when
            it cannot (bad URL, refused redirect, too large, the total time limit
            spent, headers over libcurl's cap, other 4xx, TLS verification).
        retry_after: seconds the server asked us to wait (``Retry-After``), else None.
            Core's ``Retry`` honours a float ``retry_after`` attribute.
    """

    #: Default for ``retryable`` when the constructor is not told.
    default_retryable = False

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.url = url
        self.reason = reason
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only state would be lost by Exception's default pickling.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[TransportError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class InvalidUrl(TransportError):
    """The URL cannot be requested: malformed, or a scheme other than http/https."""


class ConnectError(TransportError):
    """No connection could be made (refused, unreachable, host not resolved)."""

    default_retryable = True


class ConnectionLost(TransportError):
    """The connection broke before a complete response arrived (reset, closed early
    without any response, send or receive failure)."""

    default_retryable = True


class TransferTimeout(TransportError):
    """A time limit was hit: connecting (TLS handshake included), a stall (too little
    data for ``low_speed_time`` seconds) or the total ``timeout``. Retryable, except
    for the total ``timeout``: that attempt had all its time, and another would be cut
    alike. Named so as not to shadow the builtin ``TimeoutError``."""

    default_retryable = True


class TruncatedBody(TransportError):
    """The connection ended before the whole body announced by the server arrived."""

    default_retryable = True


class TooLarge(TransportError):
    """The body exceeded ``max_size``; the download was aborted when it did."""


class RedirectRefused(TransportError):
    """A redirect was not followed: too many of them, or to a scheme other than
    http/https (``file://``, ``ftp://``, ...)."""


class TlsError(TransportError):
    """TLS failed: the handshake (retryable) or certificate verification (not)."""


class ProtocolError(TransportError):
    """The server broke the protocol (HTTP/2 framing, an undecodable
    ``Content-Encoding``, a reply that is not HTTP)."""


#: Statuses worth retrying: request timeout, too many requests, and every 5xx.
RETRYABLE_STATUSES = frozenset({408, 429, *range(500, 600)})


class HttpStatusError(TransportError):
    """The server answered with status >= 400.

    ``status`` is the code, ``response`` the complete response (its body included).
    ``reason`` reads ``"HTTP 503 Service Unavailable"``; ``retryable`` is True for
    408, 429 and 5xx; ``retry_after`` comes from the ``Retry-After`` header.
    """

    def __init__(self, response: Response, retry_after: float | None) -> None:
        super().__init__(
            response.url,
            status_text(response.status),
            retryable=response.status in RETRYABLE_STATUSES,
            retry_after=retry_after,
        )
        self.status = response.status
        self.response = response


def status_text(status: int) -> str:
    """``"HTTP 503 Service Unavailable"``: the code and its standard phrase, if any."""
    return f"HTTP {status} {status_phrase(status)}".rstrip()


def status_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` ("" for unregistered codes)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
