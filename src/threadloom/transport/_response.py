"""``Response``: a completed HTTP exchange, as an immutable value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response (the body fully received and decoded).

    Attributes:
        url: the URL that was requested.
        final_url: the URL that answered, after redirects.
        status: the final HTTP status code.
        headers: the final response's headers, names lower-cased; a repeated field's
            values are joined with ", " in order (RFC 9110 5.3).
        body: the body, decoded from any ``Content-Encoding``.
        elapsed: seconds from the start of the request to the end of the body,
            redirects included.
        http_version: ``"1.0"``, ``"1.1"``, ``"2"`` or ``"3"`` ("" if unknown).
        redirects: how many redirects were followed.
    """

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    http_version: str
    redirects: int = 0
