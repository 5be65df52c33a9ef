"""Hiding credentials in what threadloom writes or prints.

Standard library only and free of other threadloom imports, so every layer (the store
classifying input lines, the transport reporting a final URL or libcurl's error text,
the jobs and the command line writing reports and messages) uses the same rule.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MASK", "redact_line", "redact_text", "redact_url"]

MASK: Final = "***"
"""What a password is replaced with."""

# scheme "://" then the authority up to its last "@": the userinfo, as urlsplit reads it
# (it takes the last "@", so "user:p@ss@host" has the password "p@ss"). In one URL the
# authority runs to the first "/", "?" or "#"; in free text it also stops at a blank
# (so a password with a blank in it cannot be told from the text around it there).
_URL_USERINFO: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")
_TEXT_USERINFO: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#\s]*)@")
# A line that is not a valid URL cannot be trusted to end its authority where a URL
# would: a password with a "/", "?" or "#" in it ("http://u:pa/ss@host/") splits the
# URL early, and one with no scheme ("u:pw@proxy:3128") has no "://" to start from. So
# everything up to the line's last "@" counts, from the "://" or from the line's start.
_LINE_USERINFO: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(.*)@")
_BARE_USERINFO: Final = re.compile(r"()([^:/?#@\s]+:.*)@")


def _mask(match: re.Match[str]) -> str:
    user, colon, _password = match.group(2).partition(":")
    if not colon:
        return match.group(0)  # a user name alone is no secret
    return f"{match.group(1)}{user}:{MASK}@"


def redact_url(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***``:
    ``http://user:secret@host/`` becomes ``http://user:***@host/``. A URL without a
    password (``http://user@host/``, ``http://host/``) is returned unchanged; so is
    anything that does not start with ``scheme://``. Also takes a line that is not a
    valid URL (blanks, control characters): everything up to the authority's last
    ``@`` before the first ``/``, ``?`` or ``#`` counts as user info."""
    if "@" not in url:
        return url  # the common case, one scan in C
    return _URL_USERINFO.sub(_mask, url)


def redact_line(line: str) -> str:
    """``line`` (something given as a URL that may not be a valid one: an input line, a
    proxy) with everything that could be a password hidden: from the first ``:`` after
    ``scheme://`` (or after the line's first word, if it has no scheme) up to the line's
    last ``@``. ``http://u:pa/ss@host/`` becomes ``http://u:***@host/`` and
    ``u:pw@proxy:3128`` becomes ``u:***@proxy:3128``. It may hide more than a password
    in a line that is not a URL anyway; a line without ``@`` is returned unchanged."""
    if "@" not in line:
        return line
    pattern = _LINE_USERINFO if "://" in line else _BARE_USERINFO
    return pattern.sub(_mask, line, count=1)


def redact_text(text: str) -> str:
    """``text`` (an error message, a log line) with the password of every
    ``scheme://user:password@`` in it replaced by ``***``, as :func:`redact_url` does
    for one URL; a URL's authority ends at a blank here."""
    if "@" not in text:
        return text
    return _TEXT_USERINFO.sub(_mask, text)
