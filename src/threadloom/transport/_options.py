"""``TransportOptions``: every knob of the HTTP client, as one immutable value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from threadloom import __version__
from threadloom._redact import redact_line

#: The largest ``max_size``: libcurl's file sizes are a signed 64-bit curl_off_t.
MAX_SIZE_LIMIT = 2**63 - 1
#: The longest time limit, in seconds: libcurl's millisecond options take a C long,
#: 32 bits on some platforms (about 24.8 days).
MAX_SECONDS = (2**31 - 1) / 1000

PROJECT_URL: Final = "https://github.com/threadloom/threadloom"
DEFAULT_USER_AGENT: Final = f"threadloom/{__version__} (+{PROJECT_URL})"
"""The ``User-Agent`` sent unless told otherwise: the product, its version and, in the
"+URL" form crawlers use, where a site's operator can read what it is. A crawler
operator replaces the URL with their own contact (``TransportOptions(user_agent=...)``,
``threadloom fetch -A 'mycrawler/1.0 (+https://example.org/bot; bot@example.org)'``)."""

PROXY_SCHEMES: Final = frozenset({"http", "https", "socks4", "socks4a", "socks5", "socks5h"})
"""The proxy URL schemes libcurl's CURLOPT_PROXY takes (``socks5h``: the proxy resolves
host names; ``socks5``: they are resolved locally)."""

# An RFC 9110 field name (a "token").
_FIELD_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """How ``HttpClient`` requests URLs. Every field is validated on construction.

    Attributes:
        connect_timeout: seconds allowed to establish the connection, TCP and TLS
            handshake both (a server that accepts and never answers the TLS
            ClientHello is cut with ``"TLS handshake timed out after S s"``).
        low_speed_time: stall cut, in seconds. The request is aborted with
            ``TransferTimeout`` when no body byte arrives for this long (including the
            wait for the first byte), or when fewer than ``low_speed_limit`` bytes a
            second arrive over such a period. How it is checked is ``stall_check``.
        low_speed_limit: bytes per second below which a period counts as a stall
            (1, the default, means "no data at all").
        timeout: total seconds one request may take, connecting, redirects, headers
            and body included, however steadily data comes (a server trickling a byte
            now and then escapes the stall cut, not this); None for no total limit (the
            stall cut still applies). Cut by libcurl's own timer, to the millisecond.
            The ``TransferTimeout`` says so (``"exceeded --max-time of 5 s: 10 of
            100000 bytes received"``) and is not retryable: another attempt would take
            as long, so a retry policy would only multiply the wait.
        max_size: largest accepted body in bytes (after decoding), or None for no
            limit; at most 2**63 - 1 (libcurl's curl_off_t). Enforced while downloading:
            the transfer is aborted as soon as it is exceeded, and at once when a
            ``Content-Length`` announces more.
        max_redirects: redirects followed at most; more is a ``RedirectRefused``.
            Redirects are only followed to http and https URLs.
        verify_tls: verify the server's certificate and host name (keep it on).
        ca_bundle: a CA certificate file to verify against instead of the system's.
        http2: offer HTTP/2 over TLS (ALPN); plain http always uses HTTP/1.1.
        decompress: send ``Accept-Encoding`` with every encoding libcurl decodes
            (gzip, deflate, brotli, zstd as built) and decode responses.
        user_agent: the ``User-Agent`` header (default :data:`DEFAULT_USER_AGENT`);
            ``""`` sends none.
        stall_check: how ``get`` checks for stalls. ``"exact"`` (the default): a Python
            progress callback checks about once a second, so the cut comes at most about
            a second after ``low_speed_time``; it costs a Python call (and a GIL
            hand-off) per libcurl progress tick, ~100 us of CPU per small transfer with
            8 threads (measured). ``"libcurl"``: libcurl's own LOW_SPEED_LIMIT/TIME, no
            Python calls, but it counts whole seconds (0.5 s becomes 1 s) and averages
            the speed over about five seconds, so a stall right after a burst of data is
            cut up to about six seconds late. Transfers started with ``submit`` ignore
            it: the transfer thread checks all of them every 0.25 s (one ``getinfo``
            each, no per-transfer cost), so their cut comes within 0.25 s of
            ``low_speed_time``.
        headers: extra request header lines, ``"Name: value"``, sent with every
            request (CURLOPT_HTTPHEADER, as curl's ``-H``): one replaces the header
            libcurl would send by that name (``User-Agent``, ``Accept``, ``Host``);
            ``"Name:"`` with nothing after the colon removes it (no header sent);
            ``"Name;"`` sends it with an empty value. Checked by :func:`check_header`.
            Set once per easy handle, which keeps them for all its requests.
        proxy: the proxy every request goes through (CURLOPT_PROXY):
            ``scheme://[user:password@]host[:port]`` with a scheme of
            :data:`PROXY_SCHEMES` (no scheme: http). None (the default): libcurl reads
            the ``http_proxy``, ``https_proxy``, ``all_proxy`` environment variables
            (and upper-case ``HTTPS_PROXY``, ``ALL_PROXY``; ``HTTP_PROXY`` upper-case
            is ignored, as by curl, against the CGI "httpoxy" hole); ``""``: no proxy,
            whatever the environment says.
        noproxy: hosts reached directly, not through the proxy (CURLOPT_NOPROXY): a
            comma-separated list of host names (a name also matches its subdomains),
            IP addresses or CIDR ranges; ``"*"`` for all. None: libcurl reads the
            ``no_proxy`` / ``NO_PROXY`` environment variable, which applies to
            ``proxy`` as well; ``""``: every request uses the proxy.
        cookie_file: a cookie file in the Netscape format curl and wget read and
            write (CURLOPT_COOKIEFILE), loaded once when the client is made. It turns
            the cookie engine on: cookies servers set during the run are kept in
            memory, shared by all the client's handles (a CurlShare with
            CURL_LOCK_DATA_COOKIE) and sent with later requests; the file is never
            written. None (the default): no cookies are sent or kept.
        netrc: take per-host credentials from a netrc file (CURLOPT_NETRC, optional:
            a host without an entry is requested without them): ``netrc_file``, else
            ``~/.netrc``. The password is sent only to the host of its entry.
        netrc_file: the netrc file to read (CURLOPT_NETRC_FILE); implies ``netrc``.
    """

    connect_timeout: float = 10.0
    low_speed_time: float = 30.0
    low_speed_limit: int = 1
    timeout: float | None = None
    max_size: int | None = None
    max_redirects: int = 10
    verify_tls: bool = True
    ca_bundle: str | None = None
    http2: bool = True
    decompress: bool = True
    user_agent: str = DEFAULT_USER_AGENT
    stall_check: Literal["exact", "libcurl"] = "exact"
    headers: tuple[str, ...] = ()
    proxy: str | None = None
    noproxy: str | None = None
    cookie_file: str | None = None
    netrc: bool = False
    netrc_file: str | None = None

    def __post_init__(self) -> None:
        _positive("connect_timeout", self.connect_timeout)
        _positive("low_speed_time", self.low_speed_time)
        if self.stall_check not in ("exact", "libcurl"):
            raise ValueError(f"stall_check must be 'exact' or 'libcurl', got {self.stall_check!r}")
        if self.low_speed_limit < 1:
            raise ValueError(f"low_speed_limit must be >= 1, got {self.low_speed_limit}")
        if self.timeout is not None:
            _positive("timeout", self.timeout)
        if self.max_size is not None and not 0 <= self.max_size <= MAX_SIZE_LIMIT:
            raise ValueError(
                f"max_size must be None or from 0 to {MAX_SIZE_LIMIT}, got {self.max_size}"
            )
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be >= 0, got {self.max_redirects}")
        for line in self.headers:
            check_header(line)
        if self.proxy:
            check_proxy(self.proxy)
        if _has_line_break(self.user_agent) or _has_line_break(self.noproxy or ""):
            raise ValueError("user_agent and noproxy must be one line")


def check_header(line: str) -> str:
    """``line`` if it is a usable header line for :attr:`TransportOptions.headers`:
    ``"Name: value"``, ``"Name:"`` (remove the header) or ``"Name;"`` (send it empty),
    where Name is an HTTP field name and the value holds no line break or NUL. Raises
    ValueError naming the header by its name only, so that a token in its value never
    reaches a message."""
    name, colon, value = line.partition(":")
    if not colon and line.endswith(";"):
        name, value = line[:-1], ""
    elif not colon:
        # The field-name characters it starts with, no more: what follows may be a
        # token ("Authorization Bearer x", "X-Api-Key=s3cret"); and nothing of a line
        # that is one word, which may be a token pasted alone.
        match = _FIELD_NAME.match(line)
        if match is None or match.end() == len(line):
            shown = f"a header of {len(line)} characters"
        else:
            shown = f"header starting {match.group(0)[:40]!r}"
        raise ValueError(f"{shown} has no ':' (expected 'Name: value')")
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(
            f"header name {name[:40]!r} is not a valid field name (expected 'Name: value',"
            " no blank before the ':')"
        )
    if _has_line_break(value):
        raise ValueError(f"header {name!r} has a line break or NUL in its value")
    return line


def check_proxy(proxy: str) -> str:
    """``proxy`` if it is a usable :attr:`TransportOptions.proxy` URL; raises ValueError
    (showing the URL with its password hidden) for an unknown scheme, no host or a
    bad port."""
    shown = redact_line(proxy)
    if _has_line_break(proxy) or any(c.isspace() for c in proxy):
        raise ValueError(f"proxy {shown!r} has blanks or control characters")
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        known = ", ".join(sorted(PROXY_SCHEMES))
        raise ValueError(f"proxy {shown!r} has an unsupported scheme {scheme!r} ({known})")
    try:
        parts.port  # noqa: B018 (evaluated for its ValueError on a bad port)
    except ValueError:
        raise ValueError(f"proxy {shown!r} has a bad port") from None
    if not parts.hostname:
        raise ValueError(f"proxy {shown!r} has no host")
    return proxy


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text


def _positive(name: str, value: float) -> None:
    # Also refuses nan, whose every comparison is false.
    if not 0 < value <= MAX_SECONDS:
        raise ValueError(f"{name} must be more than 0 and at most {MAX_SECONDS} s, got {value}")
