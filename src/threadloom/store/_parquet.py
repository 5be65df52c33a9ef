"""A store as a Parquet file: one row per URL, the JSON export's columns plus the body.

pyarrow is an optional dependency (``pip install 'threadloom[parquet]'``); this module
imports it only inside `write_parquet`, so importing threadloom never needs it.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, BinaryIO, Final

from threadloom.store._base import Store

DEFAULT_ROW_GROUP_ROWS: Final = 10_000
"""Rows per row group: Parquet readers skip and parallelise by row group; 10,000 rows of
small documents make groups of a few MiB, the size readers handle well."""

DEFAULT_ROW_GROUP_BYTES: Final = 32 * 1024 * 1024
"""A row group is written once its bodies reach this many bytes, whatever its row
count: the bound on the bodies held in memory (plus one body, up to the fetch's
--max-size). pyarrow holds a row group about four times over while it encodes it
(the bodies, the Arrow arrays, the pages, the compressed pages): measured peak RSS
250 MiB exporting 20,000 documents of 6 KB, 300 MiB for 600 bodies of 1 MiB (a 600 MiB
store); 64 MiB took it to 340 MiB, 1,000-row groups to 135 MiB."""

EXTRA: Final = "threadloom[parquet]"


def parquet_available() -> bool:
    """Whether pyarrow can be imported (it is imported: the export needs it next)."""
    try:
        import pyarrow.parquet  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def write_parquet(
    source: Store,
    out: BinaryIO,
    *,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
) -> int:
    """Write every URL of ``source`` in input order to ``out`` as one Parquet file;
    return the number of rows.

    Columns, typed: ``url``, ``state``, ``error``, ``content_type``, ``final_url``,
    ``sha256``, ``process_error``, ``status_line``, ``refresh_result``,
    ``refresh_error`` (string); ``http_status``, ``size``, ``attempts`` (int64);
    ``fetched_at``, ``confirmed_at`` (timestamp, ms, UTC);
    ``processed``, ``headers`` and ``input`` (JSON text: the values `Store.export`
    gives, whose shape varies by row; ``input`` holds the other columns of the URL's
    input row); ``body`` (binary, done URLs only). Missing values are null.

    Bounded memory: rows are gathered into a row group of at most ``row_group_rows``
    rows, written once it is full or its bodies reach ``row_group_bytes``. Raises
    `ModuleNotFoundError` without pyarrow, `OSError` if ``out`` cannot be written.
    """
    import pyarrow as pa  # noqa: PLC0415 (optional: see the module docstring)
    import pyarrow.parquet as pq  # noqa: PLC0415

    schema = pa.schema(
        [
            ("url", pa.string()),
            ("state", pa.string()),
            ("http_status", pa.int64()),
            ("size", pa.int64()),
            ("sha256", pa.string()),
            ("attempts", pa.int64()),
            ("error", pa.string()),
            ("fetched_at", pa.timestamp("ms", tz="UTC")),
            ("content_type", pa.string()),
            ("final_url", pa.string()),
            ("processed", pa.string()),
            ("process_error", pa.string()),
            ("status_line", pa.string()),
            ("headers", pa.string()),
            ("input", pa.string()),
            ("confirmed_at", pa.timestamp("ms", tz="UTC")),
            ("refresh_result", pa.string()),
            ("refresh_error", pa.string()),
            ("body", pa.binary()),
        ]
    )
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    rows = held = 0
    # No dictionary and no min/max statistics for the large, unique-valued columns: a
    # dictionary of bodies is a hash table of every body in the row group, and their
    # statistics are never useful for skipping.
    bulky = {"body", "headers", "input", "processed", "url", "final_url", "sha256"}
    small = [name for name in schema.names if name not in bulky]
    with pq.ParquetWriter(
        out, schema, compression="zstd", use_dictionary=small, write_statistics=small
    ) as writer:

        def flush() -> None:
            nonlocal held
            if columns["url"]:
                writer.write_table(pa.table(columns, schema=schema))
            for values in columns.values():
                values.clear()
            held = 0

        for row in source.export():
            body = source.read_body(str(row["url"])) if row["state"] == "done" else None
            for name in schema.names:
                if name == "body":
                    columns[name].append(body)
                elif name in {"processed", "headers", "input"}:
                    value = row[name]
                    columns[name].append(None if value is None else json.dumps(value))
                elif name in {"fetched_at", "confirmed_at"}:
                    columns[name].append(_timestamp(row[name]))
                else:
                    columns[name].append(row[name])
            rows += 1
            held += 0 if body is None else len(body)
            if len(columns["url"]) >= row_group_rows or held >= row_group_bytes:
                flush()
        flush()
    return rows


def _timestamp(text: object) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.datetime.fromisoformat(text)
