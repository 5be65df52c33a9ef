"""Reading a stored response head (status line and header lines) back as values."""

from __future__ import annotations

HeaderValues = dict[str, str | list[str]]
"""Header fields by lower-cased name: a str, or a list of str (in order) for a field the
response sent more than once."""


def parse_head(head: str) -> tuple[str | None, HeaderValues]:
    """Split a stored head (`Outcome.response_head` as text) into its status line and
    its fields.

    The status line is the first line (None if the head does not start with
    ``HTTP/``: then every line is read as a field). A field line is ``name: value``;
    names are lower-cased (HTTP field names are case-insensitive; HTTP/2 sends them
    lower-cased anyway), values lose surrounding blanks. A field sent twice becomes a
    list rather than one joined string, because some cannot be joined with commas
    (``set-cookie``, RFC 9110 5.3). A line starting with a blank continues the field
    before it (obsolete line folding, RFC 9112 5.2) and is joined to it with one space;
    a line without a colon is left out. Total: any text gives a result.
    """
    lines = head.replace("\r\n", "\n").split("\n")
    status_line: str | None = None
    if lines and lines[0].startswith("HTTP/"):
        status_line = lines.pop(0).rstrip()
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in {" ", "\t"} and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}".rstrip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            continue
        fields.append((name.lower(), value.strip(" \t")))
    headers: HeaderValues = {}
    for name, value in fields:
        earlier = headers.get(name)
        if earlier is None:
            headers[name] = value
        elif isinstance(earlier, list):
            earlier.append(value)
        else:
            headers[name] = [earlier, value]
    return status_line, headers
