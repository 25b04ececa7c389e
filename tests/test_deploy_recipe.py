"""The README's several-hosts recipe, run for real: two ``twistd -n chat`` behind a proxy.

Two services stand for two hosts: each its own process and port, both on
one PostgreSQL database (a schema of the test's own, through
``PGOPTIONS``), one Redis and one ``JWT_SECRET``, with
``TRUST_X_FORWARDED_FOR=1``. HAProxy runs ``deploy/haproxy.cfg`` unchanged
(its ``${...}`` come from the environment); nginx runs ``deploy/nginx.conf``
with its sample addresses replaced. Every request and socket of a test goes
through the proxy, and the services' debug log (``user N joined room R``)
tells which host a socket landed on, so "across hosts" is checked, not
assumed.

Which host a new connection gets is decided by the samples' least-connections
balancing: with sockets open, a new connection goes to the host holding
fewer, which the tests use to send requests to a host of their choosing.

Needs ``CHAT_TEST_POSTGRES``, ``CHAT_TEST_REDIS`` and the ``haproxy`` or
``nginx`` program (``apt-get install haproxy nginx-light``); each test skips
and says which is missing. The services name their Redis channels and
counts by room and user id (``chat:<db>:room:<id>``), and every schema
starts at 1, so the test moves its schema's room and user ids to a random
number: runs sharing a Redis keep apart.
"""

from __future__ import annotations

import csv
import os
import random
import re
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import (
    ConnectError,
    ProcessDone,
    ProcessExitedAlready,
    ProcessTerminated,
)
from twisted.internet.interfaces import IProcessTransport
from twisted.internet.protocol import ProcessProtocol, Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent

from chatservice.config import Config
from tests.test_redishub import REDIS_URL
from tests.test_store_postgresql import DSN, SKIP, PostgreSQLDatabase
from tests.test_twistd import TwistdProcess, chat_env, free_port, twistd_args
from tests.wsclient import RecordingClient, close_tcp, connect_tcp

T = TypeVar("T")
LOG = Logger()

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"
NGINX_CONF = DEPLOY / "nginx.conf"
# Debian installs both proxies in sbin, which is often not on a user's PATH.
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
# nginx.conf's sample hosts and port, replaced by the test's.
NGINX_SAMPLE_HOSTS = ("192.0.2.11:8081", "192.0.2.12:8081")
NGINX_SAMPLE_LISTEN = "listen 80;"
PASSWORD = "recipe-password"
CLOSE_GOING_AWAY = 1001


def find_program(name: str) -> str | None:
    """Return the path of ``name`` on PATH or in the sbin folders, or None."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(name, path=search)


HAPROXY = find_program("haproxy")
NGINX = find_program("nginx")
NO_HAPROXY = (
    None if HAPROXY else "haproxy is not installed (apt-get install haproxy): it runs the sample"
)
NO_NGINX = (
    None if NGINX else "nginx is not installed (apt-get install nginx-light): it runs the sample"
)
NO_SERVERS = (
    "set CHAT_TEST_POSTGRES (e.g. postgresql://postgres@127.0.0.1:5432/test) and "
    "CHAT_TEST_REDIS (e.g. redis://127.0.0.1:6379/15) to run the deployment recipe"
    if not DSN or REDIS_URL is None
    else SKIP
)


def loopback_addresses(count: int) -> list[str]:
    """Distinct 127.0.0.0/8 addresses for the clients to connect from.

    The per-address limits see each as another client. They are drawn at
    random so that counts an earlier run left (if limits are ever kept in
    the shared Redis) cannot be met again.
    """
    chosen: set[str] = set()
    while len(chosen) < count:
        chosen.add(".".join(["127", *(str(random.randint(1, 254)) for _ in range(3))]))
    return sorted(chosen)


def can_bind(address: str) -> bool:
    """Whether this system lets a socket use ``address`` as its source (Linux: all of 127/8)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


class ProxyProcess(ProcessProtocol):
    """Collects a proxy's output; ``ended`` fires when it exits."""

    def __init__(self) -> None:
        self.output = b""
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data

    def errReceived(self, data: bytes) -> None:
        self.output += data

    def processEnded(self, reason: Failure) -> None:
        assert isinstance(reason.value, ProcessDone | ProcessTerminated)
        self.ended.callback(None)


@dataclass
class Backend:
    """One chat "host": a ``twistd -n chat`` child and the proxy's name for it."""

    name: str
    port: int
    process: TwistdProcess
    transport: IProcessTransport

    def count(self, pattern: str) -> int:
        """How many times ``pattern`` (a regular expression) occurs in the output so far."""
        return len(re.findall(pattern.encode("utf-8"), self.process.output))


@dataclass
class Scene:
    """Two users chatting in one room through the proxy, each socket on another host."""

    room_id: int
    tokens: dict[str, str]
    user_ids: dict[str, int]
    sockets: dict[str, RecordingClient]
    hosts: dict[str, Backend]
    messages: list[dict[str, Any]] = field(default_factory=list)


class _Collect(Protocol):
    """Keeps everything received until the peer closes (HAProxy's runtime API does)."""

    def __init__(self) -> None:
        self.data = b""
        self.done: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback(self.data)


async def poll(check: Callable[[], Awaitable[T | None]], what: str, seconds: float = 10.0) -> T:
    """Call ``check`` every 50 ms until it returns something; fail after ``seconds``."""
    deadline = reactor.seconds() + seconds
    while True:
        found = await check()
        if found is not None:
            return found
        if reactor.seconds() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        await deferLater(reactor, 0.05)


async def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` now."""
    try:
        protocol = await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=1), Protocol()
        )
    except ConnectError:
        return False
    assert protocol.transport is not None
    protocol.transport.loseConnection()
    return True


async def haproxy_admin(port: int, command: str) -> str:
    """Send one command to HAProxy's runtime API (a TCP stats socket); return its answer."""
    collector = _Collect()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), collector)
    assert collector.transport is not None
    collector.transport.write(command.encode("ascii") + b"\n")
    return (await collector.done).decode("utf-8")


async def haproxy_servers(port: int) -> dict[str, dict[str, str]]:
    """``show stat`` of the ``chat`` backend: one row (column -> value) per server."""
    text = await haproxy_admin(port, "show stat")
    rows = csv.DictReader(text.removeprefix("# ").splitlines())
    return {
        row["svname"]: row
        for row in rows
        if row["pxname"] == "chat" and row["svname"] not in ("FRONTEND", "BACKEND")
    }


async def call(
    base: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    source: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Make one JSON request from the address ``source``; return its status and body."""
    sent: dict[str, str] = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    kwargs: dict[str, Any] = {"headers": sent, "agent": Agent(reactor, bindAddress=(source, 0))}
    if body is not None:
        kwargs["json"] = body
    response = await treq.request(method, f"{base}{path}", **kwargs)
    return response.code, await response.json()


async def next_message(client: RecordingClient, content: str) -> dict[str, Any]:
    """Wait for the ``message`` frame with ``content``, skipping any other frame."""
    while True:
        frame = await client.next_of("message")
        if frame["content"] == content:
            return frame


def take_seconds(value: str) -> float:
    """A proxy's duration (``60s``, ``1h``, ``500ms``; a bare number is ms for HAProxy) in s."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    assert match is not None, f"not a duration: {value!r}"
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 0.001}
    return int(match.group(1)) * units[match.group(2)]


class ProxySampleTests(TestCase):
    """The samples parse, and their timeouts outlast the service's WebSocket ping."""

    timeout = 30

    def test_proxy_timeouts_outlast_the_websocket_ping(self) -> None:
        """Every client, server and tunnel timeout is above WS_PING_INTERVAL + WS_PING_TIMEOUT."""
        defaults = Config.defaults()
        ping = defaults.ws_ping_interval + defaults.ws_ping_timeout
        found: dict[str, float] = {}
        for line in HAPROXY_CFG.read_text("utf-8").splitlines():
            words = line.split("#")[0].split()
            if len(words) == 3 and words[0] == "timeout":
                found[f"haproxy {words[1]}"] = take_seconds(words[2])
        for line in NGINX_CONF.read_text("utf-8").splitlines():
            words = line.split("#")[0].rstrip(" ;").split()
            if len(words) == 2 and words[0] in ("proxy_read_timeout", "proxy_send_timeout"):
                found[f"nginx {words[0]}"] = take_seconds(words[1])
        for name in ("client", "server", "tunnel"):
            self.assertGreater(found.pop(f"haproxy {name}"), ping, name)
        for name in ("proxy_read_timeout", "proxy_send_timeout"):
            self.assertGreater(found.pop(f"nginx {name}"), ping, name)

    async def test_haproxy_sample_is_valid(self) -> None:
        """``haproxy -c`` accepts deploy/haproxy.cfg with its variables set."""
        if HAPROXY is None:
            self.skipTest(NO_HAPROXY or "")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "CHAT_LISTEN": ":80",
            "CHAT_SERVER_1": "192.0.2.11:8081",
            "CHAT_SERVER_2": "192.0.2.12:8081",
        }
        out, err, code = await getProcessOutputAndValue(
            HAPROXY, ["-c", "-f", str(HAPROXY_CFG)], env=env
        )
        self.assertEqual(code, 0, (out + err).decode())

    async def test_nginx_sample_is_valid(self) -> None:
        """``nginx -t -c`` accepts deploy/nginx.conf in an http block, as Debian includes it."""
        if NGINX is None:
            self.skipTest(NO_NGINX or "")
        prefix = write_nginx_prefix(self.mktemp(), NGINX_CONF.read_text("utf-8"))
        out, err, code = await getProcessOutputAndValue(NGINX, nginx_args(prefix, "-t"), env={})
        self.assertEqual(code, 0, (out + err).decode())
        self.assertIn(b"test is successful", out + err)


def write_nginx_prefix(folder: str, site: str) -> str:
    """Write a main nginx.conf that includes ``site`` in ``http { }``, in ``folder``.

    The wrapper holds what a packaged nginx.conf would (temporary folders,
    the pid file), all inside ``folder``, so nginx needs nothing outside it.
    """
    os.makedirs(os.path.join(folder, "tmp"))
    with open(os.path.join(folder, "chat.conf"), "w", encoding="utf-8") as f:
        f.write(site)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "".join(f"    {kind}_temp_path tmp/{kind};\n" for kind in kinds)
    with open(os.path.join(folder, "nginx.conf"), "w", encoding="utf-8") as f:
        f.write(
            "daemon off;\nworker_processes 1;\npid nginx.pid;\nevents {}\n"
            f"http {{\n    access_log off;\n{temp}    include chat.conf;\n}}\n"
        )
    return folder


def nginx_args(prefix: str, *more: str) -> list[str]:
    """Arguments that run nginx on the wrapper in ``prefix``, its errors to stderr."""
    return ["-p", os.path.abspath(prefix), "-c", "nginx.conf", "-e", "stderr", *more]


class RecipeTests(PostgreSQLDatabase, TestCase):
    """Two chat hosts behind each sample proxy: one service, whichever host a client reaches."""

    skip = NO_SERVERS
    timeout = 60

    def setUp(self) -> None:
        super().setUp()
        self.addresses = loopback_addresses(4)
        if not can_bind(self.addresses[0]):
            self.skipTest("clients cannot connect from 127.0.0.0/8 addresses here (Linux can)")

    async def start_backends(self) -> tuple[Backend, Backend]:
        """Start two services on one database, Redis and secret; return once both listen."""
        assert REDIS_URL is not None
        env = chat_env(
            DATABASE_URL=DSN,
            PGOPTIONS=self.search_path,
            REDIS_URL=REDIS_URL,
            TRUST_X_FORWARDED_FOR="1",
            REGISTER_LIMIT="1",
            LOG_LEVEL="debug",
        )
        backends = []
        for name in ("chat1", "chat2"):
            port = free_port()
            process = TwistdProcess()
            workdir = self.mktemp()
            os.makedirs(workdir)
            args = [sys.executable, *twistd_args(port)]
            transport = reactor.spawnProcess(process, sys.executable, args, env=env, path=workdir)
            # TERM: a stopping service hands its sockets back to the shared counts.
            self.addCleanup(_stop, transport, process.ended, "TERM")
            backends.append(Backend(name, port, process, transport))
        # Both at once, as hosts started together would: the schema's
        # migrations are serialized by the store itself.
        await gatherResults([b.process.listening for b in backends])
        # The services' Redis channels and counts are named by room and user
        # id, and every run's schema starts at 1: random next ids keep runs
        # sharing a Redis apart.
        for table in ("rooms", "users"):
            self.admin(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)",
                (random.randint(10**6, 10**12),),
            )
        return backends[0], backends[1]

    async def start_proxy(
        self, program: str, args: list[str], env: dict[str, str], port: int
    ) -> ProxyProcess:
        """Run a proxy in the foreground; return once it accepts connections on ``port``."""
        process = ProxyProcess()
        workdir = self.mktemp()
        os.makedirs(workdir, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", ""), **env}
        transport = reactor.spawnProcess(process, program, [program, *args], env=env, path=workdir)
        # TERM: nginx's master then stops its workers, which hold its output.
        self.addCleanup(_stop, transport, process.ended, "TERM")

        async def listening() -> bool | None:
            if process.ended.called:
                raise AssertionError(f"{program} exited:\n{process.output.decode()}")
            return True if await accepts(port) else None

        # Its log goes to trial's test.log, for a failed run.
        self.addCleanup(
            lambda: LOG.info("{program} said:\n{output}", program=program, output=process.output)
        )
        await poll(listening, f"{program} to listen")
        return process

    async def healthy_through(self, base: str) -> None:
        """Wait until ``/health`` through the proxy is 200 with the store and Redis ok."""
        wanted = {"status": "ok", "store": "ok", "redis": "ok"}

        async def check() -> bool | None:
            code, health = await call(base, "GET", "/health")
            ok = code == 200 and all(health.get(k) == v for k, v in wanted.items())
            return True if ok else None

        await poll(check, f"/health to say {wanted}")

    async def join(
        self, port: int, backends: tuple[Backend, Backend], scene: Scene, user: str, since: int = 0
    ) -> tuple[RecordingClient, Backend]:
        """Open a socket for ``user`` through the proxy; return it and the host it landed on.

        ``since`` makes the service replay and then send a ``recovery``
        frame, which it sends only once the host listens to the room's
        events from the others: after it, nothing posted anywhere is missed.
        """
        joined = rf"\buser {scene.user_ids[user]} joined room {scene.room_id}\b"
        before = [b.count(joined) for b in backends]
        client = await connect_tcp(
            reactor,
            port,
            f"/ws?roomId={scene.room_id}&since={since}",
            {"Authorization": f"Bearer {scene.tokens[user]}"},
        )
        self.addCleanup(close_tcp, client)
        recovery = await client.next_of("recovery")
        self.assertIs(recovery["recovered"], True)

        async def landed() -> Backend | None:
            grown = [b for b, n in zip(backends, before, strict=True) if b.count(joined) > n]
            return grown[0] if len(grown) == 1 else None

        return client, await poll(landed, f"{user}'s join in one host's log")

    async def chat_across_hosts(
        self, base: str, port: int, backends: tuple[Backend, Backend]
    ) -> Scene:
        """Alice and Bob on two hosts: a REST post and a socket message reach both."""
        scene = Scene(0, {}, {}, {}, {})
        for user, source in (("alice", self.addresses[0]), ("bob", self.addresses[1])):
            credentials = {"username": user, "password": PASSWORD}
            code, body = await call(base, "POST", "/api/register", body=credentials, source=source)
            self.assertEqual(code, 201, body)
            code, body = await call(base, "POST", "/api/login", body=credentials, source=source)
            self.assertEqual(code, 200, body)
            scene.tokens[user] = body["token"]
            scene.user_ids[user] = body["user"]["id"]
        code, room = await call(
            base, "POST", "/api/rooms/create", token=scene.tokens["alice"], body={"name": "Ops"}
        )
        self.assertEqual(code, 201, room)
        scene.room_id = room["id"]
        for user in ("alice", "bob"):
            scene.sockets[user], scene.hosts[user] = await self.join(port, backends, scene, user)
        self.assertIsNot(scene.hosts["alice"], scene.hosts["bob"])

        posted = await self.post(base, scene, "alice", "posted through the proxy")
        for user in ("alice", "bob"):
            frame = await next_message(scene.sockets[user], posted["content"])
            self.assertEqual(frame, posted)
        scene.sockets["bob"].send_json({"content": "answered over bob's socket"})
        answer = await next_message(scene.sockets["alice"], "answered over bob's socket")
        self.assertEqual(await next_message(scene.sockets["bob"], answer["content"]), answer)
        scene.messages.append(answer)

        code, history = await call(
            base, "GET", f"/api/messages?roomId={scene.room_id}", token=scene.tokens["bob"]
        )
        self.assertEqual(code, 200, history)
        self.assertEqual(history, scene.messages)
        return scene

    async def post(self, base: str, scene: Scene, user: str, content: str) -> dict[str, Any]:
        """Post ``content`` over REST through the proxy; return the stored message."""
        body = {"room_id": scene.room_id, "content": content}
        code, message = await call(
            base, "POST", "/api/messages", token=scene.tokens[user], body=body
        )
        self.assertEqual(code, 201, message)
        stored: dict[str, Any] = message
        scene.messages.append(stored)
        return stored

    async def free_one_host(
        self, port: int, backends: tuple[Backend, Backend], scene: Scene
    ) -> Backend:
        """Leave sockets on one host only (two of them); return the other, now the least busy.

        A third socket lands on either host; closing the other host's socket
        leaves it none against two, a margin that a request still being
        counted cannot close. New connections then all go to the freed host.
        """
        _, busy = await self.join(port, backends, scene, "alice")
        freed = next(b for b in backends if b is not busy)
        user = next(u for u, host in scene.hosts.items() if host is freed)
        await close_tcp(scene.sockets.pop(user))
        return freed

    async def registrations_count_forwarded_addresses(self, base: str, host: Backend) -> None:
        """REGISTER_LIMIT=1 counts the client's address, which the proxy forwards, on ``host``.

        Behind a proxy every connection comes from the proxy's address: were
        X-Forwarded-For ignored, the second and third registrations would
        both be refused. A forged X-Forwarded-For from the client changes
        nothing, since the proxy appends the address it saw.
        """
        first, second = self.addresses[2], self.addresses[3]
        code, dave = await call(
            base,
            "POST",
            "/api/register",
            body={"username": "dave", "password": PASSWORD},
            source=first,
        )
        self.assertEqual(code, 201, dave)
        code, refused = await call(
            base,
            "POST",
            "/api/register",
            body={"username": "erin", "password": PASSWORD},
            source=first,
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        self.assertEqual((code, refused["code"]), (429, "rate_limited"), refused)
        code, frank = await call(
            base,
            "POST",
            "/api/register",
            body={"username": "frank", "password": PASSWORD},
            source=second,
        )
        self.assertEqual(code, 201, frank)
        for user in (dave, frank):
            registered = rf"\buser {user['user']['id']} registered\b"

            async def logged(registered: str = registered) -> bool | None:
                return True if host.count(registered) == 1 else None

            await poll(logged, f"{registered!r} in {host.name}'s log")

    async def test_haproxy_sample_carries_chat_across_hosts(self) -> None:
        """deploy/haproxy.cfg: /health checks pass, chat crosses hosts, X-Forwarded-For counts."""
        if HAPROXY is None:
            self.skipTest(NO_HAPROXY or "")
        backends = await self.start_backends()
        port, admin = free_port(), free_port()
        await self.start_proxy(
            HAPROXY, ["-db", "-f", str(HAPROXY_CFG)], haproxy_env(port, admin, backends), port
        )

        async def checked() -> dict[str, dict[str, str]] | None:
            servers = await haproxy_servers(admin)
            done = all(servers[b.name]["check_status"] == "L7OK" for b in backends)
            return servers if done else None

        servers = await poll(checked, "HAProxy's first health checks")
        for backend in backends:
            self.assertEqual(servers[backend.name]["check_code"], "200")
            self.assertEqual(servers[backend.name]["status"], "UP")
        base = f"http://127.0.0.1:{port}"
        await self.healthy_through(base)

        scene = await self.chat_across_hosts(base, port, backends)
        freed = await self.free_one_host(port, backends, scene)
        await self.registrations_count_forwarded_addresses(base, freed)

    async def test_drained_host_clients_resume_on_the_other_through_haproxy(self) -> None:
        """A host in maintenance gets no new connection; stopped, its clients resume on another."""
        if HAPROXY is None:
            self.skipTest(NO_HAPROXY or "")
        backends = await self.start_backends()
        port, admin = free_port(), free_port()
        await self.start_proxy(
            HAPROXY, ["-db", "-f", str(HAPROXY_CFG)], haproxy_env(port, admin, backends), port
        )
        base = f"http://127.0.0.1:{port}"
        scene = await self.chat_across_hosts(base, port, backends)
        leaving, staying = scene.hosts["bob"], scene.hosts["alice"]

        answer = await haproxy_admin(admin, f"set server chat/{leaving.name} state maint")
        self.assertEqual(answer.strip(), "")
        self.assertEqual((await haproxy_servers(admin))[leaving.name]["status"], "MAINT")
        # Without the drain, least-connections would send one of these two to it.
        for _ in range(2):
            _, host = await self.join(port, backends, scene, "alice")
            self.assertIs(host, staying)
        # The drained host still serves the sockets it has.
        posted = await self.post(base, scene, "alice", "while bob's host drains")
        frame = await next_message(scene.sockets["bob"], posted["content"])
        self.assertEqual(frame, posted)
        bob = scene.sockets.pop("bob")
        seen = posted["id"]

        leaving.transport.signalProcess("TERM")
        self.assertEqual(await bob.closed, CLOSE_GOING_AWAY)
        missed = await self.post(base, scene, "alice", "while bob was away")
        resumed, host = await self.join(port, backends, scene, "bob", since=seen)
        self.assertIs(host, staying)
        self.assertEqual(resumed.of_type("message"), [missed])

    async def test_nginx_sample_carries_chat_across_hosts(self) -> None:
        """deploy/nginx.conf: the WebSocket upgrade, chat across hosts, X-Forwarded-For counts."""
        if NGINX is None:
            self.skipTest(NO_NGINX or "")
        backends = await self.start_backends()
        port = free_port()
        site = NGINX_CONF.read_text("utf-8")
        for sample, backend in zip(NGINX_SAMPLE_HOSTS, backends, strict=True):
            self.assertEqual(site.count(sample), 1, sample)
            site = site.replace(sample, f"127.0.0.1:{backend.port}")
        self.assertEqual(site.count(NGINX_SAMPLE_LISTEN), 1)
        site = site.replace(NGINX_SAMPLE_LISTEN, f"listen 127.0.0.1:{port};")
        prefix = write_nginx_prefix(self.mktemp(), site)
        await self.start_proxy(NGINX, nginx_args(prefix), {}, port)
        base = f"http://127.0.0.1:{port}"
        await self.healthy_through(base)

        scene = await self.chat_across_hosts(base, port, backends)
        freed = await self.free_one_host(port, backends, scene)
        await self.registrations_count_forwarded_addresses(base, freed)


def haproxy_env(port: int, admin: int, backends: tuple[Backend, Backend]) -> dict[str, str]:
    """deploy/haproxy.cfg's variables: listen on ``port``, the API on ``admin``, the two hosts."""
    return {
        "CHAT_LISTEN": f"127.0.0.1:{port}",
        "HAPROXY_ADMIN_SOCKET": f"ipv4@127.0.0.1:{admin}",
        **{f"CHAT_SERVER_{n}": f"127.0.0.1:{b.port}" for n, b in enumerate(backends, 1)},
    }


async def _stop(transport: IProcessTransport, ended: Deferred[Any], signal: str) -> None:
    """Send ``signal`` to a child unless it has ended; wait until it has (KILL after 15 s)."""
    if ended.called:
        return
    _signal(transport, signal)
    kill = reactor.callLater(15, _signal, transport, "KILL")
    try:
        await ended
    finally:
        if kill.active():
            kill.cancel()


def _signal(transport: IProcessTransport, signal: str) -> None:
    """Signal a child; one that has exited but is not reaped yet needs nothing."""
    try:
        transport.signalProcess(signal)
    except ProcessExitedAlready:
        pass
