"""What every request carries and how it travels: headers, User-Agent, proxies (given
and from the environment), cookies shared by all handles, netrc credentials, the
redirect limit, and no password in any URL or reason the transport hands back.

Each runs with both ways of making a request (``client_class``: a blocking ``get`` per
thread, or ``submit`` through the CurlMulti driver), whose handles are made and reused
differently."""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

from threadloom import __version__
from threadloom.server import FaultServer, ForwardProxy, Socks5Proxy
from threadloom.transport import (
    DEFAULT_USER_AGENT,
    ConnectError,
    HttpClient,
    HttpStatusError,
    RedirectRefused,
    TransportError,
    TransportOptions,
    check_cookie_file,
    check_header,
    check_proxy,
)

FAST = TransportOptions(connect_timeout=2, low_speed_time=2)


def sent_headers(client: HttpClient, server: FaultServer) -> dict[str, str]:
    body = client.get(server.url("/headers")).body.decode()
    return dict(
        line.split(": ", 1) if ": " in line else (line[:-1], "") for line in body.splitlines()
    )


def make(client_class: type[HttpClient], **changes: object) -> HttpClient:
    return client_class(TransportOptions(**{**_fields(FAST), **changes}))  # type: ignore[arg-type]


def _fields(options: TransportOptions) -> dict[str, object]:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}


# -- headers and User-Agent -------------------------------------------------------------


def test_default_user_agent_names_threadloom_its_version_and_a_url(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    assert (
        f"threadloom/{__version__} (+https://github.com/threadloom/threadloom)"
        == DEFAULT_USER_AGENT
    )
    with make(client_class) as client:
        assert sent_headers(client, server)["User-Agent"] == DEFAULT_USER_AGENT


def test_headers_are_added_replace_defaults_and_remove_them(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    headers = ("X-Crawl: batch 7", "Accept: application/xml", "Accept-Encoding:", "X-Empty;")
    with make(
        client_class, headers=headers, user_agent="mybot/1.0 (+mailto:bot@example.org)"
    ) as client:
        for _ in range(2):  # a reused handle keeps them
            sent = sent_headers(client, server)
            assert sent["X-Crawl"] == "batch 7"
            assert sent["Accept"] == "application/xml"
            assert "Accept-Encoding" not in sent
            assert sent["X-Empty"] == ""
            assert sent["User-Agent"] == "mybot/1.0 (+mailto:bot@example.org)"


def test_an_empty_user_agent_sends_none(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    with make(client_class, user_agent="") as client:
        assert "User-Agent" not in sent_headers(client, server)


def test_a_header_user_agent_wins_over_the_option(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    with make(client_class, headers=("User-Agent: from-header",)) as client:
        assert sent_headers(client, server)["User-Agent"] == "from-header"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Authorization Bearer s3cret", "header starting 'Authorization' has no ':'"),
        ("X Y: 1", "header name 'X Y' is not a valid field name"),
        (": value", "header name '' is not a valid field name"),
        ("X-Bad: a\r\nInjected: 1", "header 'X-Bad' has a line break or NUL in its value"),
        ("", "a header of 0 characters has no ':'"),
        ("X-Api-Key=s3cret", "header starting 'X-Api-Key' has no ':'"),
        ("s3cret", "a header of 6 characters has no ':'"),  # a token pasted alone
    ],
)
def test_a_malformed_header_is_refused_naming_it_without_its_value(line: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)) as caught:
        check_header(line)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ValueError):
        TransportOptions(headers=(line,))


# -- proxies -------------------------------------------------------------------------------


def test_requests_go_through_the_given_proxy(
    server: FaultServer, proxy: ForwardProxy, client_class: type[HttpClient]
) -> None:
    with make(client_class, proxy=proxy.url) as client:
        assert client.get(server.url("/docs/1.xml")).status == 200
        assert client.get(server.url("/docs/2.xml")).status == 200
    assert proxy.relayed == [server.url("/docs/1.xml"), server.url("/docs/2.xml")]


def test_proxy_environment_variables_are_honoured(
    server: FaultServer,
    proxy: ForwardProxy,
    client_class: type[HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url)
    with make(client_class) as client:
        client.get(server.url("/docs/1.xml"))
    assert proxy.relayed == [server.url("/docs/1.xml")]
    # no_proxy sends matching hosts around it.
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with make(client_class) as client:
        client.get(server.url("/docs/2.xml"))
    assert len(proxy.relayed) == 1


def test_upper_case_http_proxy_is_ignored_as_curl_does(
    server: FaultServer,
    proxy: ForwardProxy,
    client_class: type[HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # libcurl ignores HTTP_PROXY (a CGI program's environment holds the request's
    # "Proxy:" header there: the "httpoxy" hole); ALL_PROXY is read.
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with make(client_class) as client:
        client.get(server.url("/docs/1.xml"))
    assert proxy.relayed == []
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    with make(client_class) as client:
        client.get(server.url("/docs/1.xml"))
    assert len(proxy.relayed) == 1


def test_no_proxy_environment_applies_to_a_given_proxy_and_noproxy_overrides_it(
    server: FaultServer,
    proxy: ForwardProxy,
    client_class: type[HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with make(client_class, proxy=proxy.url) as client:
        client.get(server.url("/docs/1.xml"))
    assert proxy.relayed == []
    with make(client_class, proxy=proxy.url, noproxy="") as client:
        client.get(server.url("/docs/1.xml"))
    assert len(proxy.relayed) == 1
    monkeypatch.delenv("no_proxy")
    with make(client_class, proxy=proxy.url, noproxy="localhost,127.0.0.0/8") as client:
        client.get(server.url("/docs/1.xml"))
    assert len(proxy.relayed) == 1


def test_an_empty_proxy_ignores_the_environment(
    server: FaultServer,
    proxy: ForwardProxy,
    client_class: type[HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url)
    with make(client_class, proxy="") as client:
        client.get(server.url("/docs/1.xml"))
    assert proxy.relayed == []


def test_socks5_resolves_locally_and_socks5h_lets_the_proxy_resolve(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    # (libcurl resolves "localhost" to ::1 first, where the server does not listen,
    # hence 127.0.0.1 for socks5.)
    with Socks5Proxy() as socks:
        with make(client_class, proxy=socks.url) as client:
            assert client.get(server.url("/docs/1.xml")).status == 200
        named = server.url("/docs/1.xml").replace("127.0.0.1", "localhost")
        with make(client_class, proxy=socks.url.replace("socks5:", "socks5h:")) as client:
            assert client.get(named).status == 200
        assert socks.relayed == [f"127.0.0.1:{server.port}", f"localhost:{server.port}"]


def test_proxy_credentials_are_sent_and_never_shown(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    with ForwardProxy(credentials=("pu", "proxy-s3cret")) as proxy:
        good = proxy.url.replace("http://", "http://pu:proxy-s3cret@")
        with make(client_class, proxy=good) as client:
            assert client.get(server.url("/docs/1.xml")).status == 200
        bad = proxy.url.replace("http://", "http://pu:wrong-s3cret@")
        with make(client_class, proxy=bad) as client, pytest.raises(HttpStatusError) as caught:
            client.get(server.url("/docs/1.xml"))
        assert caught.value.status == 407
        assert proxy.refused == 1
    # A proxy that cannot be reached: libcurl's message must not carry the password.
    closed = f"http://pu:proxy-s3cret@127.0.0.1:{_closed_port()}"
    with make(client_class, proxy=closed) as client, pytest.raises(ConnectError) as failed:
        client.get(server.url("/docs/1.xml"))
    assert "s3cret" not in failed.value.reason
    assert "s3cret" not in str(failed.value)


@pytest.mark.parametrize(
    ("proxy", "message"),
    [
        ("ftp://127.0.0.1:21", "unsupported scheme 'ftp'"),
        ("http://u:s3cret@127.0.0.1:99999", "proxy 'http://u:***@127.0.0.1:99999' has a bad port"),
        ("http://", "has no host"),
        ("http://a b", "has blanks or control characters"),
    ],
)
def test_an_unusable_proxy_is_refused_without_its_password(proxy: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        check_proxy(proxy)
    assert "s3cret" not in str(caught.value)


# -- cookies -------------------------------------------------------------------------------


def cookie_jar(tmp_path: Path, *cookies: tuple[str, str]) -> Path:
    """A Netscape cookie file, as curl -c writes it, for 127.0.0.1."""
    lines = ["# Netscape HTTP Cookie File"]
    lines += [f"127.0.0.1\tFALSE\t/\tFALSE\t0\t{name}\t{value}" for name, value in cookies]
    path = tmp_path / "cookies.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cookies_of_the_file_are_sent(
    server: FaultServer, client_class: type[HttpClient], tmp_path: Path
) -> None:
    jar = cookie_jar(tmp_path, ("session", "abc"))
    with make(client_class, cookie_file=str(jar)) as client:
        assert client.get(server.url("/needs-cookie?name=session&value=abc")).status == 200
    with make(client_class) as client, pytest.raises(HttpStatusError) as caught:
        client.get(server.url("/needs-cookie?name=session&value=abc"))
    assert caught.value.status == 403


def test_cookies_set_during_the_run_are_shared_by_every_handle_and_not_written(
    server: FaultServer, tmp_path: Path
) -> None:
    jar = cookie_jar(tmp_path, ("session", "old"))
    before = jar.read_bytes()
    options = TransportOptions(**{**_fields(FAST), "cookie_file": str(jar)})  # type: ignore[arg-type]
    with HttpClient(options, max_transfers=4) as client:
        # A server changes the cookie on the calling thread's handle...
        client.get(server.url("/set-cookie?name=session&value=new"))
        # ...and the driver's handles (several at once, so several handles) send it.
        futures = [
            client.submit(server.url("/needs-cookie?name=session&value=new")) for _ in range(4)
        ]
        assert [f.result(timeout=30).status for f in futures] == [200] * 4
        # A new handle on another thread does not reload the file's older value.
        statuses: list[int] = []
        thread = threading.Thread(
            target=lambda: statuses.append(
                client.get(server.url("/needs-cookie?name=session&value=new")).status
            )
        )
        thread.start()
        thread.join(30)
        assert statuses == [200]
        assert client.handle_count == 2
    assert jar.read_bytes() == before


def test_a_cookie_set_on_a_redirect_is_sent_to_its_target(
    server: FaultServer, client_class: type[HttpClient], tmp_path: Path
) -> None:
    jar = cookie_jar(tmp_path, ("other", "1"))
    target = quote("/needs-cookie?name=login&value=yes", safe="")
    with make(client_class, cookie_file=str(jar)) as client:
        response = client.get(server.url(f"/set-cookie?name=login&value=yes&next={target}"))
    assert response.status == 200
    assert response.redirects == 1


def test_an_unusable_cookie_file_is_refused_naming_it(tmp_path: Path) -> None:
    json_export = tmp_path / "cookies.json"
    json_export.write_text('[{"name": "session", "value": "abc"}]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"cookie file {json_export}: no cookie could be read"):
        check_cookie_file(str(json_export))
    with pytest.raises(ValueError, match="no cookie could be read"):
        HttpClient(TransportOptions(cookie_file=str(json_export)))
    with pytest.raises(ValueError, match=r"cookie file .*missing.txt: no such file"):
        check_cookie_file(str(tmp_path / "missing.txt"))
    only_comments = tmp_path / "empty.txt"
    only_comments.write_text("# Netscape HTTP Cookie File\n\n", encoding="utf-8")
    assert check_cookie_file(str(only_comments)) == 0
    assert check_cookie_file(str(cookie_jar(tmp_path, ("a", "1"), ("b", "2")))) == 2


# -- netrc -------------------------------------------------------------------------------


def test_netrc_credentials_are_sent_to_their_host_only(
    server: FaultServer, client_class: type[HttpClient], tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password n3trc-s3cret\n", encoding="utf-8")
    netrc.chmod(0o600)
    auth = server.url("/basic-auth?user=alice&password=n3trc-s3cret")
    with make(client_class, netrc_file=str(netrc)) as client:
        assert client.get(auth).status == 200
        # Another host (the same server by another name) gets no credentials, also
        # when a redirect leads there.
        elsewhere = server.url("/headers").replace("127.0.0.1", "localhost")
        response = client.get(server.url(f"/redirect-to?url={quote(elsewhere, safe='')}"))
        assert "Authorization" not in response.body.decode()
    with make(client_class) as client, pytest.raises(HttpStatusError) as caught:
        client.get(auth)
    assert caught.value.status == 401


# -- redirects and redaction ------------------------------------------------------------------


def test_max_redirects_limits_the_chain_and_its_reason_names_the_option(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    with make(client_class, max_redirects=2) as client:
        assert client.get(server.url("/redirect/2")).redirects == 2
        with pytest.raises(RedirectRefused) as caught:
            client.get(server.url("/redirect/3"))
    assert caught.value.reason == "too many redirects (more than --max-redirects 2)"
    with make(client_class, max_redirects=0) as client:
        assert client.get(server.url("/redirect/0")).status == 200
        with pytest.raises(RedirectRefused) as refused:
            client.get(server.url("/redirect/1"))
    assert refused.value.reason == "redirect not followed (--max-redirects 0)"


def test_a_password_in_a_redirect_target_is_not_in_the_final_url(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    target = server.url("/docs/1.xml").replace("http://", "http://bob:l0cation-s3cret@")
    with make(client_class) as client:
        response = client.get(server.url(f"/redirect-to?url={quote(target, safe='')}"))
    assert response.status == 200
    assert "s3cret" not in response.final_url


def test_reasons_never_carry_a_password(client_class: type[HttpClient]) -> None:
    url = f"http://u:url-s3cret@127.0.0.1:{_closed_port()}/x"
    with make(client_class) as client, pytest.raises(TransportError) as caught:
        client.get(url)
    assert "s3cret" not in caught.value.reason


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound then closed)."""

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_proxy_that_fails_is_named_in_the_reason(client_class: type[HttpClient]) -> None:
    closed = _closed_port()
    with (
        make(client_class, proxy=f"http://127.0.0.1:{closed}") as client,
        pytest.raises(ConnectError) as down,
    ):
        client.get(f"http://127.0.0.1:{closed}/x")
    assert down.value.reason == "connection to the proxy refused"
    with (
        Socks5Proxy() as socks,
        make(client_class, proxy=socks.url) as client,
        pytest.raises(ConnectError) as refused,
    ):
        client.get(f"http://127.0.0.1:{closed}/x")
    assert refused.value.reason.startswith("proxy failed: ")
    with make(client_class, proxy="") as client, pytest.raises(ConnectError) as direct:
        client.get(f"http://127.0.0.1:{closed}/x")
    assert direct.value.reason == "connection refused"


def test_an_authorization_or_cookie_header_is_not_sent_to_another_host_on_redirect(
    server: FaultServer, client_class: type[HttpClient]
) -> None:
    headers = ("Authorization: Bearer hdr-s3cret", "Cookie: session=abc", "X-Other: kept")
    elsewhere = server.url("/headers").replace("127.0.0.1", "localhost")
    with make(client_class, headers=headers) as client:
        same_host = sent_headers(client, server)
        redirected = client.get(server.url(f"/redirect-to?url={quote(elsewhere, safe='')}"))
    assert same_host["Authorization"] == "Bearer hdr-s3cret"
    sent = redirected.body.decode()
    assert "hdr-s3cret" not in sent
    assert "session=abc" not in sent
    assert "X-Other: kept" in sent


def test_non_ascii_text_and_file_names_are_taken(
    server: FaultServer, client_class: type[HttpClient], tmp_path: Path
) -> None:
    """pycurl refuses a str that is not ASCII: text goes as UTF-8, file names as the
    file system spells them."""
    folder = tmp_path / "données"
    folder.mkdir()
    jar = cookie_jar(folder, ("session", "abc"))
    netrc = folder / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password pw\n", encoding="utf-8")
    options = {
        "user_agent": "robot-é/1.0",
        "headers": ("X-Name: café",),
        "cookie_file": str(jar),
        "netrc_file": str(netrc),
        "noproxy": "exemple-é.fr",
    }
    with make(client_class, **options) as client:
        sent = sent_headers(client, server)
        assert client.get(server.url("/needs-cookie?name=session&value=abc")).status == 200
        assert client.get(server.url("/basic-auth?user=alice&password=pw")).status == 200
    # The server reads header bytes as latin-1, as http.server does.
    assert sent["User-Agent"] == "robot-é/1.0".encode().decode("latin-1")
    assert sent["X-Name"] == "café".encode().decode("latin-1")


def test_the_cookie_store_is_safe_for_many_threads_and_transfers_at_once(
    server: FaultServer, tmp_path: Path
) -> None:
    """pycurl locks the share: handles on eight threads, and the driver's, setting and
    sending cookies at once, each thread's cookie reaching all of them."""
    jar = cookie_jar(tmp_path, ("seed", "1"))
    options = TransportOptions(**{**_fields(FAST), "cookie_file": str(jar)})  # type: ignore[arg-type]
    statuses: list[int] = []
    start = threading.Barrier(8)
    with HttpClient(options, max_transfers=8) as client:

        def work(n: int) -> None:
            start.wait(timeout=30)
            for round_ in range(10):
                client.get(server.url(f"/set-cookie?name=t{n}&value={round_}"))
                response = client.get(server.url(f"/needs-cookie?name=t{n}&value={round_}"))
                statuses.append(response.status)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        futures = [client.submit(server.url("/needs-cookie?name=seed&value=1")) for _ in range(40)]
        for thread in threads:
            thread.join(60)
        assert [f.result(timeout=60).status for f in futures] == [200] * 40
        # Every thread's last cookie is in the one store the driver's handles use too.
        last = [client.submit(server.url(f"/needs-cookie?name=t{n}&value=9")) for n in range(8)]
        assert [f.result(timeout=60).status for f in last] == [200] * 8
    assert statuses == [200] * 80


def test_per_request_headers_replace_same_named_ones_for_that_request_only() -> None:
    with (
        FaultServer() as server,
        HttpClient(TransportOptions(headers=("X-A: 1", "X-B: 2")), max_transfers=1) as client,
    ):
        url = server.url("/headers")
        with_extra = client.submit(url, headers=["x-a: 9", 'If-None-Match: "t"']).result(10)
        plain = client.submit(url).result(10)  # the same handle: the extra ones are gone
        by_get = client.get(url, headers=["X-C: 3"])
    assert with_extra.body.decode().splitlines()[-3:] == ["X-B: 2", "x-a: 9", 'If-None-Match: "t"']
    assert plain.body.decode().splitlines()[-2:] == ["X-A: 1", "X-B: 2"]
    assert by_get.body.decode().splitlines()[-3:] == ["X-A: 1", "X-B: 2", "X-C: 3"]


def test_a_bad_per_request_header_is_refused_before_any_request() -> None:
    with HttpClient() as client, pytest.raises(ValueError, match="has no ':'"):
        client.submit("http://127.0.0.1:9/", headers=["no colon"])


def test_per_request_headers_leave_no_trace_without_base_headers() -> None:
    with FaultServer() as server, HttpClient(max_transfers=1) as client:
        url = server.url("/headers")
        conditional = client.submit(url, headers=['If-None-Match: "t"']).result(10)
        plain = client.submit(url).result(10)  # the same handle, HTTPHEADER unset again
    assert 'If-None-Match: "t"' in conditional.body.decode()
    assert "If-None-Match" not in plain.body.decode()
