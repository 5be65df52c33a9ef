"""A store's done URLs as a web archive: WARC/1.1, one gzip member per record (``.warc.gz``).

The layout is what the web-archiving tools (warcio, pywb, the Wayback Machine's
indexers) read: a ``warcinfo`` record first, then for every done URL in input order a
``response`` record and a ``request`` record linked to it by ``WARC-Concurrent-To``
(and a ``metadata`` record of its input columns, if it has any).
Each record is its own gzip member, so a reader can seek to any record by offset (the
CDX index ``warcio index`` builds relies on it). Pure Python: the standard library's
zlib, hashlib and uuid.

What a store can and cannot give back, and how the records say so:

- The response head is the one the fetch kept (`Outcome.response_head`), as received.
  The body is stored decoded (libcurl undoes ``Content-Encoding`` and chunking), so a
  head that describes the wire form would lie about the payload: ``Content-Encoding``,
  ``Transfer-Encoding`` and ``Content-Length`` are renamed ``X-Archive-Orig-<name>``
  (the prefix pywb and Browsertrix use for the same reason) and a ``Content-Length`` of
  the stored body is added. A URL recorded without a head (a store written before
  schema version 2) gets a head built from its status and Content-Type.
- ``WARC-Target-URI`` is the URL that answered (``final_url``): per WARC 1.1 section
  5.6 the URI "whose capture gave rise to the information content in this record", and
  the one a replay looks up. When redirects were followed, the URL that was asked for is
  kept in ``Threadloom-Requested-URI`` (an extension field; the redirects' own responses
  are not in the store).
- The request record is reconstructed: the request line (``GET`` and the target URL's
  path and query, with the response's HTTP version) and ``Host``. Other headers the
  run sent are not stored, so none are invented; the warcinfo record says so.
- A URL read from a row with other columns (``fetch --input-format csv``, ...) gets a
  third record after those two: a ``metadata`` record whose block is those columns as
  a JSON object (``Content-Type: application/json``), with ``WARC-Refers-To`` naming
  the response record, so the columns travel with the capture as img2dataset keeps
  them beside each image.
- ``WARC-Date`` is when the fetch finished (``fetched_at``), with milliseconds (1.1
  allows fractions). Digests are SHA-1 in base32, as WARC 1.1 and warcio expect:
  ``WARC-Payload-Digest`` of the body, ``WARC-Block-Digest`` of the whole block.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import uuid
import zlib
from collections.abc import Iterable
from http import HTTPStatus
from typing import BinaryIO, Final
from urllib.parse import quote, urlsplit

from threadloom.store._base import Store

WARC_VERSION: Final = b"WARC/1.1"

_REWRITTEN: Final = frozenset({b"content-encoding", b"transfer-encoding", b"content-length"})
_ORIG_PREFIX: Final = b"X-Archive-Orig-"
_LINE_END: Final = re.compile(rb"\r?\n")
# What percent-encoding leaves alone in a URL (the transport's rule for what it sends):
# RFC 3986 reserved and unreserved characters, and "%" so existing escapes survive.
_URL_SAFE: Final = ":/?#[]@!$&'()*+,;=-._~%"


def write_warc(source: Store, out: BinaryIO, *, filename: str, software: str) -> int:
    """Write every done URL of ``source`` (input order) to ``out`` as gzip-compressed
    WARC/1.1 records (see the module docstring); return how many URLs were written.

    ``filename`` goes into the warcinfo record's ``WARC-Filename``, ``software`` into
    its ``software`` field. Streams: one URL's body (and its record) in memory at a
    time. Raises `OSError` if ``out`` cannot be written.
    """
    warcinfo_id = _record_id()
    info = _fields(
        [
            ("software", software),
            ("format", "WARC File Format 1.1"),
            (
                "conformsTo",
                "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            ),
            (
                "description",
                "request records are reconstructed (request line and Host only);"
                " response bodies are stored decoded, the original Content-Encoding,"
                " Transfer-Encoding and Content-Length are kept as X-Archive-Orig-*",
            ),
        ]
    )
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    out.write(
        _record(
            [
                (b"WARC-Type", b"warcinfo"),
                (b"WARC-Record-ID", warcinfo_id),
                (b"WARC-Date", now.replace("+00:00", "Z").encode()),
                (b"WARC-Filename", filename.encode("utf-8")),
                (b"Content-Type", b"application/warc-fields"),
            ],
            info,
        )
    )
    written = 0
    for row in source.export():
        if row["state"] != "done":
            continue
        url = str(row["url"])
        body = source.read_body(url)
        if body is None:  # a body file removed by hand: nothing to archive
            continue
        final_url = str(row["final_url"] or url)
        status = row["http_status"]
        head = source.read_head(url) or _made_up_head(
            status if isinstance(status, int) else 200, row["content_type"]
        )
        http_head = _archival_head(head, len(body))
        date = str(row["fetched_at"]).encode("ascii")
        target = _uri(final_url)
        response_id = _record_id()
        response_fields = [
            (b"WARC-Type", b"response"),
            (b"WARC-Record-ID", response_id),
            (b"WARC-Date", date),
            (b"WARC-Target-URI", target),
            (b"WARC-Warcinfo-ID", warcinfo_id),
            (b"WARC-Payload-Digest", _digest(body)),
            (b"Content-Type", b"application/http; msgtype=response"),
        ]
        if final_url != url:
            response_fields.append((b"Threadloom-Requested-URI", _uri(url)))
        out.write(_record(response_fields, http_head + b"\r\n" + body))
        request = _request(final_url, _http_version(http_head))
        out.write(
            _record(
                [
                    (b"WARC-Type", b"request"),
                    (b"WARC-Record-ID", _record_id()),
                    (b"WARC-Date", date),
                    (b"WARC-Target-URI", target),
                    (b"WARC-Warcinfo-ID", warcinfo_id),
                    (b"WARC-Concurrent-To", response_id),
                    (b"Content-Type", b"application/http; msgtype=request"),
                ],
                request,
            )
        )
        columns = row.get("input")
        if columns is not None:
            out.write(_input_record(columns, date, target, response_id, warcinfo_id))
        written += 1
    return written


def _input_record(
    columns: object, date: bytes, target: bytes, response_id: bytes, warcinfo_id: bytes
) -> bytes:
    """A metadata record of the URL's input columns (a JSON object), referring to its
    response record (see the module docstring)."""
    block = json.dumps(columns, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "backslashreplace"
    )
    return _record(
        [
            (b"WARC-Type", b"metadata"),
            (b"WARC-Record-ID", _record_id()),
            (b"WARC-Date", date),
            (b"WARC-Target-URI", target),
            (b"WARC-Warcinfo-ID", warcinfo_id),
            (b"WARC-Refers-To", response_id),
            (b"Content-Type", b"application/json"),
        ],
        block,
    )


def _record(fields: list[tuple[bytes, bytes]], block: bytes) -> bytes:
    """One record (header, block, the two CRLFs that end it) as one gzip member."""
    lines = [WARC_VERSION, b"\r\n"]
    for name, value in fields:
        lines += [name, b": ", value, b"\r\n"]
    lines += [
        b"WARC-Block-Digest: ",
        _digest(block),
        b"\r\nContent-Length: ",
        str(len(block)).encode(),
        b"\r\n\r\n",
    ]
    # A gzip member (wbits 16 + window bits) fed in parts, without a second copy of the
    # block. The window is no larger than the record: setting up zlib's default 32 KiB
    # window and 128 KiB of hash tables took ~250 us a record here, more than
    # compressing a 7 KB document, and a window as large as the data compresses it as
    # well as any larger one. Any window size is a valid gzip stream for every reader.
    size = sum(map(len, lines)) + len(block) + 4
    bits = max(9, min(15, (size - 1).bit_length()))
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + bits, max(1, min(8, bits - 6)))
    return b"".join(
        (
            compressor.compress(b"".join(lines)),
            compressor.compress(block),
            compressor.compress(b"\r\n\r\n"),
            compressor.flush(),
        )
    )


def _archival_head(head: bytes, body_size: int) -> bytes:
    """``head`` (status line and field lines) with the fields that describe the wire
    form renamed (see the module docstring), a Content-Length of the stored body added,
    and every line ended by CRLF, followed by no blank line."""
    lines = [line for line in _LINE_END.split(head) if line]
    if not lines or not lines[0].startswith(b"HTTP/"):
        lines.insert(0, b"HTTP/1.1 200 OK")
    out = [lines[0]]
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        out.append(_ORIG_PREFIX + line.lstrip() if name in _REWRITTEN else line)
    out.append(b"Content-Length: " + str(body_size).encode())
    return b"\r\n".join(out) + b"\r\n"


def _made_up_head(status: int, content_type: object) -> bytes:
    """A head for a URL recorded without one: its status (and reason) and Content-Type."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    head = f"HTTP/1.1 {status} {reason}".rstrip() + "\r\n"
    if isinstance(content_type, str):
        head += f"Content-Type: {content_type}\r\n"
    return head.encode("latin-1", "replace")


def _http_version(head: bytes) -> bytes:
    """``HTTP/1.1`` or whatever the head's status line names (``HTTP/2``, ...)."""
    version = head.split(b" ", 1)[0]
    return version if version.startswith(b"HTTP/") else b"HTTP/1.1"


def _request(url: str, version: bytes) -> bytes:
    """The request line and Host header of a GET of ``url`` (see the module docstring)."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    return b"GET " + _uri(target) + b" " + version + b"\r\nHost: " + _uri(host) + b"\r\n\r\n"


def _uri(text: str) -> bytes:
    """A URI for a header: ASCII, as WARC 1.1 and HTTP want it. The store keeps URLs as
    given; a non-ASCII one is percent-encoded as UTF-8, as the fetch sent it."""
    if not text.isascii():
        text = quote(text, safe=_URL_SAFE, errors="surrogateescape")
    return text.encode("ascii")


def _digest(data: bytes) -> bytes:
    return b"sha1:" + base64.b32encode(hashlib.sha1(data).digest())


def _record_id() -> bytes:
    return f"<urn:uuid:{uuid.uuid4()}>".encode("ascii")


def _fields(items: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in items).encode("utf-8")
