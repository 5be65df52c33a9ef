"""``Headers``: a response's header fields, parsed from libcurl's raw lines on first use."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

# "name: value" per line. The value's trailing "\r" and blanks are cut in Python: a lazy
# "(.*?)[ \t]*\r?$" does the same in the pattern but backtracks at every character.
_HEADER_FIELD = re.compile(r"^([^:\s]+)[ \t]*:[ \t]*(.*)$", re.MULTILINE)


class Headers(Mapping[str, str]):
    """The final response's header fields: names lower-cased, a repeated field's values
    joined with ", " in order (RFC 9110 5.3), values without surrounding blanks.

    Built from the raw lines libcurl's header callback received (every response of a
    redirect chain and any 1xx interim response); only the last response's block
    counts. Parsing waits until a field is first read, so a caller that never looks
    at the headers (a bulk fetch storing bodies) does not pay for it. Immutable, and
    safe to read from several threads (a race parses twice, to the same result).
    Compares equal to a dict with the same items.
    """

    __slots__ = ("_fields", "_lines")

    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines
        self._fields: dict[str, str] | None = None

    def _parsed(self) -> dict[str, str]:
        fields = self._fields
        if fields is None:
            fields = self._fields = parse_final_headers(self._lines)
        return fields

    def __getitem__(self, name: str) -> str:
        return self._parsed()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed())

    def __len__(self) -> int:
        return len(self._parsed())

    def __repr__(self) -> str:
        return f"Headers({self._parsed()!r})"


def parse_final_headers(lines: list[bytes]) -> dict[str, str]:
    """The header fields of the last response in ``lines`` (raw header callback lines),
    as :class:`Headers` presents them."""
    start = 0
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith(b"HTTP/"):
            start = index + 1
            break
    # One decode and one regex pass instead of per-line Python work.
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
