"""``fetch --robots``: robots.txt read once per origin per run, obeyed, Crawl-delay kept.

A pipeline stage before the fetch stage (:meth:`RobotsGate.stage`) lets a URL through
once its origin's robots.txt allows it, and fails it with the reason
:data:`DISALLOWED` otherwise, so it is never requested. Parsing is Protego's (Scrapy's
parser: RFC 9309 groups, longest-match Allow/Disallow, ``*`` and ``$``, Crawl-delay).

How robots.txt is fetched, and what each outcome means (RFC 9309 section 2.3, as
Google's crawler reads it):

- Once per origin (scheme, host, port) per run, with the run's own client: the same
  User-Agent, ``-H`` headers, proxy, cookies, TLS settings and time limits, in the same
  connection pool (the host's first document reuses the connection). A resumed run
  reads it again: rules are never kept in the store.
- Under the host's limits: the stage takes one URL per host at a time (``key_limit``
  1), so while a host's robots.txt is fetched no URL of that host is let through (an
  http and an https robots.txt of one host are fetched one after the other), and
  the host's first document starts no sooner than one request interval (``--rate``
  or Crawl-delay, the stricter) after the robots.txt request started.
- 2xx: the first :data:`PARSE_LIMIT` bytes are parsed (RFC 9309 asks for at least 500
  KiB; the rest is ignored, as Google does), cut at the last line break within them.
- 4xx other than 408 and 429, a final 3xx, or redirects that cannot be followed (more
  than ``--max-redirects``, default 10, which is above RFC 9309's five; a non-http
  target): "unavailable", every URL of the origin is allowed.
- 5xx, 408, 429, connection failures and timeouts: "unreachable". They are retried
  as documents are (``--retries``, the same backoff, Retry-After honoured); if the last
  attempt fails too, every URL of the origin is disallowed for this run (RFC 9309
  2.3.1.4: complete disallow), with the reason ``disallowed by robots.txt
  (unreachable: <why>)``. A robots.txt larger than ``--max-size``, a certificate that
  fails verification or an attempt cut by ``--max-time`` is unreachable at once (another
  attempt would fail alike).

Groups are matched against the product token of the User-Agent in use (``-A``, or an
``-H 'User-Agent: ...'`` that replaces it): its leading name, ``mybot`` of ``mybot/1.0
(+https://example.org/bot)``, as RFC 9309 2.2.1 and Google's parser do; a User-Agent
without one (``-A ''``) matches the ``*`` group only. Protego picks the group, case
insensitively: the longest group name the token starts with (so ``User-agent: mybot``
also applies to ``mybotany``, where RFC 9309 would compare whole names), else ``*``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from threadloom.core import LeanFuture, Pool, Retry, Stage
from threadloom.transport import (
    HttpClient,
    HttpStatusError,
    RedirectRefused,
    Response,
    TransportError,
)

if TYPE_CHECKING:
    from protego import Protego

_log = logging.getLogger("threadloom.jobs")

DISALLOWED: Final = "disallowed by robots.txt"
"""The reason of a URL that robots.txt disallows (it is recorded failed, never fetched)."""

PARSE_LIMIT: Final = 512 * 1024
"""Bytes of a robots.txt that are parsed: RFC 9309 2.5 asks crawlers to parse at least
500 KiB; Google stops at 500 KiB. Larger files are cut at a line break below this."""

_LONGEST_DELAY: Final = 86_400.0

_PRODUCT_TOKEN = re.compile(r"[A-Za-z_-]+")


class RobotsDisallowed(TransportError):
    """A URL refused by its origin's robots.txt (never requested): ``reason`` is
    :data:`DISALLOWED`, or says why robots.txt could not be read. Not retryable."""


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against: the User-Agent's leading run of
    letters, ``_`` and ``-`` (``mybot`` of ``mybot/1.0 (+https://...)``); "" if none."""
    match = _PRODUCT_TOKEN.match(user_agent.strip())
    return match.group(0) if match is not None else ""


def user_agent_in_use(user_agent: str, headers: tuple[str, ...]) -> str:
    """The User-Agent requests carry: the last ``-H 'User-Agent: ...'`` line if any
    (``-H`` replaces what ``-A`` sets; ``'User-Agent:'`` and ``'User-Agent;'`` send
    none or an empty one), else ``user_agent``."""
    for line in reversed(headers):
        name, separator, value = line.partition(":")
        if not separator:
            name, separator, value = line.partition(";")
        if separator and name.strip().lower() == "user-agent":
            return value.strip()
    return user_agent


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """What one origin's robots.txt says for this run.

    parser: the parsed file, None when there is none to obey (unavailable: everything
    allowed). refusal: set when robots.txt was unreachable, the reason every URL of the
    origin is refused with. crawl_delay: the matching group's Crawl-delay in seconds.
    """

    parser: Protego | None = None
    refusal: str | None = None
    crawl_delay: float | None = None

    def refusal_for(self, url: str, token: str) -> str | None:
        """None if ``url`` may be fetched by ``token``, else the reason it may not."""
        if self.refusal is not None:
            return self.refusal
        if self.parser is None or self.parser.can_fetch(url, token):
            return None
        return DISALLOWED


def parse_robots(body: bytes, token: str) -> RobotsRules:
    """Rules from a robots.txt body (the first :data:`PARSE_LIMIT` bytes of it)."""
    # Imported here: a run without --robots does not pay for it (~5 ms of start-up).
    from protego import Protego  # noqa: PLC0415

    if len(body) > PARSE_LIMIT:
        cut = body.rfind(b"\n", 0, PARSE_LIMIT)
        body = body[: cut + 1 if cut >= 0 else PARSE_LIMIT]
    text = body.decode("utf-8", "replace").removeprefix("\ufeff")
    parser = Protego.parse(text)
    return RobotsRules(parser=parser, crawl_delay=parser.crawl_delay(token))


def robots_url(url: str) -> str:
    """The robots.txt URL of ``url``'s origin (no user info: such URLs are invalid)."""
    split = urlsplit(url)
    return f"{split.scheme.lower()}://{split.netloc.lower()}/robots.txt"


class _Origin:
    """One robots.txt, fetched for the run: its URL, the host key its rate applies
    to, the attempts so far, when the last one started, and the rules once known."""

    __slots__ = ("attempts", "key", "rules", "started", "url")

    def __init__(self, url: str, key: Hashable) -> None:
        self.url = url
        self.key = key
        self.attempts = 0
        self.started = 0.0
        self.rules: LeanFuture[RobotsRules] = LeanFuture()


class RobotsGate:
    """Lets URLs through as their origin's robots.txt allows; one per run.

    ``client`` is the run's HTTP client; ``user_agent`` the User-Agent in use (see
    :func:`user_agent_in_use`). Build the stage with :meth:`stage`, start the pipeline,
    then :meth:`attach` its pools before the first item is read.
    """

    def __init__(self, client: HttpClient, user_agent: str) -> None:
        self._client = client
        self._token = product_token(user_agent)
        self._lock = threading.Lock()
        self._origins: dict[str, _Origin] = {}
        self._rates: dict[Hashable, float] = {}  # per host key, the rate set so far
        self._url: Callable[[Any], str] = str
        self._key: Callable[[Any], Hashable] = str
        self._rate: float | None = None
        self._retry = Retry(attempts=1)
        self._timers: Pool | None = None
        self._fetch_pool: Pool | None = None

    def stage(self, fetch: Stage, url: Callable[[Any], str]) -> Stage:
        """The robots stage to run before ``fetch``, with its key (the host), rate,
        retry policy, error policy, sizes and labels; ``url(item)`` is the item's URL."""
        if fetch.key is None:
            raise ValueError("the fetch stage needs a key (the host)")
        self._url, self._key = url, fetch.key
        self._rate = fetch.key_rate
        self._retry = fetch.retry or self._retry
        return replace(
            fetch,
            fn=self._check,
            workers=1,
            # One URL of a host at a time: while its robots.txt is fetched the others
            # wait parked (counted in max_waiting, not holding the stage's room); once
            # known, each passes at once.
            key_limit=1,
            key_rate=None,
            retry=None,
            name="robots",
        )

    def attach(self, timers: Pool, fetch_pool: Pool) -> None:
        """Give the gate the robots stage's pool (it parses and schedules retries on
        it) and the fetch stage's (whose per-host rate Crawl-delay sets)."""
        self._timers, self._fetch_pool = timers, fetch_pool

    def _check(self, item: Any) -> Future[Any]:
        """The stage's function: the item, or RobotsDisallowed, once the rules are known."""
        url = self._url(item)
        target = robots_url(url)
        with self._lock:
            origin = self._origins.get(target)
            fresh = origin is None
            if origin is None:
                origin = self._origins[target] = _Origin(target, self._key(item))
        if fresh:
            self._attempt(origin)
        decided: LeanFuture[Any] = LeanFuture()
        origin.rules.add_done_callback(lambda rules: self._decide(decided, item, url, rules))
        return decided

    def _decide(
        self, decided: Future[Any], item: Any, url: str, rules: Future[RobotsRules]
    ) -> None:
        if not decided.set_running_or_notify_cancel():
            return  # the run stopped (its pool cancelled the waiting item)
        refusal = rules.result().refusal_for(url, self._token)
        if refusal is None:
            decided.set_result(item)
        else:
            decided.set_exception(RobotsDisallowed(url, refusal, retryable=False))

    def _attempt(self, origin: _Origin) -> None:
        origin.attempts += 1
        origin.started = time.monotonic()
        try:
            request = self._client.submit(origin.url)
        except RuntimeError as exc:  # the client closed: the run is ending
            origin.rules.set_result(RobotsRules(refusal=f"{DISALLOWED} (unreachable: {exc})"))
            return
        request.add_done_callback(lambda done: self._hand_over(origin, done))

    def _hand_over(self, origin: _Origin, done: Future[Response]) -> None:
        # On the transfer thread, as the transfer ends: when it really started (a busy
        # transfer thread may start it well after submit), for the host's first interval.
        if done.exception() is None:
            origin.started = max(origin.started, time.monotonic() - done.result().elapsed)
        # Parsing (up to 512 KiB) here would hold up every transfer: the robots pool does.
        assert self._timers is not None
        # RuntimeError: the pool is shut down, the run is ending, its items are cancelled.
        with contextlib.suppress(RuntimeError):
            self._timers.submit(self._settle, origin, done)

    def _settle(self, origin: _Origin, done: Future[Response]) -> None:
        """Turn a robots.txt attempt into rules, or retry it (on the robots pool)."""
        assert self._timers is not None
        try:
            rules = self._rules(origin, done)
        except TransportError as exc:
            if self._retry.should_retry(exc, origin.attempts):
                delay = self._retry.delay(exc, origin.attempts)
                with contextlib.suppress(RuntimeError):  # shut down: the run is ending
                    self._timers.after(delay, self._attempt, origin)
                return
            rules = RobotsRules(refusal=f"{DISALLOWED} (unreachable: {exc.reason})")
        except Exception as exc:
            # The client closed or cancelled the request (the run is ending): the host's
            # URLs must not wait for rules that never come.
            rules = RobotsRules(refusal=f"{DISALLOWED} (unreachable: {exc!r})")
        self._publish(origin, rules)

    def _rules(self, origin: _Origin, done: Future[Response]) -> RobotsRules:
        """The rules an attempt's outcome gives; raises the TransportError of an
        unreachable robots.txt."""
        try:
            response = done.result()
        except HttpStatusError as exc:
            if exc.retryable:  # 408, 429, 5xx
                raise
            return RobotsRules()  # 4xx: unavailable
        except RedirectRefused:
            return RobotsRules()  # redirects that cannot be followed: unavailable
        if not 200 <= response.status < 300:
            return RobotsRules()  # a final 3xx (no Location to follow): unavailable
        try:
            return parse_robots(response.body, self._token)
        except Exception as exc:  # Protego takes any text; a failure here is its bug
            _log.warning("%s not parsed (%s): nothing disallowed", origin.url, exc)
            return RobotsRules()

    def _publish(self, origin: _Origin, rules: RobotsRules) -> None:
        """Set the host's rate from Crawl-delay, then release its URLs one interval
        after the robots.txt request started."""
        assert self._timers is not None
        assert self._fetch_pool is not None
        rate = self._rate
        delay = rules.crawl_delay
        if delay is not None and delay > 0:
            # At most a day apart, as --rate (slower overflows the scheduler's wait).
            asked = 1 / min(delay, _LONGEST_DELAY)
            rate = asked if rate is None else min(rate, asked)
        if rate is not None and rate != self._rate:
            with self._lock:
                stricter = rate < self._rates.get(origin.key, math.inf)
                if stricter:
                    self._rates[origin.key] = rate
            if stricter:
                self._fetch_pool.set_key_rate(origin.key, rate)
        wait = 0.0 if rate is None else origin.started + 1 / rate - time.monotonic()
        if wait > 0:
            with contextlib.suppress(RuntimeError):  # shut down: the run is ending
                self._timers.after(wait, origin.rules.set_result, rules)
        else:
            origin.rules.set_result(rules)
