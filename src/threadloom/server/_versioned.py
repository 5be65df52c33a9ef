"""``/versioned/{key}``: a document whose content a test changes, served with validators
and answering conditional requests (``If-None-Match``, ``If-Modified-Since``) as RFC 9110
section 13 says, for the tests of ``fetch --refresh``."""

from __future__ import annotations

import datetime
import email.utils
import threading
from dataclasses import dataclass, field
from typing import Final

from threadloom.server._exchange import BadRequest, Exchange, Reply, text_reply

_EPOCH: Final = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
"""Version ``n`` was last modified ``n`` days after this (whole seconds, as HTTP dates)."""

_VALIDATORS: Final = {"both": (True, True), "etag": (True, False), "lm": (False, True)}


@dataclass(slots=True)
class _State:
    version: int = 1
    status: int | None = None
    seen: list[tuple[str, str]] = field(default_factory=list)


class Versions:
    """The versioned documents of one server: each key's version, a status that
    replaces its answers (a failure to test), and the conditions each request carried."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    def bump(self, key: str) -> int:
        """Change document ``key`` (new body, ETag and Last-Modified); its new version."""
        with self._lock:
            state = self._states.setdefault(key, _State())
            state.version += 1
            return state.version

    def set_status(self, key: str, status: int | None) -> None:
        """Answer ``key`` with ``status`` (400-599) and a short body from now on; None:
        serve the document again."""
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"status {status} is not in 400..599")
        with self._lock:
            self._states.setdefault(key, _State()).status = status

    def conditions(self, key: str) -> list[tuple[str, str]]:
        """The ``(If-None-Match, If-Modified-Since)`` of every request for ``key`` so far,
        in order ("" for a header not sent)."""
        with self._lock:
            return list(self._states.get(key, _State()).seen)

    def reply(self, key: str, ex: Exchange) -> Reply:
        """The answer to a GET of ``/versioned/{key}?validators=both|etag|lm|none&ms=N``
        (``ms``: answer after that many milliseconds, cut short by a server stop)."""
        delay = ex.int_param("ms", 0)
        if delay:
            ex.stopping.wait(delay / 1000)
        choice = ex.param("validators") or "both"
        if choice != "none" and choice not in _VALIDATORS:
            raise BadRequest(f"validators={choice!r} is not both, etag, lm or none")
        use_etag, use_date = _VALIDATORS.get(choice, (False, False))
        if_none_match = ex.header("if-none-match")
        if_modified_since = ex.header("if-modified-since")
        with self._lock:
            state = self._states.setdefault(key, _State())
            state.seen.append((if_none_match, if_modified_since))
            version, status = state.version, state.status
        if status is not None:
            return text_reply(status, f"versioned {key}: status {status}")
        etag = f'"{key}-v{version}"'
        modified = _EPOCH + datetime.timedelta(days=version)
        headers: list[tuple[str, str]] = []
        if use_etag:
            headers.append(("ETag", etag))
        if use_date:
            headers.append(("Last-Modified", email.utils.format_datetime(modified, usegmt=True)))
        # RFC 9110 13.2.2: If-None-Match decides when present; If-Modified-Since only
        # without it.
        if if_none_match:
            fresh = use_etag and _matches(if_none_match, etag)
        else:
            fresh = use_date and _not_modified_since(if_modified_since, modified)
        if fresh:
            return Reply(304, b"", tuple(headers))
        body = f'<doc key="{key}" version="{version}"/>\n'.encode()
        return Reply(200, body, tuple(headers), content_type="application/xml")


def _matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison of an ``If-None-Match`` list with ``etag`` (RFC 9110 13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def _not_modified_since(if_modified_since: str, modified: datetime.datetime) -> bool:
    """Whether the document, last modified at ``modified``, is unchanged since the
    ``If-Modified-Since`` date (an unreadable date is ignored, RFC 9110 13.1.3)."""
    if not if_modified_since:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return modified <= since
