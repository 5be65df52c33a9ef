"""``threadloom export``: a store's URLs as JSON lines, a WARC file or a Parquet file, or
its bodies as files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO, TextIO

import click

from threadloom import __version__
from threadloom.cli._stores import open_existing
from threadloom.store import (
    InputRow,
    NotAStoreError,
    Outcome,
    State,
    Store,
    StoreError,
    open_store,
    store_owns,
)


@click.command()
@click.argument("store")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "warc", "parquet", "dir"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one object per URL; warc: a web archive of the done URLs (.warc.gz);"
    " parquet: one row per URL with its body (needs threadloom[parquet]);"
    " dir: the bodies as files.",
)
@click.option(
    "--to",
    "target",
    metavar="PATH",
    default=None,
    help="jsonl, warc: a file (default: standard output); parquet: a file (required);"
    " dir: the directory (required).",
)
@click.option(
    "--layout",
    type=click.Choice(["flat", "host-path"]),
    default="flat",
    show_default=True,
    help="--format dir only. flat: one directory of safe names, itself a store;"
    " host-path: wget-style HOST/PATH files in a new or empty directory.",
)
def export(store: str, fmt: str, target: str | None, layout: str) -> None:
    """Export STORE.

    jsonl writes one object per URL with url, state (done|failed|invalid|pending),
    http_status, sha256, size, attempts, error, fetched_at, the processing result, and
    the final response's status_line and headers ({name: value, or [values] for a
    field sent more than once}, names lower-cased).

    warc writes every done URL as a WARC/1.1 response record and a request record, each
    gzip-compressed on its own (name the file .warc.gz); warcio, pywb and other archive
    tools read it. parquet writes one row per URL with the jsonl columns and the body
    (binary), in row groups (bounded memory).

    dir writes every done URL's body into a directory. --layout flat (default): under a
    safe name derived from the URL, and the directory is itself a store (status and
    export work on it). --layout host-path: wget-style HOST/PATH names (a path ending
    in / gets index.html, a query is appended after @, unsafe characters are
    percent-encoded, collisions get a ~hash suffix); the directory must be new or empty.

    Exit status: 0 exported, 1 the target could not be written (a missing parent
    directory included), 2 usage error (a missing or unusable store, a target that is
    one of the store's own files, a --format dir target that is a non-empty directory
    but not a threadloom store, or not empty for --layout host-path, parquet without
    pyarrow installed).
    """
    if fmt in {"dir", "parquet"} and target is None:
        what = "DIRECTORY" if fmt == "dir" else "FILE"
        raise click.UsageError(f"--format {fmt} needs --to {what}")
    if layout != "flat" and fmt != "dir":
        raise click.UsageError("--layout is for --format dir only")
    if fmt == "parquet":
        from threadloom.store._parquet import EXTRA, parquet_available  # noqa: PLC0415

        if not parquet_available():
            raise click.UsageError(f"--format parquet needs pyarrow: pip install '{EXTRA}'")
    if fmt == "warc" and target is None and sys.stdout.isatty():
        # curl's rule for binary output: a terminal shows nothing useful and may be
        # left in a strange state by escape sequences in the data.
        raise click.UsageError("--format warc is binary: give --to FILE or redirect the output")
    source = open_existing(store)
    try:
        if target is None:
            if fmt == "warc":
                _report(source, fmt, _write_format(source, fmt, sys.stdout.buffer, "-"), "-")
            else:
                _export_jsonl(source, sys.stdout)
            return
        _refuse_own_files(source, target)
        try:
            if fmt == "dir" and layout == "host-path":
                written = _export_host_path(source, target)
                click.echo(f"{written} documents written to {target}", err=True)
            elif fmt == "dir":
                written = _export_dir(source, target)
                click.echo(f"{written} documents written to {target}", err=True)
            else:
                with _replacing(target) as out:
                    written = _write_format(source, fmt, out, target)
                _report(source, fmt, written, target)
        except NotAStoreError as exc:
            # A user's directory: nothing was written to it.
            raise click.UsageError(f"--to {target}: {exc}; choose another --to path") from None
        except (OSError, StoreError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            click.echo(f"threadloom: cannot write {target}: {reason}", err=True)
            sys.exit(1)
    finally:
        source.close()


def _report(source: Store, fmt: str, written: int, target: str) -> None:
    """Say on standard error what a warc or parquet export wrote, and which done URLs
    it could not (a body file removed from a directory store by hand)."""
    if fmt == "jsonl":
        return
    what = "documents" if fmt == "warc" else "rows"
    line = f"{written} {what} written to {target}"
    if fmt == "warc":
        missing = source.counts().done - written
        if missing:
            line += f" ({missing} done URLs without a stored body left out)"
    click.echo(line, err=True)


def _write_format(source: Store, fmt: str, out: BinaryIO, target: str) -> int:
    """Write ``source`` as ``fmt`` (jsonl, warc or parquet) to the binary file ``out``;
    return the number of URLs written (0 for jsonl, which says nothing)."""
    if fmt == "warc":
        from threadloom.store._warc import write_warc  # noqa: PLC0415

        return write_warc(
            source,
            out,
            filename=os.path.basename(target),
            software=f"threadloom/{__version__}",
        )
    if fmt == "parquet":
        from threadloom.store._parquet import write_parquet  # noqa: PLC0415

        return write_parquet(source, out)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="\n")
    _export_jsonl(source, text)
    text.flush()
    text.detach()
    return 0


def _refuse_own_files(source: Store, target: str) -> None:
    """Raise a usage error if ``target`` is part of ``source`` (see `store_owns`):
    writing there destroys it."""
    if store_owns(source, target):
        raise click.UsageError(
            f"--to {target} is part of the store {source.location}; export somewhere else"
        )


@contextlib.contextmanager
def _replacing(target: str) -> Iterator[BinaryIO]:
    """A binary file that becomes ``target`` when the block ends without an exception.

    Written to a temporary file beside it (same directory, mode of the file it replaces),
    then renamed onto it: an export that fails or is interrupted leaves no partial file,
    and an earlier file at ``target`` as it was. An existing target that is not a
    regular file (``/dev/stdout``, a pipe) is written directly. Raises `OSError`.
    """
    if os.path.exists(target) and not os.path.isfile(target):
        with open(target, "wb") as handle:
            yield handle
        return
    final = os.path.realpath(target)  # a symlink's file is replaced, not the symlink
    temporary = os.path.join(
        os.path.dirname(final), f".{os.path.basename(final)}.{secrets.token_hex(4)}.tmp"
    )
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "wb") as handle:
            yield handle
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(final).st_mode))
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _export_jsonl(source: Store, out: TextIO) -> None:
    for row in source.export():
        out.write(json.dumps(row, ensure_ascii=False))
        out.write("\n")


def _export_dir(source: Store, target: str) -> int:
    """Copy every done URL's body (and response head, and input columns) into the directory store
    at ``target`` (created in an existing directory, as ``fetch -o DIR/`` creates one;
    raises `NotAStoreError` for a non-empty directory that is not a store)."""
    written = 0
    with open_store(target.rstrip("/") + "/") as destination:
        destination.add_urls(
            InputRow(str(row["url"]), None if row["input"] is None else json.dumps(row["input"]))
            for row in source.export()
            if _is_done(row)
        )
        for row in source.export():
            url = str(row["url"])
            body = source.read_body(url) if _is_done(row) else None
            if body is None:
                continue
            status = row.get("http_status")
            destination.record(
                Outcome(
                    url=url,
                    state=State.DONE,
                    http_status=status if isinstance(status, int) else None,
                    body=body,
                    attempts=0,
                    response_head=source.read_head(url),
                )
            )
            written += 1
    return written


def _export_host_path(source: Store, target: str) -> int:
    """Write every done URL's body under its wget-style name into ``target`` (see
    `HostPathWriter`; a non-empty directory is a usage error, nothing written)."""
    from threadloom.store._layout import HostPathWriter, NotEmptyError  # noqa: PLC0415

    written = 0
    try:
        writer = HostPathWriter(target)
    except NotEmptyError:
        raise click.UsageError(
            f"--to {target}: not empty; --layout host-path writes into a new or empty directory"
        ) from None
    with writer:
        for row in source.export():
            body = source.read_body(str(row["url"])) if _is_done(row) else None
            if body is None:
                continue
            writer.write(str(row["url"]), body)
            written += 1
    return written


def _is_done(row: dict[str, object]) -> bool:
    return row["state"] == State.DONE
