"""The fault server's routes (see the ``threadloom.server`` docstring for the list).

Routes that build their whole answer in memory return a ``Reply`` (so ``/gzip/`` can
wrap them); streaming routes write to the exchange themselves.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from threadloom.server._capacity import CAPACITY_PATH, CapacityRoutes
from threadloom.server._documents import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    document,
    document_latency,
    filler,
)
from threadloom.server._exchange import BadRequest, Exchange, Reply, text_reply
from threadloom.server._versioned import Versions

_XML = "application/xml"
_BINARY = "application/octet-stream"
_CHUNK = 64 * 1024
# /bytes and /gzip/bytes build their body in memory; /huge streams without a cap.
_MAX_IN_MEMORY = 64 * 1024 * 1024

_DOC_PATH = re.compile(r"/docs/(\d+)\.xml")
_STATUS_PATH = re.compile(r"/status/(\d+)")
_FLAKY_PATH = re.compile(r"/flaky/([^/]+)")
_REDIRECT_PATH = re.compile(r"/redirect/(\d+)")
_VERSIONED_PATH = re.compile(r"/versioned/([^/]+)")


@dataclass(slots=True)
class _Served:
    """A reply given by ``FaultServer.serve``: ``left`` more times (None: for ever)."""

    reply: Reply
    left: int | None


class Routes:
    """Route dispatch plus the state routes share (flaky counters, documents)."""

    def __init__(self, *, documents: int, seed: int, latency: float) -> None:
        self.documents = documents
        self.seed = seed
        self.latency = latency
        self._flaky_lock = threading.Lock()
        self._flaky_seen: dict[str, int] = {}
        self.capacity = CapacityRoutes()
        self.versions = Versions()
        # serve(): per exact path, the replies to give in turn.
        self._static_lock = threading.Lock()
        self._static: dict[str, deque[_Served]] = {}
        self._streaming: dict[str, Callable[[Exchange], None]] = {
            "/reset": self._reset,
            "/truncate": self._truncate,
            "/drip": self._drip,
            "/stall": self._stall,
            "/huge": self._huge,
            "/endless-headers": self._endless_headers,
            "/continue-stall": self._continue_stall,
        }

    def serve(self, path: str, reply: Reply, times: int | None) -> None:
        """Answer ``path`` with ``reply`` (see ``FaultServer.serve``)."""
        with self._static_lock:
            replies = self._static.setdefault(path, deque())
            if replies and replies[-1].left is None:
                replies.pop()  # a reply for ever is replaced, not queued behind
            replies.append(_Served(reply, times))

    def _static_reply(self, path: str) -> Reply | None:
        with self._static_lock:
            replies = self._static.get(path)
            if not replies:
                return None
            served = replies[0]
            if served.left is not None:
                served.left -= 1
                if served.left <= 0:
                    replies.popleft()
            return served.reply

    def handle(self, ex: Exchange) -> None:
        """Answer one exchange; invalid parameters get a 400 naming the parameter."""
        try:
            self._dispatch(ex)
        except BadRequest as exc:
            ex.send(text_reply(400, str(exc)))

    def _dispatch(self, ex: Exchange) -> None:
        path = ex.path
        static = self._static_reply(path) if self._static else None
        if static is not None:
            ex.send(static)
            return
        if path.startswith("/gzip/"):
            inner = self._in_memory(path[len("/gzip") :], ex)
            if inner is None:
                raise BadRequest(f"/gzip/ cannot wrap {path[len('/gzip') :]}")
            ex.send(_gzip(inner, ex.header("accept-encoding")))
            return
        reply = self._in_memory(path, ex)
        if reply is not None:
            ex.send(reply)
            return
        streaming = self._streaming.get(path)
        if streaming is None:
            ex.send(text_reply(404, f"no route for {path}"))
            return
        streaming(ex)

    # -- routes answered with a Reply ------------------------------------------------

    def _in_memory(self, path: str, ex: Exchange) -> Reply | None:
        if match := _DOC_PATH.fullmatch(path):
            return self._document(int(match.group(1)), ex)
        if match := _STATUS_PATH.fullmatch(path):
            return _status(int(match.group(1)), ex)
        if match := _FLAKY_PATH.fullmatch(path):
            return self._flaky(match.group(1), ex)
        if match := _REDIRECT_PATH.fullmatch(path):
            return self._redirect_chain(int(match.group(1)), ex)
        if match := CAPACITY_PATH.fullmatch(path):
            return self.capacity.answer(int(match.group(1)), match.group(2), ex)
        if match := _VERSIONED_PATH.fullmatch(path):
            return self.versions.reply(match.group(1), ex)
        simple: dict[str, Callable[[Exchange], Reply]] = {
            "/redirect-loop": lambda _: _redirect(302, "/redirect-loop"),
            "/redirect-to": _redirect_to,
            "/hops": _hops,
            "/bomb.xml": lambda _: Reply(200, BILLION_LAUGHS, content_type=_XML),
            "/xxe.xml": lambda _: Reply(200, EXTERNAL_ENTITY, content_type=_XML),
            "/delay": _delay,
            "/bytes": _bytes,
            "/headers": _headers,
            "/set-cookie": _set_cookie,
            "/needs-cookie": _needs_cookie,
            "/basic-auth": _basic_auth,
        }
        route = simple.get(path)
        return route(ex) if route is not None else None

    def _document(self, n: int, ex: Exchange) -> Reply:
        if n >= self.documents:
            return text_reply(404, f"document {n} does not exist (0..{self.documents - 1})")
        ex.stopping.wait(document_latency(n, self.seed, self.latency))
        return Reply(200, document(n, self.seed), content_type=_XML)

    def _flaky(self, key: str, ex: Exchange) -> Reply:
        fail = ex.int_param("fail", 1)
        code = ex.int_param("code", 503, minimum=400, maximum=599)
        with self._flaky_lock:
            seen = self._flaky_seen.get(key, 0)
            self._flaky_seen[key] = seen + 1
        if seen < fail:
            return _with_retry_after(
                text_reply(code, f"flaky {key}: failure {seen + 1} of {fail}"), ex
            )
        return text_reply(200, f"flaky {key}: ok after {fail} failures")

    def _redirect_chain(self, n: int, ex: Exchange) -> Reply:
        doc = ex.int_param("doc", 0, maximum=max(0, self.documents - 1))
        if n == 0:
            return self._document(doc, ex)
        target = f"/redirect/{n - 1}?doc={doc}" if n > 1 else f"/docs/{doc}.xml"
        return _redirect(302, target)

    # -- streaming routes ------------------------------------------------------------

    @staticmethod
    def _reset(ex: Exchange) -> None:
        ex.reset_after()

    @staticmethod
    def _truncate(ex: Exchange) -> None:
        size = ex.int_param("size", 1000, minimum=1)
        send = ex.int_param("send", size // 2, maximum=size - 1)
        ex.close_after()
        ex.send_head(200, (), content_length=size, content_type=_BINARY)
        ex.write(filler(send))

    @staticmethod
    def _drip(ex: Exchange) -> None:
        size = ex.int_param("size", 1000)
        rate = ex.int_param("rate", 100, minimum=1)
        chunked = ex.param("chunked") not in (None, "", "0")
        # Ten writes a second (or one byte per write when slower than 10 B/s).
        chunk = max(1, rate // 10)
        interval = chunk / rate
        if chunked:
            framing = [("Content-Type", _BINARY), ("Transfer-Encoding", "chunked")]
            ex.send_head(200, framing, content_length=None)
        else:
            ex.send_head(200, (), content_length=size, content_type=_BINARY)
        sent = 0
        while sent < size:
            if sent and ex.stopping.wait(interval):
                ex.close_after()
                return
            piece = filler(min(chunk, size - sent), sent)
            ex.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked:
            ex.write(b"0\r\n\r\n")

    @staticmethod
    def _endless_headers(ex: Exchange) -> None:
        every = ex.int_param("every", 100)
        ex.close_after()
        ex.send_raw(b"HTTP/1.1 200 OK\r\nServer: threadloom-faultserver\r\n")
        line = 0
        # Until the client leaves (the write fails) or the server stops; never the blank
        # line that would end the head.
        while not ex.stopping.is_set():
            ex.send_raw(b"X-Endless-%d: %s\r\n" % (line, b"h" * 64))
            line += 1
            if every:
                ex.stopping.wait(every / 1000)

    @staticmethod
    def _continue_stall(ex: Exchange) -> None:
        ex.close_after()
        ex.send_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
        if ex.wait_for_client_close():
            ex.stats.client_aborted()

    @staticmethod
    def _stall(ex: Exchange) -> None:
        after = ex.int_param("after", 0)
        size = ex.int_param("size", after + 1024, minimum=after + 1)
        ex.close_after()
        ex.send_head(200, (), content_length=size, content_type=_BINARY)
        if after:
            ex.write(filler(after))
        if ex.wait_for_client_close():
            ex.stats.client_aborted()

    @staticmethod
    def _huge(ex: Exchange) -> None:
        size = ex.int_param("size", 100 * 1024 * 1024)
        chunked = ex.param("chunked") not in (None, "", "0")
        if chunked:
            framing = [("Content-Type", _BINARY), ("Transfer-Encoding", "chunked")]
            ex.send_head(200, framing, content_length=None)
        else:
            ex.send_head(200, (), content_length=size, content_type=_BINARY)
        sent = 0
        while sent < size:
            if ex.stopping.is_set():
                ex.close_after()
                return
            piece = filler(min(_CHUNK, size - sent), sent)
            ex.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked:
            ex.write(b"0\r\n\r\n")


def _status(code: int, ex: Exchange) -> Reply:
    if not 200 <= code <= 599:
        raise BadRequest(f"status {code} is not in 200..599")
    return _with_retry_after(text_reply(code, f"status {code}"), ex)


def _with_retry_after(reply: Reply, ex: Exchange) -> Reply:
    # Sent verbatim, so tests can exercise both forms (seconds and HTTP-date) and junk.
    retry_after = ex.param("retry_after")
    if retry_after is None:
        return reply
    return Reply(reply.status, reply.body, (*reply.headers, ("Retry-After", retry_after)))


def _redirect(code: int, location: str) -> Reply:
    return text_reply(code, f"see {location}", ("Location", location))


def _redirect_to(ex: Exchange) -> Reply:
    url = ex.param("url")
    if url is None:
        raise BadRequest("/redirect-to needs ?url=")
    code = ex.int_param("code", 302, minimum=300, maximum=399)
    return _redirect(code, url)


def _hops(ex: Exchange) -> Reply:
    hosts = (ex.param("hosts") or "127.0.0.1,localhost").split(",")
    hop = ex.int_param("n", 0)
    ms = ex.int_param("ms", 0)
    # The port this request came to, from its Host header: the server does not know
    # which of its names the client used, and every hop must reach it again.
    port = ex.header("host").rpartition(":")[2]
    if not port.isdigit():
        raise BadRequest("/hops needs a Host header with a port")
    ex.stopping.wait(ms / 1000)
    host = hosts[(hop + 1) % len(hosts)]
    query = urlencode({"n": hop + 1, "hosts": ",".join(hosts), "ms": ms})
    return _redirect(302, f"http://{host}:{port}/hops?{query}")


def _delay(ex: Exchange) -> Reply:
    ms = ex.int_param("ms", 100)
    ex.stopping.wait(ms / 1000)
    return text_reply(200, f"delayed {ms} ms")


def _bytes(ex: Exchange) -> Reply:
    size = ex.int_param("size", 1024, maximum=_MAX_IN_MEMORY)
    return Reply(200, filler(size), content_type=_BINARY)


def _headers(ex: Exchange) -> Reply:
    lines = "".join(f"{name}: {value}\n" for name, value in ex.request_headers)
    return Reply(200, lines.encode("utf-8", "replace"))


def _set_cookie(ex: Exchange) -> Reply:
    name = ex.param("name") or "session"
    value = ex.param("value") or "1"
    cookie = ("Set-Cookie", f"{name}={value}; Path=/")
    target = ex.param("next")
    if target is not None:
        return text_reply(302, f"cookie {name} set; see {target}", cookie, ("Location", target))
    return text_reply(200, f"cookie {name} set", cookie)


def _needs_cookie(ex: Exchange) -> Reply:
    name = ex.param("name") or "session"
    value = ex.param("value") or "1"
    sent = {}
    for pair in ex.header("cookie").split(";"):
        key, _, got = pair.strip().partition("=")
        sent[key] = got
    if sent.get(name) == value:
        return text_reply(200, f"cookie {name} ok")
    return text_reply(403, f"cookie {name}={value} missing")


def _basic_auth(ex: Exchange) -> Reply:
    user = ex.param("user") or "user"
    # password_sha256 lets a test keep the password itself out of the URL.
    digest = ex.param("password_sha256")
    if digest is None:
        digest = hashlib.sha256((ex.param("password") or "password").encode()).hexdigest()
    scheme, _, token = ex.header("authorization").partition(" ")
    try:
        given_user, _, given_password = (
            base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        given_user = given_password = ""
    given_digest = hashlib.sha256(given_password.encode()).hexdigest()
    if scheme.lower() == "basic" and given_user == user and given_digest == digest:
        return text_reply(200, f"welcome {user}")
    challenge = ("WWW-Authenticate", 'Basic realm="threadloom"')
    return text_reply(401, "credentials required", challenge)


def _gzip(reply: Reply, accept_encoding: str) -> Reply:
    headers = (*reply.headers, ("Vary", "Accept-Encoding"))
    if not _accepts_gzip(accept_encoding):
        return Reply(reply.status, reply.body, headers, reply.content_type)
    # mtime=0: the same body always compresses to the same bytes.
    body = gzip.compress(reply.body, compresslevel=6, mtime=0)
    return Reply(reply.status, body, (*headers, ("Content-Encoding", "gzip")), reply.content_type)


def _accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            if not q.startswith("q="):
                return True
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
    return False
