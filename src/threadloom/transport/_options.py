"""``TransportOptions``: every knob of the HTTP client, as one immutable value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from threadloom import __version__

#: The largest ``max_size``: libcurl's file sizes are a signed 64-bit curl_off_t.
MAX_SIZE_LIMIT = 2**63 - 1
#: The longest time limit, in seconds: libcurl's millisecond options take a C long,
#: 32 bits on some platforms (about 24.8 days).
MAX_SECONDS = (2**31 - 1) / 1000


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
        user_agent: the ``User-Agent`` header.
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
    user_agent: str = field(default=f"threadloom/{__version__}")
    stall_check: Literal["exact", "libcurl"] = "exact"

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


def _positive(name: str, value: float) -> None:
    # Also refuses nan, whose every comparison is false.
    if not 0 < value <= MAX_SECONDS:
        raise ValueError(f"{name} must be more than 0 and at most {MAX_SECONDS} s, got {value}")
