"""A throwaway nginx serving one directory on 127.0.0.1, for the benchmarks.

`NginxServer` writes its own config, pid file, logs and temp paths into a private
directory, runs nginx in the foreground (``daemon off``) as a child in its own process
group, waits until it answers, and kills the whole group when stopped -- also from an
`atexit` hook, so an exception or Ctrl-C in the benchmark never leaves it running.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

INSTALL_HINT = "apt-get install nginx aria2 wget2 curl"

_CONFIG = """\
daemon off;
master_process on;
# One worker: the machine this was tuned on has 2 cores and the client needs the other.
worker_processes 1;
pid {state}/nginx.pid;
error_log {state}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {state}/client_body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;
    types {{
        application/xml xml;
    }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    # Every client keeps its connections for the whole run; never make one reconnect.
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        location / {{
        }}
    }}
}}
"""


def find_nginx() -> str | None:
    """The nginx executable on PATH or in /usr/sbin (often not on a user's PATH), or None."""
    found = shutil.which("nginx")
    if found is not None:
        return found
    candidate = Path("/usr/sbin/nginx")
    return str(candidate) if os.access(candidate, os.X_OK) else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (nginx binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class NginxError(RuntimeError):
    """nginx could not be started; the message carries the tail of its error log."""


class NginxServer:
    """nginx serving ``root`` on ``http://127.0.0.1:{port}/`` until `stop` (or exit).

    ``state_dir`` receives the config, pid file, error log and nginx's temp paths; it and
    ``root`` must be readable by nginx's worker user (when started as root the workers
    switch to nginx's compiled-in user, so the directories are made world-readable).
    Usable as a context manager; `stop` is idempotent.
    """

    def __init__(self, executable: str, root: Path, state_dir: Path) -> None:
        self.executable = executable
        self.root = root.resolve()
        self.state_dir = state_dir.resolve()
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> Path:
        """nginx's error log (warnings and worse)."""
        return self.state_dir / "error.log"

    def start(self, timeout: float = 10.0) -> None:
        """Start nginx and return once it answers HTTP; raise `NginxError` if it does not."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.state_dir):
            path.chmod(0o755)
        self.port = free_port()
        config = self.state_dir / "nginx.conf"
        config.write_text(_CONFIG.format(state=self.state_dir, port=self.port, root=self.root))
        log = self.error_log.open("ab")
        with log:
            self._process = subprocess.Popen(
                # -e: the error log before the config is read (else /var/log/nginx is tried).
                [
                    *(self.executable, "-p", f"{self.state_dir}/", "-c", str(config)),
                    *("-e", str(self.error_log)),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise NginxError(f"nginx exited with {self._process.returncode}:\n{self._tail()}")
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise NginxError(f"nginx did not answer within {timeout} s:\n{self._tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill nginx's process group (master and workers) and reap the master."""
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        # The workers are in the same group; the master waited for them on SIGTERM, and
        # SIGKILL above reached them directly. Anything left in the group goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("HEAD", "/")
            connection.getresponse().read()
        except OSError:
            return False
        finally:
            connection.close()
        return True

    def _tail(self, lines: int = 20) -> str:
        try:
            text = self.error_log.read_text(errors="replace")
        except OSError:
            return "(no error log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> NginxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
