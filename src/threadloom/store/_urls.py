"""Classify one input line: a URL to fetch, an invalid line (with a reason), or nothing.

Pure functions, no I/O: `Store.add_urls` calls `classify_line` once per input line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from threadloom._redact import redact_line, redact_url

MAX_URL_LENGTH: Final = 8192
"""Longer lines are invalid: no server accepts them and they would bloat the store."""

KEPT_OF_LONG_LINE: Final = 1024
"""An invalid line longer than MAX_URL_LENGTH is stored as its first this many characters,
an ellipsis and its length: the store keeps a trace of it, not the whole line."""

SCHEMES: Final = frozenset({"http", "https"})

# Any control character (C0, DEL, C1) or whitespace. One search finds both kinds;
# the slow path below tells them apart for the reason.
_BAD_CHAR: Final = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# The common case, checked in one regex match instead of a full urlsplit: lowercase
# http(s), a plain host, an optional port up to 65535, then printable ASCII only.
# Everything it accepts, the full checks accept too (a property test holds it to that);
# everything else takes the full checks.
_PLAIN: Final = re.compile(
    r"https?://[A-Za-z0-9-][A-Za-z0-9.-]*"
    r"(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(?:[/?#][\x21-\x7e]*)?",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class Valid:
    """A fetchable URL: the line with surrounding whitespace removed, otherwise as given."""

    url: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line that is not a fetchable URL.

    ``key`` is the stripped line (undecodable bytes shown as ``\\xNN`` escapes; past
    `MAX_URL_LENGTH` characters cut as `stored_key` says), which is how the line is
    stored; ``reason`` is one line without the key itself, so equal reasons
    group together in summaries.
    """

    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    """A blank line or a ``#`` comment."""


SKIP: Final = Skip()

Classified = Valid | Invalid | Skip


def classify_line(raw: bytes | str) -> Classified:
    """Classify one input line (with or without its line ending).

    Blank lines and lines starting with ``#`` (after stripping) are `Skip`. A line is
    `Invalid` when it is not UTF-8, contains whitespace or control characters (a tab,
    or whitespace with a comma, says the line looks like a TSV or CSV row), is longer
    than `MAX_URL_LENGTH`, cannot be parsed, has no scheme, a scheme other than http/https,
    no host, a bad port, or a password (`PASSWORD_IN_URL`; an invalid line's key never
    holds a password: it is shown as ``***``). Anything else is `Valid` with the stripped
    line unchanged (no case folding, no percent-decoding), so the stored URL is the one
    the user gave.
    """
    if isinstance(raw, bytes):
        stripped = raw.strip()
        try:
            line = stripped.decode("utf-8")
        except UnicodeDecodeError as exc:
            key = stripped.decode("utf-8", "backslashreplace")
            if not key or key.startswith("#"):
                return SKIP
            return Invalid(
                stored_key(redact_line(key)), f"not UTF-8 (byte 0x{stripped[exc.start]:02x})"
            )
    else:
        line = raw.strip()
    # A byte order mark only ever appears at the start of the first line of a file.
    line = line.lstrip("\ufeff")
    if not line or line.startswith("#"):
        return SKIP
    return _classify_text(line)


def _classify_text(line: str) -> Classified:
    if _PLAIN.fullmatch(line) is not None and len(line) <= MAX_URL_LENGTH:
        return Valid(line)
    return _full_checks(line)


PASSWORD_IN_URL: Final = "password in URL (not stored): give it in a netrc file (--netrc-file)"
"""The reason of a URL with ``user:password@``: a store must never hold a credential,
and one stored without its password could not be fetched on resume, so such a line is
invalid, stored with the password shown as ``***``."""


TAB_IN_URL: Final = "tab inside URL (a TSV row? use --input-format tsv)"
"""The reason of a line with a tab (and no other control character): a row of
tab-separated columns given as a URL list, not a URL with a tab in it."""

COMMA_AND_SPACE_IN_URL: Final = (
    "whitespace inside URL (a CSV row? use --input-format csv; a URL has no spaces)"
)
"""The reason of a line with whitespace and a comma: most likely a CSV row whose other
columns hold text, given as a URL list."""

HEADER_LINE: Final = "not a URL (a CSV header? use --input-format csv)"
"""The reason of a line with a comma and no ``://``: most likely a CSV header line."""


def _full_checks(line: str) -> Valid | Invalid:
    # Every "@" in an authority takes this path (_PLAIN admits none there).
    verdict = _url_checks(line)
    if "@" not in line:
        return verdict
    if isinstance(verdict, Valid):
        masked = redact_url(line)
        return verdict if masked == line else Invalid(stored_key(masked), PASSWORD_IN_URL)
    # Invalid, perhaps because of its credentials ("u:pa/ss@" reads as a bad port):
    # hide up to the line's last "@", since where the authority ends is unknown.
    masked = redact_line(line)
    return verdict if masked == line else Invalid(stored_key(masked), verdict.reason)


def _url_checks(line: str) -> Valid | Invalid:
    if len(line) > MAX_URL_LENGTH:
        return Invalid(stored_key(line), f"longer than {MAX_URL_LENGTH} characters")
    if _BAD_CHAR.search(line) is not None:
        if _CONTROL.search(line.replace("\t", " ")) is not None:
            return Invalid(line, "control character in URL")
        if "\t" in line:
            return Invalid(line, TAB_IN_URL)
        if "," in line:
            return Invalid(line, COMMA_AND_SPACE_IN_URL)
        return Invalid(line, "whitespace inside URL")
    try:
        parts = urlsplit(line)
    except ValueError as exc:
        return Invalid(line, f"not a URL ({exc})")
    scheme = parts.scheme.lower()
    if "://" not in line:
        # "http:/x" lacks a host; "example.com/x" or "localhost:80" lack a scheme
        # (urlsplit would call "localhost" the scheme, which would be a misleading reason).
        if scheme in SCHEMES:
            return Invalid(line, "no host")
        if "," in line:
            return Invalid(line, HEADER_LINE)
        return Invalid(line, "not a URL (expected http:// or https://)")
    if not scheme:
        return Invalid(line, "not a URL (no scheme)")
    if scheme not in SCHEMES:
        return Invalid(line, f"unsupported scheme {scheme!r} (only http and https)")
    if not parts.hostname:
        return Invalid(line, "no host")
    try:
        parts.port  # noqa: B018 (evaluated for its ValueError on a bad port)
    except ValueError:
        return Invalid(line, "bad port")
    return Valid(line)


def stored_key(line: str) -> str:
    """How an invalid line is stored: unchanged up to `MAX_URL_LENGTH` characters, else its
    first `KEPT_OF_LONG_LINE` characters, ``…`` and its length in characters."""
    if len(line) <= MAX_URL_LENGTH:
        return line
    return f"{line[:KEPT_OF_LONG_LINE]}… ({len(line):,} characters)"
