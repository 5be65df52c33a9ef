"""The project's own fault-injecting HTTP server (tests, benchmarks, ``threadloom demo``).

Standard library only. ``FaultServer`` speaks HTTP/1.1 with keep-alive (every response
carries ``Content-Length`` unless a route says otherwise), one daemon thread per
connection, and counts requests (``statistics()``) so tests can assert connection
reuse, retry counts and per-host concurrency. Only ``GET`` is served.

Routes (``N``, ``M``, ``B``, ``K``, ``S`` are query or path parameters; a bad parameter
gets ``400`` naming it; an unknown path gets ``404``):

``/docs/{n}.xml``
    Generated XML document ``n`` (``0 <= n < documents``, else 404): deterministic in
    ``(n, seed)``, 1-20 KiB (log-normal sizes). Answered after a heavy-tailed,
    deterministic delay (log-normal, median 20 ms, capped at 2 s) times ``latency``.
``/status/{code}[?retry_after=S]``
    Answers ``code`` (200-599) with a short body; ``Retry-After: S`` is sent verbatim,
    so both ``120`` and an HTTP-date can be tested (and junk).
``/flaky/{id}?fail=K&code=C[&retry_after=S]``
    The first ``K`` (default 1) requests for ``id`` get status ``C`` (default 503, must
    be 400-599, optional ``Retry-After``); later ones get 200. Counted per server.
``/versioned/{key}[?validators=both|etag|lm|none&ms=N]``
    A small XML document whose version (from 1) a test changes with
    ``FaultServer.bump_version(key)``, sent with ``ETag: "{key}-v{n}"`` and a
    ``Last-Modified`` of ``n`` days after 2024-01-01 (both by default; one, or none).
    Conditional requests are honoured: a matching ``If-None-Match`` (weak comparison,
    ``*``), or, without one, an ``If-Modified-Since`` not older than the document, gets
    ``304 Not Modified`` with the validators and no body. ``set_versioned_status(key,
    S)`` makes it answer ``S`` instead (a failure); ``versioned_conditions(key)`` lists
    the conditions each request carried. ``ms``: answer after ``N`` milliseconds.
``/reset``
    Closes the connection without a response, with a TCP RST (SO_LINGER 0).
``/truncate?size=N&send=M``
    Announces ``Content-Length: N`` (default 1000), sends ``M < N`` bytes (default N/2),
    then closes the connection.
``/drip?size=N&rate=B[&chunked=1]``
    ``N`` bytes (default 1000) with ``Content-Length``, sent at ``B`` bytes/s (default
    100) in ten writes a second; with chunked transfer coding instead when ``chunked=1``
    (a large ``N``: a body without end, as far as the client can tell).
``/endless-headers?every=MS``
    ``200 OK``, then a header line every ``MS`` milliseconds (default 100; 0: as fast
    as the client reads) and never the blank line that ends the head, until the client
    leaves or the server stops.
``/continue-stall``
    An interim ``HTTP/1.1 100 Continue``, then nothing until the client leaves or the
    server stops.
``/stall?after=M[&size=N]``
    Announces ``Content-Length: N`` (default ``M + 1024``), sends ``M`` bytes (default
    0), then sends nothing until the client disconnects or the server stops.
``/redirect/{n}[?doc=K]``
    A chain of ``n`` 302 redirects ending at ``/docs/K.xml`` (default document 0);
    ``/redirect/0`` serves the document itself.
``/redirect-loop``
    302 to itself, forever.
``/redirect-to?url=U[&code=C]``
    Redirect (status ``C``, 300-399, default 302) to any ``U``, e.g. ``file:///etc/passwd``
    or ``ftp://example.invalid/``.
``/hops?hosts=H1,H2,...[&ms=N]``
    302 to ``/hops`` on the next host of the list (default ``127.0.0.1,localhost``) at
    the port the request came to (from its ``Host`` header), after ``N`` ms (default
    0): a redirect chain without end that changes host at every hop.
``/gzip/{route}``
    Any route above answered in memory (``/docs``, ``/status``, ``/flaky``, ``/redirect``
    ones, ``/hops``, ``/bytes``, ``/delay``, ``/bomb.xml``, ``/xxe.xml``, ``/headers``),
    gzip-encoded (``Content-Encoding: gzip``) when the request's ``Accept-Encoding``
    allows gzip, as is otherwise; ``Vary: Accept-Encoding`` either way. Streaming routes
    give 400.
``/huge?size=N[&chunked=1]``
    Streams ``N`` bytes (default 100 MiB) in 64 KiB writes without holding them in
    memory; with ``Content-Length``, or with chunked transfer coding (length not known
    up front) when ``chunked=1``.
``/bomb.xml``
    A billion-laughs XML document (nested entity expansion).
``/xxe.xml``
    An XML document with an external entity pointing at ``file:///etc/passwd``.
``/delay?ms=N``
    Answers 200 after ``N`` milliseconds (default 100; cut short by ``stop()``).
``/bytes?size=N``
    ``N`` bytes (default 1024, at most 64 MiB) of a printable deterministic pattern.
``/headers``
    The request headers as ``Name: value`` lines (to check what a client sends).
``/set-cookie?name=N&value=V[&next=U]``
    ``Set-Cookie: N=V; Path=/`` (defaults ``session`` and ``1``) with a 200, or with a
    302 to ``U`` when ``next`` is given (a login that redirects).
``/needs-cookie?name=N&value=V``
    200 when the request carries the cookie ``N=V`` (same defaults), else 403.
``/basic-auth?user=U&password=P`` (or ``&password_sha256=H``)
    200 when the request carries HTTP Basic credentials ``U:P`` (defaults ``user`` and
    ``password``; with ``password_sha256``, a password whose SHA-256 hex digest is
    ``H``, so the password need not be in the URL), else 401 with
    ``WWW-Authenticate: Basic realm="threadloom"``.
``/capacity/{c}/{name}[?base=MS&retry_after=S]``
    A part of the server that answers ``c`` requests at a time: up to ``c`` in flight,
    each is answered after ``MS`` ms (default 20); each request over ``c`` adds ``MS``
    ms to those that arrive while it is in flight; over ``2c`` a request gets ``503``
    with ``Retry-After: S`` (default 1) at once. Counted per ``name``
    (``FaultServer.capacity``: the in-flight count each request found, the 503s sent).

``/robots.txt``
    A 404 (no route) unless a test sets one: ``FaultServer.serve(path, body, ...)``
    answers an exact path with a fixed reply (a robots.txt, a redirect, a 503), before
    the routes above, for ever or for the next N requests. ``log_requests=True`` keeps
    every request (``request_log()``: time, Host, target, headers), so a test can assert
    that a URL was never requested, or when each request came.

``ForwardProxy`` and ``Socks5Proxy`` are minimal proxies on 127.0.0.1 that relay
requests to any origin and count what they relayed (tests of ``--proxy``).

``python -m threadloom.server --port P --documents N`` runs it in the foreground.
"""

from threadloom.server._capacity import CapacityRoutes
from threadloom.server._documents import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    MAX_DOCUMENT_SIZE,
    MIN_DOCUMENT_SIZE,
    document,
    document_latency,
    document_size,
    filler,
)
from threadloom.server._proxy import ForwardProxy, Socks5Proxy
from threadloom.server._server import FaultServer, LoggedRequest
from threadloom.server._stats import ServerStatistics

__all__ = [
    "BILLION_LAUGHS",
    "EXTERNAL_ENTITY",
    "MAX_DOCUMENT_SIZE",
    "MIN_DOCUMENT_SIZE",
    "CapacityRoutes",
    "FaultServer",
    "ForwardProxy",
    "LoggedRequest",
    "ServerStatistics",
    "Socks5Proxy",
    "document",
    "document_latency",
    "document_size",
    "filler",
]
