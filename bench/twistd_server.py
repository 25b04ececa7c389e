"""Run ``twistd -n chat`` as a child process for a benchmark, and a few blocking helpers.

The server gets its own process (and so its own core on a 2-core machine):
the load generator never shares its reactor or its GIL. Its output goes to
``server.log`` in the benchmark's folder, which is where to look if it fails.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from tests.test_twistd import READY_LINE, chat_env, free_port, twistd_args

# A benchmark measures the data path, not the abuse limits: lift them.
UNLIMITED = {
    "MESSAGE_RATE": "100000",
    "MESSAGE_BURST": "1000000",
    "REGISTER_LIMIT": "1000000",
    "MAX_SOCKETS_PER_USER": "100000",
}


class TwistdServer:
    """A ``twistd -n chat`` child on 127.0.0.1; a context manager that always stops it."""

    def __init__(self, database_url: str, workdir: str, **settings: str) -> None:
        """Prepare (not start) a server on ``database_url``; ``settings`` are more env vars."""
        self.database_url = database_url
        self.workdir = workdir
        self.settings = {**UNLIMITED, **settings}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(workdir) / "server.log"

    def start(self, timeout: float = 30.0) -> None:
        """Spawn the server and return once it logged that it listens."""
        self.port = free_port()
        env = chat_env(DATABASE_URL=self.database_url, **self.settings)
        args = [sys.executable, *twistd_args(self.port)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"twistd chat did not start:\n{self.log_text()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    @property
    def host(self) -> str:
        """``127.0.0.1:port``."""
        return f"127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def register_users(self, prefix: str, count: int) -> list[tuple[str, int]]:
        """Create accounts ``prefix0`` … on one connection; return each token and user id."""
        conn = http.client.HTTPConnection(self.host, timeout=30)
        try:
            return [register(conn, f"{prefix}{n}") for n in range(count)]
        finally:
            conn.close()

    def cpu_seconds(self) -> float:
        """User + system CPU time the server (all its threads) has used."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it takes longer than ``timeout``."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> TwistdServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    expect: int = 200,
) -> Any:
    """One JSON request on a kept-alive connection; fail unless the status is ``expect``."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    payload = None if body is None else json.dumps(body).encode("utf-8")
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = json.loads(response.read())
    if response.status != expect:
        raise RuntimeError(f"{method} {path}: {response.status} {data}")
    return data


def register(conn: http.client.HTTPConnection, username: str) -> tuple[str, int]:
    """Create an account; return its token and user id."""
    session = request(
        conn,
        "POST",
        "/api/register",
        body={"username": username, "password": "bench-password"},
        expect=201,
    )
    return session["token"], session["user"]["id"]


def postgres_schema_url(dsn: str, schema: str) -> str:
    """``dsn`` with libpq options that put every table in ``schema``."""
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}options={quote(f'-c search_path={schema}')}"


def percentiles(samples_ms: Sequence[float]) -> str:
    """Format p50/p90/p99/max of ``samples_ms`` (milliseconds)."""
    if not samples_ms:
        return "(no samples)"
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"p50 {at(0.50):7.2f} ms  p90 {at(0.90):7.2f} ms  "
        f"p99 {at(0.99):7.2f} ms  max {ordered[-1]:7.2f} ms  (n={len(ordered)})"
    )
