"""``threadloom fetch`` request options end to end, through the command line, against
the project's own server on 127.0.0.1: -H/--header, -A/--user-agent, --proxy and the
proxy environment variables, --noproxy, --cookie, --netrc/--netrc-file,
--max-redirects; and no credential in anything a run writes or prints."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import trustme
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer, ForwardProxy, Socks5Proxy
from threadloom.store import open_store
from threadloom.transport import DEFAULT_USER_AGENT


def urls_file(tmp_path: Path, *urls: str) -> Path:
    path = tmp_path / "urls.txt"
    path.write_text("".join(f"{url}\n" for url in urls), encoding="utf-8")
    return path


def fetch(tmp_path: Path, *args: str, urls: Path, store: str = "out.db") -> tuple[int, str]:
    """Run ``threadloom fetch -q`` in-process; return its exit code and output."""
    result = CliRunner().invoke(
        main, ["fetch", "-q", "-o", str(tmp_path / store), *args, str(urls)]
    )
    return result.exit_code, result.output


def rows(store: Path) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(main, ["export", str(store)])
    assert result.exit_code == 0, result.output
    return {str(row["url"]): row for row in map(json.loads, result.output.splitlines())}


def body(store: Path, url: str) -> str:
    opened = open_store(str(store))
    try:
        data = opened.read_body(url)
    finally:
        opened.close()
    assert data is not None, url
    return data.decode()


def header_lines(text: str) -> dict[str, str]:
    pairs = (line.partition(":") for line in text.splitlines())
    return {name: value.strip() for name, _, value in pairs}


# -- -H and -A -------------------------------------------------------------------------------


def test_headers_and_user_agent(tmp_path: Path, server: FaultServer) -> None:
    url = server.url("/headers")
    urls = urls_file(tmp_path, url)
    code, output = fetch(tmp_path, urls=urls)
    assert code == 0, output
    assert header_lines(body(tmp_path / "out.db", url))["User-Agent"] == DEFAULT_USER_AGENT
    args = [
        "-H",
        "X-Crawl: batch 7",
        "--header",
        "Accept: application/xml",
        "-H",
        "Accept-Encoding:",
        "-A",
        "mybot/1.0 (+https://example.org/bot; bot@example.org)",
    ]
    code, output = fetch(tmp_path, *args, urls=urls, store="custom.db")
    assert code == 0, output
    sent = header_lines(body(tmp_path / "custom.db", url))
    assert sent["X-Crawl"] == "batch 7"
    assert sent["Accept"] == "application/xml"
    assert "Accept-Encoding" not in sent
    assert sent["User-Agent"] == "mybot/1.0 (+https://example.org/bot; bot@example.org)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-H", "Authorization Bearer tok-S3CRET"], "header starting 'Authorization' has no ':'"),
        (["--header", "Bad Name: 1"], "header name 'Bad Name' is not a valid field name"),
        (["--proxy", "ftp://127.0.0.1:21"], "unsupported scheme 'ftp'"),
        (
            ["--proxy", "http://u:tok-S3CRET@127.0.0.1:x"],
            "proxy 'http://u:***@127.0.0.1:x' has a bad port",
        ),
        (
            ["--proxy", "alice:tok-S3CRET@127.0.0.1:99999"],  # curl's form with no scheme
            "proxy 'alice:***@127.0.0.1:99999' has a bad port",
        ),
        (["-H", "X-Api-Key=tok-S3CRET"], "header starting 'X-Api-Key' has no ':'"),
        (["--max-redirects", "-1"], "-1 is not in the range x>=0"),
        (["-A", "bot\r\nX-Injected: 1"], "must be one line (no line break or NUL)"),
        (["--noproxy", "a\nb"], "must be one line (no line break or NUL)"),
        (["--netrc-file", "missing-netrc"], "'missing-netrc' does not exist"),
    ],
)
def test_unusable_request_options_are_usage_errors_naming_them(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, output = fetch(tmp_path, *args, urls=urls_file(tmp_path))
    assert code == 2, output
    assert message in output
    assert f"Invalid value for '{args[0]}'" in output or f"'{args[0]}'" in output
    assert "S3CRET" not in output


def test_an_unusable_cookie_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    exported = tmp_path / "cookies.json"
    exported.write_text('[{"name": "session", "value": "abc"}]\n', encoding="utf-8")
    code, output = fetch(tmp_path, "--cookie", str(exported), urls=urls_file(tmp_path))
    assert code == 2, output
    assert "Invalid value for '--cookie'" in output
    assert "no cookie could be read" in output
    code, output = fetch(tmp_path, "--cookie", str(tmp_path), urls=urls_file(tmp_path))
    assert code == 2
    assert "is a directory" in output


# -- proxies ---------------------------------------------------------------------------------


def test_proxy_option_sends_every_request_through_it(
    tmp_path: Path, server: FaultServer, proxy: ForwardProxy
) -> None:
    wanted = [server.url(f"/docs/{n}.xml") for n in range(5)]
    code, output = fetch(tmp_path, "--proxy", proxy.url, urls=urls_file(tmp_path, *wanted))
    assert code == 0, output
    assert sorted(proxy.relayed) == sorted(wanted)


def test_https_through_the_proxy(tmp_path: Path, proxy: ForwardProxy) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with FaultServer(documents=5, tls=context) as https_server:
        url = https_server.url("/docs/1.xml")
        args = ["--proxy", proxy.url, "--ca-bundle", str(ca_file)]
        code, output = fetch(tmp_path, *args, urls=urls_file(tmp_path, url))
        assert code == 0, output
        assert proxy.relayed == [f"CONNECT 127.0.0.1:{https_server.port}"]


def test_socks5_proxy(tmp_path: Path, server: FaultServer) -> None:
    with Socks5Proxy() as socks:
        url = server.url("/docs/1.xml").replace("127.0.0.1", "localhost")
        socks5h = socks.url.replace("socks5:", "socks5h:")
        code, output = fetch(tmp_path, "--proxy", socks5h, urls=urls_file(tmp_path, url))
        assert code == 0, output
        assert socks.relayed == [f"localhost:{server.port}"]


def test_proxy_environment_and_no_proxy(
    tmp_path: Path, server: FaultServer, proxy: ForwardProxy
) -> None:
    """In a child process, as a user's shell would run it."""
    url = server.url("/docs/1.xml")
    urls = urls_file(tmp_path, url)
    env = dict(os.environ)  # the suite's fixture removed every proxy variable

    def run(store: str, *args: str, **variables: str) -> None:
        command = [sys.executable, "-m", "threadloom", "fetch", "-q", "-o", str(tmp_path / store)]
        result = subprocess.run(
            [*command, *args, str(urls)],
            env={**env, **variables},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    run("env.db", http_proxy=proxy.url)
    assert proxy.relayed == [url]
    run("no-proxy.db", http_proxy=proxy.url, no_proxy="127.0.0.1")
    run("noproxy-option.db", "--noproxy", "127.0.0.1", http_proxy=proxy.url)
    run("empty-proxy.db", "--proxy", "", http_proxy=proxy.url)
    assert proxy.relayed == [url]
    run("noproxy-none.db", "--proxy", proxy.url, "--noproxy", "", no_proxy="127.0.0.1")
    assert proxy.relayed == [url, url]


# -- cookies and credentials ---------------------------------------------------------------


def test_cookie_file_and_cookies_set_during_the_run(tmp_path: Path, server: FaultServer) -> None:
    jar = tmp_path / "cookies.txt"
    jar.write_text(
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc\n",
        encoding="utf-8",
    )
    before = jar.read_bytes()
    login = quote("/needs-cookie?name=login&value=yes", safe="")
    wanted = [
        server.url("/needs-cookie?name=session&value=abc"),
        server.url(f"/set-cookie?name=login&value=yes&next={login}"),
    ]
    code, output = fetch(tmp_path, "--cookie", str(jar), urls=urls_file(tmp_path, *wanted))
    assert code == 0, output
    assert jar.read_bytes() == before, "the cookie file is never written"
    code, _ = fetch(tmp_path, urls=urls_file(tmp_path, wanted[0]), store="none.db")
    assert code == 1
    assert rows(tmp_path / "none.db")[wanted[0]]["http_status"] == 403


def test_an_empty_cookie_file_turns_in_memory_cookies_on(
    tmp_path: Path, server: FaultServer
) -> None:
    login = quote("/needs-cookie?name=login&value=yes", safe="")
    url = server.url(f"/set-cookie?name=login&value=yes&next={login}")
    urls = urls_file(tmp_path, url)
    code, output = fetch(tmp_path, "--cookie", os.devnull, urls=urls)
    assert code == 0, output
    code, _ = fetch(tmp_path, urls=urls, store="none.db")
    assert code == 1, "without --cookie the redirect's cookie is not kept"
    assert rows(tmp_path / "none.db")[url]["http_status"] == 403


def test_netrc_file(tmp_path: Path, server: FaultServer) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\n  login alice\n  password n3trc-pw\n", encoding="utf-8")
    netrc.chmod(0o600)
    digest = hashlib.sha256(b"n3trc-pw").hexdigest()
    url = server.url(f"/basic-auth?user=alice&password_sha256={digest}")
    urls = urls_file(tmp_path, url)
    code, output = fetch(tmp_path, "--netrc-file", str(netrc), urls=urls)
    assert code == 0, output
    code, _ = fetch(tmp_path, urls=urls, store="without.db")
    assert code == 1
    assert rows(tmp_path / "without.db")[url]["http_status"] == 401


def test_netrc_reads_the_home_netrc(tmp_path: Path, server: FaultServer) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine 127.0.0.1 login bob password home-pw\n", "utf-8")
    (home / ".netrc").chmod(0o600)
    digest = hashlib.sha256(b"home-pw").hexdigest()
    urls = urls_file(tmp_path, server.url(f"/basic-auth?user=bob&password_sha256={digest}"))
    env = dict(os.environ)  # the suite's fixture removed every proxy variable
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "threadloom",
            "fetch",
            "-q",
            "--netrc",
            "-o",
            str(tmp_path / "o.db"),
            str(urls),
        ],
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_no_credential_in_any_output(tmp_path: Path, server: FaultServer) -> None:
    """Credentials given every way (netrc, a proxy's user info, a URL's user info, a
    header) appear in no file a run writes nor anything it prints, on success and on
    failure (a proxy that cannot be reached: libcurl's message names it)."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password NETRC-S3CRET\n", "utf-8")
    netrc.chmod(0o600)
    digest = hashlib.sha256(b"NETRC-S3CRET").hexdigest()
    in_url = server.url("/docs/3.xml").replace("http://", "http://bob:URL-S3CRET@")
    urls = urls_file(
        tmp_path,
        server.url(f"/basic-auth?user=alice&password_sha256={digest}"),
        server.url("/docs/1.xml"),
        in_url,
        server.url("/status/404"),
        # A "/" in the password ends the authority early (read as a bad port).
        server.url("/docs/4.xml").replace("http://", "http://eve:URL/S3CRET@"),
    )
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    closed = _closed_port()
    printed: list[str] = []
    with ForwardProxy(credentials=("pu", "PROXY-S3CRET")) as proxy:
        for name, proxy_url in (
            ("ok", proxy.url.replace("http://", "http://pu:PROXY-S3CRET@")),
            ("bare", proxy.url.replace("http://", "pu:PROXY-S3CRET@")),  # curl's short form
            ("unreachable", f"http://pu:PROXY-S3CRET@127.0.0.1:{closed}"),
        ):
            command = [sys.executable, "-m", "threadloom", "fetch", "--netrc-file", str(netrc)]
            command += ["--proxy", proxy_url, "-H", "X-Api-Key: HEADER-S3CRET", "--retries", "0"]
            command += ["-o", str(outputs / f"{name}.db"), "--trace", str(outputs / f"{name}.json")]
            command += ["--report", str(outputs / f"{name}.html"), str(urls)]
            env = dict(os.environ)  # the suite's fixture removed every proxy variable
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            assert result.returncode == 1, result.stderr
            printed += [result.stdout, result.stderr]
            for sub in (["export", "--to", str(outputs / f"{name}.jsonl")], ["status"]):
                listed = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "threadloom",
                        sub[0],
                        str(outputs / f"{name}.db"),
                        *sub[1:],
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                assert listed.returncode == 0, listed.stderr
                printed += [listed.stdout, listed.stderr]
        assert proxy.refused == 0
    ok = rows(outputs / "ok.db")
    assert ok[server.url(f"/basic-auth?user=alice&password_sha256={digest}")]["state"] == "done"
    assert ok[server.url("/docs/1.xml")]["state"] == "done"
    masked = server.url("/docs/3.xml").replace("http://", "http://bob:***@")
    assert ok[masked]["state"] == "invalid"
    assert "password in URL" in str(ok[masked]["error"])
    unreachable = rows(outputs / "unreachable.db")
    assert unreachable[server.url("/docs/1.xml")]["state"] == "failed"
    written = sorted(path for path in outputs.iterdir() if path.is_file())
    assert {path.suffix for path in written} >= {".db", ".json", ".html", ".jsonl"}
    for path in written:
        data = path.read_bytes()
        assert b"S3CRET" not in data, path.name
        # The stored or shown forms: base64 of the Basic credentials, too.
        assert b"TkVUUkMtUzNDUkVU" not in data, path.name
    for text in printed:
        assert "S3CRET" not in text
    report = (outputs / "unreachable.html").read_text("utf-8")
    assert "http://pu:***@127.0.0.1" in report, "the settings show the proxy, masked"


# -- --max-redirects ---------------------------------------------------------------------------


def test_max_redirects(tmp_path: Path, server: FaultServer) -> None:
    two, three = server.url("/redirect/2"), server.url("/redirect/3")
    urls = urls_file(tmp_path, two, three)
    code, _ = fetch(tmp_path, urls=urls)
    assert code == 0, "the default follows 10"
    code, _ = fetch(tmp_path, "--max-redirects", "2", urls=urls, store="two.db")
    assert code == 1
    outcome = rows(tmp_path / "two.db")
    assert outcome[two]["state"] == "done"
    assert outcome[three]["error"] == "too many redirects (more than --max-redirects 2)"
    code, _ = fetch(tmp_path, "--max-redirects", "0", urls=urls, store="zero.db")
    assert code == 1
    assert rows(tmp_path / "zero.db")[two]["error"] == "redirect not followed (--max-redirects 0)"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_help_lists_every_request_option_with_its_default() -> None:
    result = CliRunner().invoke(main, ["fetch", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for listed in (
        "-H, --header 'NAME: VALUE'",
        "-A, --user-agent TEXT",
        "--proxy URL",
        "--noproxy HOSTS",
        "--cookie FILE",
        "--netrc ",
        "--netrc-file FILE",
        "--max-redirects N",
    ):
        assert listed in text, listed
    assert f"[default: {DEFAULT_USER_AGENT}]" in text
    assert "[default: 10; x>=0]" in text
    assert "Default: none." in text  # -H
    assert "Default: the http_proxy, https_proxy, all_proxy" in text
    assert "Default: the no_proxy (NO_PROXY) environment variable" in text
    assert "Default: no cookies." in text
    assert "Default: off." in text  # --netrc
