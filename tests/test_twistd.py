"""End to end: ``twistd -n chat`` as a subprocess, driven over real HTTP and WebSocket."""

from __future__ import annotations

import os
import signal
import socket
import sys
from functools import partial
from pathlib import Path
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.wsclient import RecordingClient, close_tcp, connect_tcp

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET = "end-to-end-secret-of-at-least-32-bytes!"
READY_LINE = b"chatservice listening on"
CLOSE_GOING_AWAY = 1001
# twisted.scripts.twistd has no __main__ guard, so `python -m` would do nothing.
TWISTD = ("-c", "from twisted.scripts.twistd import run; run()")


def twistd_args(port: int) -> list[str]:
    """Arguments after the Python executable that run ``twistd -n chat`` on ``port``."""
    return [*TWISTD, "-n", "--pidfile=", "chat", "--listen", f"tcp:{port}:interface=127.0.0.1"]


async def json_call(
    pool: HTTPConnectionPool,
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
    expect: int = 200,
) -> Any:
    """Make one JSON request over real HTTP; fail unless the status is ``expect``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers, "pool": pool}
    if body is not None:
        kwargs["json"] = body
    response = await treq.request(method, url, **kwargs)
    data = await response.json()
    if response.code != expect:
        raise AssertionError(f"{method} {url}: {response.code} {data}")
    return data


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def chat_env(**settings: str) -> dict[str, str]:
    """A clean environment: the repo on PYTHONPATH (so the dropin is found) and ``settings``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": "memory:",
        "BCRYPT_ROUNDS": "4",
        "JWT_SECRET": SECRET,
    }
    env.update(settings)
    return env


class TwistdProcess(ProcessProtocol):
    """Collects a twistd child's output; fires when it listens and when it ends."""

    def __init__(self) -> None:
        self.output = b""
        self.listening: Deferred[None] = Deferred()
        self.ended: Deferred[tuple[int | None, int | None]] = Deferred()

    def _received(self, data: bytes) -> None:
        self.output += data
        if not self.listening.called and READY_LINE in self.output:
            self.listening.callback(None)

    def outReceived(self, data: bytes) -> None:
        self._received(data)

    def errReceived(self, data: bytes) -> None:
        self._received(data)

    def processEnded(self, reason: Failure) -> None:
        """Fire ``ended`` with (exit code, signal); one of them is None."""
        ended = reason.value
        assert isinstance(ended, ProcessDone | ProcessTerminated)
        if not self.listening.called:
            self.listening.errback(RuntimeError(f"twistd exited early:\n{self.output.decode()}"))
        self.ended.callback((ended.exitCode, ended.signal))


class TwistdEndToEndTests(TestCase):
    """A user's view: start twistd chat, use it over the network, stop it with SIGTERM."""

    timeout = 60

    async def start_twistd(self, **settings: str) -> tuple[TwistdProcess, str, int]:
        port = free_port()
        process = TwistdProcess()
        args = [sys.executable, *twistd_args(port)]
        workdir = self.mktemp()
        os.makedirs(workdir)
        transport = reactor.spawnProcess(
            process, sys.executable, args, env=chat_env(**settings), path=workdir
        )

        async def kill_if_running() -> None:
            if not process.ended.called:
                transport.signalProcess("KILL")
                await process.ended

        self.addCleanup(kill_if_running)
        await process.listening
        self.transport = transport
        return process, f"http://127.0.0.1:{port}", port

    async def test_serves_rest_and_websocket_then_stops_on_sigterm(self) -> None:
        """Register, log in, create a room, chat over WebSocket, read history; SIGTERM exits 0."""
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        call = partial(json_call, self.pool)
        process, base, port = await self.start_twistd(LOG_LEVEL="debug")

        health = await call("GET", f"{base}/health")
        self.assertEqual(health["status"], "ok")
        credentials = {"username": "alice", "password": "correct horse"}
        registered = await call("POST", f"{base}/api/register", body=credentials, expect=201)
        logged_in = await call("POST", f"{base}/api/login", body=credentials)
        self.assertEqual(logged_in["user"], registered["user"])
        token = logged_in["token"]
        room = await call("POST", f"{base}/api/rooms/create", token, {"name": "Lobby"}, expect=201)
        ticket = (await call("POST", f"{base}/api/ws-ticket", token, expect=201))["ticket"]

        by_token = await connect_tcp(reactor, port, f"/ws?roomId={room['id']}&token={token}")
        self.addCleanup(close_tcp, by_token)
        by_ticket = await connect_tcp(reactor, port, f"/ws?roomId={room['id']}&ticket={ticket}")
        self.addCleanup(close_tcp, by_ticket)
        by_token.send_json({"content": "hello, twistd"})
        for client in (by_token, by_ticket):
            delivered = await next_message(client)
            self.assertEqual(delivered["content"], "hello, twistd")
        history = await call("GET", f"{base}/api/messages?roomId={room['id']}", token)
        self.assertEqual(history, [delivered])

        # A refused handshake carrying a token in its query string.
        upgrade: dict[bytes | str, bytes | str] = {"Upgrade": "websocket", "Connection": "Upgrade"}
        refused = await treq.get(
            f"{base}/ws?roomId=999&token={token}",
            headers=upgrade,
            pool=self.pool,
        )
        self.assertEqual(refused.code, 404)
        await refused.json()

        self.transport.signalProcess("TERM")
        self.assertEqual(await by_token.closed, CLOSE_GOING_AWAY)
        self.assertEqual(await by_ticket.closed, CLOSE_GOING_AWAY)
        # After a clean shutdown twistd re-raises the signal that stopped it
        # (twisted.application.app._exitWithSignal), so the exit status is
        # "killed by SIGTERM" (shell: 143), never 0; init systems count that
        # as a clean stop. The log shows the shutdown finished.
        self.assertEqual(await process.ended, (None, signal.SIGTERM))
        log = process.output
        self.assertIn(b"chatservice stopped", log)
        self.assertIn(b"Server Shut Down.", log)
        for secret in (token, ticket, SECRET, "correct horse"):
            self.assertNotIn(secret.encode("utf-8"), log)
        for query in (b"roomId=", b"token=", b"ticket="):
            self.assertNotIn(query, log)
        self.assertNotIn(b"Traceback", log)


async def next_message(client: RecordingClient) -> dict[str, Any]:
    """Wait for the client's next ``message`` frame, skipping presence and the like."""
    while True:
        frame = await client.inbox.get()
        if frame["type"] == "message":
            return frame


class TwistdConfigErrorTests(TestCase):
    """A bad setting stops twistd chat at once with one line naming it, no traceback."""

    timeout = 30

    async def run_twistd(self, *options: str, **settings: str) -> tuple[str, int]:
        workdir = self.mktemp()
        os.makedirs(workdir)
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            [*TWISTD, "-n", "--pidfile=", "chat", *options],
            env=chat_env(**settings),
            path=workdir,
        )
        return (out + err).decode("utf-8", "replace"), code

    async def test_bad_port_names_port(self) -> None:
        """--port abc exits non-zero; the error is one line naming PORT."""
        output, code = await self.run_twistd("--port", "abc")
        self.assertNotEqual(code, 0)
        self.assertNotIn("Traceback", output)
        error = output.strip().splitlines()[-1]
        self.assertIn("PORT", error)
        self.assertIn("abc", error)

    async def test_unsupported_database_url_is_one_line(self) -> None:
        """An unsupported DATABASE_URL exits non-zero with one line naming DATABASE_URL."""
        output, code = await self.run_twistd(
            "--listen", "tcp:0:interface=127.0.0.1", DATABASE_URL="mysql://x"
        )
        self.assertNotEqual(code, 0)
        self.assertNotIn("Traceback", output)
        lines = output.strip().splitlines()
        self.assertEqual(len(lines), 1, output)
        self.assertIn("DATABASE_URL", lines[0])

    async def test_failed_start_exits_1_with_one_error_line(self) -> None:
        """A store that cannot be opened stops twistd with status 1 and no traceback."""
        missing = os.path.join(self.mktemp(), "no", "such", "dir", "chat.sqlite3")
        output, code = await self.run_twistd(
            "--listen", "tcp:0:interface=127.0.0.1", DATABASE_URL=f"sqlite:///{missing}"
        )
        self.assertEqual(code, 1, output)
        self.assertNotIn("Traceback", output)
        errors = [line for line in output.splitlines() if "failed to start" in line]
        self.assertEqual(len(errors), 1, output)
        self.assertNotIn("chatservice listening on", output)
