"""Input with columns: CSV, TSV and JSON lines, read as they stream in.

Each row becomes a `threadloom.store.InputRow`: its URL (the ``--url-column`` cell,
``url`` by default) and its other columns as compact JSON, which the store keeps with
the URL (``urls.input``), the exports carry and ``--process`` functions see as
``response.input``. A row that cannot be read (a missing URL cell, a line that is not a
JSON object, a CSV row with the wrong number of cells, bytes that are not UTF-8) becomes
an `threadloom.store.Invalid` whose key names its line (``line 17: <the row>``), and the
``on_bad_row`` callback gets one line saying why; the run goes on.

Streaming and bounded memory as for URL lines (`read_lines`): rows are read lazily from
the file, the pipe or standard input, pauses of a silent pipe are passed on (as None),
and a row is at most `MAX_ROW_BYTES` long. CSV and TSV are parsed by the standard
library's ``csv`` (the ``excel`` and ``excel-tab`` dialects: ``"``-quoted fields, ``""``
for a quote, line breaks inside quotes); this module only finds where a row ends, so
that a quoted line break does not end it and a pause can be passed on between rows.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final, Literal

from threadloom.jobs._input import UrlLines, read_lines
from threadloom.store import AddItem, InputRow, Invalid
from threadloom.store._urls import stored_key

InputFormat = Literal["lines", "csv", "tsv", "jsonl"]
INPUT_FORMATS: Final = ("lines", "csv", "tsv", "jsonl")
DEFAULT_URL_COLUMN: Final = "url"

MAX_ROW_BYTES: Final = 1 << 20
"""A longer row (a CSV row may span lines) is a bad row: a line of a gigabyte, or a
quote never closed, costs 1 MiB of memory, not the whole input. A CSV field is also
bounded by ``csv.field_size_limit()`` (131,072 characters unless the program raised it)."""

_SUFFIXES: Final[dict[str, InputFormat]] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

BadRowCallback = Callable[[int, str], None]
"""Called with a bad row's line number (1-based) and the reason, on the input thread."""


class InputFormatError(ValueError):
    """The input cannot be read as the format says: the URL column is not in the
    header, or a header names a column twice. One line, naming the columns found."""


def detect_format(path: str) -> InputFormat:
    """The input format a file name says: ``.csv``, ``.tsv``, ``.jsonl`` or ``.ndjson``
    (any case); anything else, ``-`` (standard input) and pipes are ``lines``."""
    if path == "-":
        return "lines"
    return _SUFFIXES.get(Path(path).suffix.lower(), "lines")


def read_input(
    path: str,
    input_format: InputFormat,
    *,
    url_column: str = DEFAULT_URL_COLUMN,
    on_bad_row: BadRowCallback | None = None,
    pause: float = 0.2,
) -> UrlLines | ColumnRows:
    """What `FetchJob.run` reads for the input at ``path`` (a file, a FIFO or ``-``):
    its lines (``lines``) or its rows (`ColumnRows`)."""
    if input_format == "lines":
        return read_lines(path, pause=pause)
    # Room for the CRLF of a line of MAX_ROW_BYTES: a longer one is cut, and so too long.
    lines = read_lines(path, pause=pause, max_line=MAX_ROW_BYTES + 2)
    return ColumnRows(lines, input_format, url_column=url_column, on_bad_row=on_bad_row)


# How a CSV row that is still open ends: complete fields, each followed by the
# delimiter, then a quoted field whose closing quote has not come yet. A field is
# quoted (a quote, anything but a lone quote, a quote, then anything up to the
# delimiter, as csv reads it when not strict) or unquoted (not starting with a quote;
# a quote inside it is an ordinary character). Possessive quantifiers: the grammar is
# unambiguous read that way, so matching is linear whatever the row.
def _open_row(delimiter: str) -> re.Pattern[str]:
    d = re.escape(delimiter)
    field = rf'(?:"(?:[^"]|"")*+"[^{d}]*+|[^"{d}][^{d}]*+)?'
    return re.compile(rf'(?:{field}{d})*+"(?:[^"]|"")*+')


_OPEN_ROW: Final = {",": _open_row(","), "\t": _open_row("\t")}


class ColumnRows(Iterator[AddItem]):
    """The rows of a CSV, TSV or JSON-lines input, as `Store.add_urls` items (see the
    module docstring), with None for each pause of the input.

    CSV and TSV: the first row that is not blank is the header; ``url_column`` must be
    one of its names (`check_columns` says so before the run), and no name may appear
    twice. Blank rows are skipped. JSON lines: each line is an object whose
    ``url_column`` key is the URL (a string); its other keys are kept. Blank lines are
    skipped. ``count_lines`` counts the input's lines for a progress estimate.
    """

    def __init__(
        self,
        lines: UrlLines,
        input_format: Literal["csv", "tsv", "jsonl"],
        *,
        url_column: str = DEFAULT_URL_COLUMN,
        on_bad_row: BadRowCallback | None = None,
    ) -> None:
        self._lines = lines
        self._format = input_format
        self._url_column = url_column
        self._on_bad_row = on_bad_row
        self._line = 0  # lines read so far
        self._header: list[str] | None = None
        self._records: Iterator[tuple[int, str] | Invalid | None] | None = None
        self._items: Iterator[AddItem] | None = None
        self._dialect = "excel-tab" if input_format == "tsv" else "excel"

    @property
    def countable(self) -> bool:
        """True if the input is a regular file whose lines can be counted."""
        return self._lines.countable

    def count_lines(self) -> int | None:
        """The input's lines (not rows): see `UrlLines.count_lines`."""
        return self._lines.count_lines()

    def __iter__(self) -> ColumnRows:
        return self

    def __next__(self) -> AddItem:
        if self._items is None:
            self._items = self._jsonl() if self._format == "jsonl" else self._csv()
        return next(self._items)

    def check_columns(self) -> list[str] | None:
        """Read the header of a CSV or TSV input (waiting for it on a pipe) and return
        its names; None for JSON lines, or an input without a single row. Raises
        `InputFormatError` if the URL column is not among them or a name is repeated;
        an OSError from reading. Iterating goes on from the row after the header."""
        if self._format == "jsonl":
            return None
        if self._header is None:
            self._read_header()
        return self._header

    # -- CSV and TSV ----------------------------------------------------------------

    def _read_header(self) -> None:
        records = self._csv_records()
        for record in records:
            if record is None:
                continue
            if isinstance(record, Invalid):
                raise InputFormatError(f"the header (line {self._line}): {record.reason}")
            line, text = record
            cells = self._cells(text)
            if isinstance(cells, str):
                raise InputFormatError(f"the header (line {line}): {cells}")
            if not any(cell.strip() for cell in cells):
                continue
            cells[0] = cells[0].lstrip("\ufeff")
            _check_header(cells, self._url_column)
            self._header = cells
            break

    def _csv(self) -> Iterator[AddItem]:
        if self._header is None:
            self._read_header()
        header = self._header
        if header is None:  # no row at all
            return
        position = header.index(self._url_column)
        others = header[:position] + header[position + 1 :]
        records = self._csv_records()
        for record in records:
            if record is None or isinstance(record, Invalid):
                yield record
                continue
            line, text = record
            cells = self._cells(text)
            if isinstance(cells, str):
                yield self._bad(line, text, cells)
            elif not cells or (len(cells) == 1 and not cells[0].strip()):
                yield b""  # a blank row: skipped, as a blank line is
            elif len(cells) != len(header):
                cells_found = f"{len(cells)} cell{'s' if len(cells) > 1 else ''}"
                reason = f"{cells_found}, the header has {len(header)} columns"
                yield self._bad(line, text, reason)
            elif not cells[position].strip():
                yield self._bad(line, text, f"no URL in column {self._url_column!r}")
            else:
                url = cells.pop(position)
                # CSV cells cannot hold a lone surrogate (undecodable rows were refused).
                yield InputRow(
                    url, _ENCODE(dict(zip(others, cells, strict=True))) if others else None
                )

    def _cells(self, text: str) -> list[str] | str:
        """The cells of one row's text, or why it cannot be read (a str)."""
        try:
            return next(csv.reader([text], self._dialect), [])
        except csv.Error as exc:
            return f"not a {self._format.upper()} row ({exc})"

    def _csv_records(self) -> Iterator[tuple[int, str] | Invalid | None]:
        """The text of each row with the number of its first line; an `Invalid` for a
        row that is not UTF-8, too long or never closed; None for each pause."""
        if self._records is None:
            self._records = self._assemble(_OPEN_ROW["\t" if self._format == "tsv" else ","])
        return self._records

    def _assemble(self, open_row: re.Pattern[str]) -> Iterator[tuple[int, str] | Invalid | None]:
        parts: list[str] = []  # the lines of a row still open, decoded
        size = first = 0
        for raw in _without_bom(self._lines):
            if raw is None:
                yield None
                continue
            self._line += 1
            if not parts:
                first = self._line
            # surrogateescape: a row's bytes survive as they are until the row is whole,
            # so where it ends is found the same way for any bytes; then it is checked.
            text = raw.decode("utf-8", "surrogateescape")
            spans = bool(parts)
            parts.append(text)
            size += len(raw) + 1
            if size > MAX_ROW_BYTES + 2:
                row = "\n".join(parts)
                parts.clear()
                size = 0
                yield self._bad(first, row, _too_long(spans))
                continue
            # Whether a quoted field is still open at the end of this line. A line
            # that goes on with an open field starts inside it: the same state as
            # after a field's opening quote, so the pattern reads it with one put back.
            if b'"' in raw:
                still_open = open_row.fullmatch('"' + text if spans else text) is not None
            else:
                still_open = spans
            if still_open:
                continue
            row = "\n".join(parts)
            parts.clear()
            size = 0
            bad = _not_utf8(row)
            yield self._bad(first, row, bad) if bad is not None else (first, row)
        if parts:
            row = "\n".join(parts)
            yield self._bad(first, row, "a quote is never closed (the row runs to the end)")

    # -- JSON lines -----------------------------------------------------------------

    def _jsonl(self) -> Iterator[AddItem]:
        key = self._url_column
        for raw in _without_bom(self._lines):
            if raw is None:
                yield None
                continue
            self._line += 1
            line = self._line
            if len(raw) > MAX_ROW_BYTES + 1:
                yield self._bad(line, raw.decode("utf-8", "replace"), _too_long(False))
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield self._bad(
                    line,
                    raw.decode("utf-8", "backslashreplace"),
                    f"not UTF-8 (byte 0x{raw[exc.start]:02x})",
                )
                continue
            if not text.strip():
                yield b""
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield self._bad(line, text, f"not JSON ({exc.msg} at column {exc.colno})")
                continue
            except (ValueError, RecursionError) as exc:
                yield self._bad(line, text, f"not JSON ({type(exc).__name__}: {exc})")
                continue
            if not isinstance(value, dict):
                yield self._bad(line, text, f"not a JSON object (a {_json_type(value)})")
                continue
            url = value.pop(key, None)
            if url is None:
                keys = ", ".join(map(repr, list(value)[:10])) or "none"
                yield self._bad(line, text, f"no {key!r} key (keys: {keys})")
            elif not isinstance(url, str):
                yield self._bad(line, text, f"{key!r} is a {_json_type(url)}, not a string")
            elif _not_encodable(url):
                yield self._bad(line, text, f"{key!r} is not valid Unicode (a lone surrogate)")
            elif not url.strip():
                yield self._bad(line, text, f"no URL in {key!r}")
            else:
                try:
                    others = _compact(value)
                except ValueError as exc:  # NaN or Infinity (1e999)
                    yield self._bad(line, text, f"not JSON ({exc})")
                    continue
                yield InputRow(url, others)

    # -- both -------------------------------------------------------------------------

    def _bad(self, line: int, text: str, reason: str) -> Invalid:
        """A bad row: stored invalid under ``line N: <row>`` (its line makes the key
        unique, and tells where it is), and said once through ``on_bad_row``."""
        if self._on_bad_row is not None:
            self._on_bad_row(line, reason)
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return Invalid(stored_key(f"line {line}: {shown.rstrip()}"), reason)


def _check_header(names: list[str], url_column: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputFormatError(f"the header names column {name!r} twice")
        seen.add(name)
    if url_column not in seen:
        shown = ", ".join(map(repr, names[:20])) + (", ..." if len(names) > 20 else "")
        raise InputFormatError(
            f"no column {url_column!r} in the header (columns: {shown}); name the URL"
            " column with --url-column"
        )


# One encoder each, made once: json.dumps with arguments builds a new one per call.
_ENCODE: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_ENCODE_ASCII: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _compact(columns: Mapping[str, object]) -> str | None:
    """``columns`` as compact JSON (None if empty); non-ASCII kept as it is, unless the
    text would not encode (a lone surrogate from a JSON escape): then escaped."""
    if not columns:
        return None
    text = _ENCODE(columns)
    if _not_encodable(text):
        text = _ENCODE_ASCII(columns)
    return text


def _not_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _not_utf8(text: str) -> str | None:
    """Why ``text`` (decoded with surrogateescape) is not UTF-8, or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not UTF-8 (byte 0x{ord(text[exc.start]) - 0xDC00:02x})"
    return None


def _too_long(spans_lines: bool) -> str:
    size = f"longer than {MAX_ROW_BYTES // (1 << 20)} MiB"
    return f"{size} (a quote never closed?)" if spans_lines else size


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object" if isinstance(value, dict) else "null"


def _without_bom(lines: Iterator[bytes | None]) -> Iterator[bytes | None]:
    """``lines`` with a UTF-8 byte order mark taken off the first (editors on Windows
    write one; in a header it would become part of the first column's name)."""
    for line in lines:
        if line is not None:
            yield line.removeprefix(b"\xef\xbb\xbf")
            break
        yield line
    yield from lines
