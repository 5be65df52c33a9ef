"""``Response``: a completed HTTP exchange, as an immutable value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response (the body fully received and decoded).

    Attributes:
        url: the URL that was requested.
        final_url: the URL that answered, after redirects (a password in it shown as
            ``***``).
        status: the final HTTP status code.
        headers: the final response's headers, names lower-cased; a repeated field's
            values are joined with ", " in order (RFC 9110 5.3). A read-only mapping
            (:class:`Headers` from a transfer, parsed when first read).
        body: the body, decoded from any ``Content-Encoding``.
        elapsed: seconds from the start of the request to the end of the body,
            redirects included.
        http_version: ``"1.0"``, ``"1.1"``, ``"2"`` or ``"3"`` ("" if unknown).
        redirects: how many redirects were followed.
        content_type: the final response's Content-Type value, None if it had none
            (what ``headers.get("content-type")`` gives, without parsing the headers).
    """

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed: float
    http_version: str
    redirects: int = 0
    content_type: str | None = None
