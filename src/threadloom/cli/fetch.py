"""``threadloom fetch``: fetch a list of URLs N at a time into a store, resumably."""

from __future__ import annotations

import atexit
import gc
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from threadloom.cli._inputs import open_input, reads_columns
from threadloom.cli._params import ByteSize, CookieFile, Duration, HeaderLine, OneLine, ProxyUrl
from threadloom.cli._params import Number as _Number  # the name the options below use
from threadloom.cli._run import run_fetch
from threadloom.cli._stores import prepare_store_directory
from threadloom.jobs import MAX_TIME_FACTOR, MIN_RATE, FetchOptions
from threadloom.transport import DEFAULT_USER_AGENT

if TYPE_CHECKING:
    from threadloom.distribute import ScaleOut

DEFAULT_SHARD_SIZE = 2000
"""``--shard-size``'s default: `threadloom.distribute.DEFAULT_SHARD_SIZE`, written out
here so --help does not import Dask (a test holds the two equal)."""

_DAY = 86_400
# libcurl takes a size as a signed 64-bit curl_off_t.
_MAX_MAX_SIZE = 2**63 - 1


@click.command()
@click.argument("urls", type=click.Path(allow_dash=True, dir_okay=False, path_type=str))
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--per-host",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Most requests in flight to one host.",
)
@click.option(
    "--rate",
    type=_Number(MIN_RATE, math.inf, "at least 0.0000116 (one request a day)"),
    default=None,
    help="Most requests started per second per host (default: no limit); at least"
    " 0.0000116, one a day.",
)
@click.option(
    "-o",
    "--out",
    default="threadloom.db",
    show_default=True,
    help="Store: FILE.db/.sqlite (SQLite), DIR/ (files), or FILE.jsonl; created in an"
    " existing directory (see --create-dirs). A file or non-empty directory that is not"
    " a threadloom store is refused, untouched.",
)
@click.option(
    "--create-dirs",
    is_flag=True,
    help="Create the missing directories above the -o store (as curl --create-dirs).",
)
@click.option(
    "--timeout",
    type=_Number(0.001, _DAY, "between 0.001 and 86400 seconds (a day)"),
    default=30.0,
    show_default=True,
    help="Seconds to connect (TLS handshake included), and seconds without data before"
    " a transfer is cut"
    " (checked every 0.25 s); 0.001 to 86400.",
)
@click.option(
    "--max-time",
    type=_Number(0, MAX_TIME_FACTOR * _DAY, f"between 0 and {MAX_TIME_FACTOR * _DAY} seconds"),
    default=None,
    metavar="SECONDS",
    help="Most seconds one attempt may take in all, however steadily data comes (a"
    " server trickling its body is cut); an attempt cut by it is not retried."
    f" Default: {MAX_TIME_FACTOR} times --timeout ({MAX_TIME_FACTOR * 30} s with the"
    " default --timeout); 0 for no limit.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Further attempts for connection errors, --timeout cuts, 408, 429 and 5xx.",
)
@click.option(
    "--max-size",
    type=ByteSize(_MAX_MAX_SIZE),
    # Written as a user would write it, so --help shows "100 MiB"; the tests hold it
    # equal to DEFAULT_MAX_SIZE.
    default="100 MiB",
    show_default=True,
    metavar="SIZE",
    help="Largest accepted body, after decoding; larger downloads are aborted. SIZE is"
    " bytes or K, M, G, T (also KiB, MiB, ...; any case; powers of 1024, as curl),"
    " e.g. 500K, 10M, 1GiB; 0 for no limit. Bodies are held in memory (up to -j at"
    " once) and gzip can inflate one a thousandfold, hence the default.",
)
@click.option(
    "--process",
    "process",
    default=None,
    metavar="xml|MODULE:FUNCTION",
    help="Process each body: 'xml' (safe parse: root tag, element count) or"
    " MODULE:FUNCTION, a function (MODULE may be a .py file in the current directory)"
    " called with each fetched response (.url, .final_url, .status, .headers, .body"
    " bytes, .content_type, .elapsed, .http_version, .redirects), whose JSON result is"
    " stored; done URLs of earlier runs whose processing is missing or failed are"
    " processed first, from their stored bodies (not fetched again). See 'Processing"
    " documents' in docs/guide.md.",
)
@click.option(
    "--reprocess",
    is_flag=True,
    help="With --process: process every done URL again from its stored body, not only "
    "those whose processing is missing or failed (results are not tagged with the "
    "processor that made them: use this after changing it).",
)
@click.option(
    "--trace",
    "trace_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a Chrome trace (chrome://tracing, Perfetto).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a self-contained HTML report with a timeline.",
)
@click.option(
    "--skip-failed", is_flag=True, help="Do not retry URLs that failed in an earlier run."
)
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Verify TLS certificates against the CA certificates in this PEM file"
    " instead of the system's.",
)
@click.option(
    "-H",
    "--header",
    "headers",
    type=HeaderLine(),
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Send this header with every request (repeatable; as curl -H). It replaces a"
    " header threadloom sends by that name; 'NAME:' with nothing after the colon sends"
    " no such header (e.g. -H 'Accept:'), 'NAME;' sends it empty. Default: none.",
)
@click.option(
    "-A",
    "--user-agent",
    type=OneLine(),
    default=DEFAULT_USER_AGENT,
    show_default=True,
    metavar="TEXT",
    help="The User-Agent header. Name your crawler and a contact, e.g."
    " -A 'mybot/1.0 (+https://example.org/bot; bot@example.org)'; '' sends none.",
)
@click.option(
    "--proxy",
    type=ProxyUrl(),
    default=None,
    metavar="URL",
    help="Send every request through this proxy: http://, https://, socks4://,"
    " socks4a://, socks5:// or socks5h:// (the proxy resolves names), with"
    " user:password@ if it needs them. Default: the http_proxy, https_proxy, all_proxy"
    " (and HTTPS_PROXY, ALL_PROXY) environment variables, as curl; '' for none.",
)
@click.option(
    "--noproxy",
    type=OneLine(),
    default=None,
    metavar="HOSTS",
    help="Comma-separated hosts (and their subdomains), IP addresses or CIDR ranges"
    " reached without the proxy; '*' for all. Default: the no_proxy (NO_PROXY)"
    " environment variable, which applies to --proxy too; '' for none.",
)
@click.option(
    "--cookie",
    "cookie_file",
    type=CookieFile(),
    default=None,
    metavar="FILE",
    help="Send the cookies of FILE (the Netscape cookie-jar format curl -c, wget"
    " --save-cookies and browser extensions write) and keep those servers set during"
    " the run, in memory, shared by all requests; FILE is never written. Default: no"
    " cookies.",
)
@click.option(
    "--netrc",
    is_flag=True,
    help="Take per-host credentials from ~/.netrc (HTTP Basic; sent only to the host"
    " of their entry). Default: off.",
)
@click.option(
    "--netrc-file",
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    default=None,
    metavar="FILE",
    help="Take per-host credentials from this netrc file (implies --netrc). Default: none.",
)
@click.option(
    "--max-redirects",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    metavar="N",
    help="Most redirects followed for one URL (to http and https only); more ends the"
    " URL failed, saying so. 0: none followed.",
)
@click.option(
    "--input-format",
    type=click.Choice(["lines", "csv", "tsv", "jsonl"]),
    default=None,
    help="URLS is lines (one URL a line), csv or tsv (a header row, then rows; quoted"
    " fields as Excel writes them) or jsonl (a JSON object a line). Default: from the"
    " file name (.csv, .tsv, .jsonl or .ndjson), else lines (standard input and pipes"
    " too). A row's other columns are kept with its URL: export shows them as 'input',"
    " --process sees them as response.input.",
)
@click.option(
    "--url-column",
    default=None,
    metavar="NAME",
    help="The column (csv, tsv) or key (jsonl) that holds the URL. Default: url.",
)
@click.option(
    "--refresh",
    is_flag=True,
    help="First fetch the store's done URLs again, conditionally (If-None-Match from the"
    " stored ETag, If-Modified-Since from the stored Last-Modified; without them, the"
    " body is compared by SHA-256): unchanged ones keep their body and are marked"
    " confirmed, changed ones are replaced (and processed again with --process), and a"
    " failed refresh keeps the stored body. URLs not done yet are fetched as usual."
    " Default: off.",
)
@click.option(
    "--refresh-older-than",
    type=Duration(100 * 365 * _DAY),
    default=None,
    metavar="DURATION",
    help="With --refresh (implied): only done URLs whose last fetch or confirmation is"
    " older than DURATION (90s, 30m, 12h, 7d, 2w, 1h30m; a bare number is seconds)."
    " Default: every done URL.",
)
@click.option(
    "--robots",
    is_flag=True,
    help="Obey robots.txt for the User-Agent in use (its leading name: mybot of"
    " 'mybot/1.0 (...)'): read once per host per run with the same headers, proxy and"
    " limits; a disallowed URL ends failed, 'disallowed by robots.txt', never fetched;"
    " Crawl-delay spaces the host's requests (with --rate, the slower wins). No"
    " robots.txt (4xx): all allowed; 5xx or unreachable after --retries: the host's"
    " URLs all disallowed for the run. Default: off (robots.txt never requested).",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Fetch on N worker processes of a Dask LocalCluster started for the run (needs"
    " the dask extra: pip install 'threadloom[dask]'). -j is per process; --per-host"
    " and --rate stay global (divided among the processes). Results go to the same -o"
    " store: with a SQLite or directory store the workers record into it themselves"
    " (each body written once); a .jsonl store gets shard stores merged by this process,"
    " as with --cluster. Not yet with --refresh, --robots, --auto-throttle or --process"
    " over input columns (refused). See 'Scaling out' in docs/guide.md.",
)
@click.option(
    "--cluster",
    default=None,
    metavar="ADDRESS",
    help="Fetch on the workers of a running Dask cluster, e.g. tcp://10.0.0.5:8786 (as"
    " --processes otherwise). The -o store must be on a file system every worker"
    " shares, at the same path: workers write shard stores beside it (STORE.shards/),"
    " which this process merges into the store (SQLite's locks cannot be trusted over"
    " a network file system, so workers never write the store itself).",
)
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    default=DEFAULT_SHARD_SIZE,
    show_default=True,
    metavar="N",
    help="With --processes or --cluster: URLs per shard, the unit of work a worker"
    " process fetches and hands back.",
)
@click.option(
    "--auto-throttle",
    is_flag=True,
    help="Adapt each host's requests in flight to how it answers, between 1 and"
    " --per-host (the ceiling): start at 2, grow while answers stay fast, cut by a"
    " quarter on an answer slower than 1.5 times the host's fastest (and over 20 ms), an"
    " HTTP 429 or 503, or a timeout; a Retry-After spaces the host's requests. Default:"
    " off (--per-host for every host).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
def fetch(
    urls: str,
    jobs: int,
    per_host: int,
    rate: float | None,
    out: str,
    create_dirs: bool,
    timeout: float,
    max_time: float | None,
    retries: int,
    max_size: int,
    process: str | None,
    reprocess: bool,
    trace_path: Path | None,
    report_path: Path | None,
    skip_failed: bool,
    insecure: bool,
    ca_bundle: Path | None,
    headers: tuple[str, ...],
    user_agent: str,
    proxy: str | None,
    noproxy: str | None,
    cookie_file: str | None,
    netrc: bool,
    netrc_file: str | None,
    max_redirects: int,
    input_format: str | None,
    url_column: str | None,
    refresh: bool,
    refresh_older_than: float | None,
    robots: bool,
    processes: int | None,
    cluster: str | None,
    shard_size: int,
    auto_throttle: bool,
    quiet: bool,
) -> None:
    """Fetch every URL listed in URLS (a file, or - for standard input) into a store.

    URLS may also be a pipe: a FIFO, or <(command) in bash. One URL per line; blank
    lines and lines starting with # are ignored; or a CSV, TSV or JSON-lines file whose
    rows keep their other columns with the URL (--input-format). A bad row is one line
    on standard error and is recorded invalid; the run goes on. Running the same command
    again resumes: done URLs are skipped, the rest are fetched; a URL listed twice keeps
    the columns of its first row.

    Exit status: 0 every URL done (and, with --process, every done URL processed without
    error, those of earlier runs included), 1 some failed, invalid, pending or not
    processed, 2 usage error, 130 interrupted.
    """
    if reprocess and process is None:
        raise click.UsageError("--reprocess needs --process (which processor to run)")
    scale = _scale_out(processes, cluster, shard_size)
    if scale is not None:
        _check_scalable(
            refresh=refresh or refresh_older_than is not None,
            robots=robots,
            auto_throttle=auto_throttle,
            columns_to_process=process is not None and reads_columns(urls, input_format),
        )
    if urls != "-":
        _check_exists(urls)
    lines = open_input(urls, input_format, url_column)
    prepare_store_directory(out, create_dirs=create_dirs)
    options = FetchOptions(
        jobs=jobs,
        per_host=per_host,
        rate=rate,
        timeout=timeout,
        max_time=max_time,
        retries=retries,
        max_size=max_size or None,  # 0: no limit
        process=process,
        reprocess=reprocess,
        retry_failed=not skip_failed,
        verify_tls=not insecure,
        ca_bundle=None if ca_bundle is None else str(ca_bundle),
        headers=headers,
        user_agent=user_agent,
        proxy=proxy,
        noproxy=noproxy,
        cookie_file=cookie_file,
        netrc=netrc,
        netrc_file=netrc_file,
        max_redirects=max_redirects,
        refresh=refresh or refresh_older_than is not None,
        refresh_older_than=refresh_older_than,
        robots=robots,
        auto_throttle=auto_throttle,
    )
    code = run_fetch(
        out,
        lines,
        options,
        title=f"threadloom fetch: {'stdin' if urls == '-' else Path(urls).name}",
        source="stdin" if urls == "-" else urls,
        quiet=quiet,
        trace_path=trace_path,
        report_path=report_path,
        scale=scale,
    )
    if options.process is None:
        # The work is done and the store closed: what is left is the interpreter's exit,
        # whose last garbage collection walks every object the imports and the run made
        # (~15 ms of a 500-URL run's ~270). Frozen at exit (atexit runs before that
        # collection), they are not walked; they are still freed as the modules go. At
        # exit, not now: a program that calls this command and goes on (a test runner)
        # keeps its collector. Not with --process: a processor's objects may wait in
        # reference cycles for that collection to finalize them (flush a file, say).
        atexit.register(gc.freeze)
    sys.exit(code)


def _scale_out(processes: int | None, cluster: str | None, shard_size: int) -> ScaleOut | None:
    """The --processes/--cluster choice, or None for a run in this process alone. Dask is
    imported only here, and only for a scaled-out run: a plain fetch pays nothing."""
    if processes is None and cluster is None:
        return None
    if processes is not None and cluster is not None:
        raise click.UsageError("--processes and --cluster exclude each other: choose one")
    if importlib.util.find_spec("distributed") is None:
        raise click.UsageError(
            f"{'--processes' if processes is not None else '--cluster'} needs Dask:"
            " pip install 'threadloom[dask]'"
        )
    from threadloom.distribute import ScaleOut  # noqa: PLC0415

    return ScaleOut(processes=processes, cluster=cluster, shard_size=shard_size)


def _check_scalable(
    *, refresh: bool, robots: bool, auto_throttle: bool, columns_to_process: bool
) -> None:
    """Refuse what a scaled-out run does not do yet, rather than do it differently:
    --refresh (workers fetch only URLs still to do), --robots and --auto-throttle (each
    worker would keep a host's Crawl-delay or adapted limit on its own, so neither would
    hold across them) and --process over input columns (workers do not see them)."""
    unsupported = [
        name
        for name, asked in (
            ("--refresh", refresh),
            ("--robots", robots),
            ("--auto-throttle", auto_throttle),
            ("--process with input columns", columns_to_process),
        )
        if asked
    ]
    if unsupported:
        raise click.UsageError(
            f"{' and '.join(unsupported)} cannot be combined with --processes or --cluster"
            " yet: run it in one process (without them)"
        )


def _check_exists(urls: str) -> None:
    """Refuse a URL list that is not there. Anything else readable is accepted: a file,
    a FIFO, ``<(command)`` (``/dev/fd/N``), ``/dev/stdin``; the argument's click.Path
    type has already refused a directory or an unreadable path. Opening is left to the
    reader: opening a FIFO here would block until a writer comes."""
    try:
        os.stat(urls)
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else str(exc.strerror).lower()
        raise click.BadParameter(f"{urls}: {reason}", param_hint="URLS") from None
