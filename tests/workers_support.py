"""What the ``--workers`` subprocess tests share: a scratch schema, the servers' output, pids.

``start_supervisor`` runs the supervisor the way every such test does.

A ``twistd chat --workers N`` under test runs on a PostgreSQL schema of its
own (``CHAT_TEST_POSTGRES``) and on the Redis of ``CHAT_TEST_REDIS``. That
Redis is shared by every test running at the same time, and its channels
and keys are named after room and user ids (``chat:<db>:room:<id>``), which
start at 1 in every fresh schema: ``ScratchSchema.spread_ids`` starts this
schema's users and rooms at a random offset, so that two tests' rooms and
users never meet on Redis.
"""

from __future__ import annotations

import os
import random
import re
import sys
import uuid
from urllib.parse import quote

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProcessTransport
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.procsockets import AVAILABLE, is_gone
from tests.test_twistd import TwistdProcess, chat_env, twistd_args

DSN = os.environ.get("CHAT_TEST_POSTGRES", "")
REDIS_URL = os.environ.get("CHAT_TEST_REDIS", "")

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg is a dev dependency
    psycopg = None  # type: ignore[assignment]

if not (DSN and REDIS_URL):
    SKIP: str | None = (
        "set CHAT_TEST_POSTGRES and CHAT_TEST_REDIS (e.g. postgresql://postgres@127.0.0.1:5432"
        "/test and redis://127.0.0.1:6379/15) to run the --workers tests: several workers "
        "need a shared database and Redis"
    )
elif psycopg is None:
    SKIP = "psycopg is not installed: pip install 'chatservice[postgresql]'"
elif not AVAILABLE:
    SKIP = "these tests read /proc (Linux) to see which worker holds a connection"
else:
    SKIP = None

_STARTED = re.compile(rb"worker (\d+) started \(pid (\d+)\)")


class ScratchSchema:
    """A PostgreSQL schema of its own for one server (and its restarts)."""

    def __init__(self) -> None:
        self.name = f"chat_workers_{uuid.uuid4().hex}"

    def _run(self, sql: str) -> None:
        with psycopg.connect(DSN, autocommit=True, options=f"-c search_path={self.name}") as pg:
            pg.execute(sql)

    def create(self) -> None:
        """Create the (empty) schema; the server migrates it."""
        self._run(f'CREATE SCHEMA "{self.name}"')

    def drop(self) -> None:
        """Drop the schema and everything in it."""
        self._run(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')

    @property
    def url(self) -> str:
        """``DATABASE_URL`` for the server: the DSN with this schema as its search path."""
        separator = "&" if "?" in DSN else "?"
        return f"{DSN}{separator}options={quote(f'-c search_path={self.name}')}"

    def spread_ids(self) -> None:
        """Start new users and rooms at a random id (call once the server has migrated)."""
        for table in ("users", "rooms"):
            start = random.randrange(10**6, 10**12)
            self._run(f"ALTER TABLE {table} ALTER COLUMN id RESTART WITH {start}")


class WatchedTwistd(TwistdProcess):
    """A twistd child whose output can be waited on for a pattern."""

    def __init__(self) -> None:
        super().__init__()
        self._watches: list[tuple[re.Pattern[bytes], int, Deferred[re.Match[bytes]]]] = []

    def _received(self, data: bytes) -> None:
        super()._received(data)
        for watch in list(self._watches):
            self._check(watch)

    def _check(self, watch: tuple[re.Pattern[bytes], int, Deferred[re.Match[bytes]]]) -> None:
        pattern, start, found = watch
        match = pattern.search(self.output, start)
        if match is not None:
            self._watches.remove(watch)
            found.callback(match)

    def wait_for(self, pattern: bytes, after: int = 0) -> Deferred[re.Match[bytes]]:
        """Fire with the first match of ``pattern`` in the output from offset ``after``."""
        found: Deferred[re.Match[bytes]] = Deferred()
        watch = (re.compile(pattern), after, found)
        self._watches.append(watch)
        self._check(watch)
        return found

    def worker_pids(self) -> dict[int, int]:
        """Each worker's pid, as the supervisor last logged it (restarts replace it)."""
        return {int(n): int(pid) for n, pid in _STARTED.findall(self.output)}


async def wait_until_gone(pids: list[int], seconds: float = 20.0) -> None:
    """Poll ``/proc`` until none of ``pids`` runs; fail after ``seconds``.

    Used for processes this test did not start itself (a killed
    supervisor's workers), which it therefore cannot wait for.
    """
    deadline = reactor.seconds() + seconds
    while not all(is_gone(pid) for pid in pids):
        if reactor.seconds() > deadline:
            running = [pid for pid in pids if not is_gone(pid)]
            raise AssertionError(f"still running after {seconds} s: {running}")
        await deferLater(reactor, 0.05, lambda: None)


def kill_if_running(pids: list[int]) -> None:
    """SIGKILL each of ``pids`` that still runs (a test's last resort)."""
    for pid in pids:
        if not is_gone(pid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


async def start_supervisor(
    test: TestCase, port: int, **env: str
) -> tuple[WatchedTwistd, IProcessTransport]:
    """Run ``twistd chat --workers 2`` on ``port`` and a scratch schema; return once it listens.

    ``env`` adds to the environment every such test gives it. At clean-up the
    supervisor and its workers are killed if they still run, and the schema
    is dropped.
    """
    schema = ScratchSchema()
    schema.create()
    test.addCleanup(schema.drop)
    process = WatchedTwistd()
    environment = chat_env(
        DATABASE_URL=schema.url,
        REDIS_URL=REDIS_URL,
        MAX_SOCKETS_PER_USER="1000",
        SHUTDOWN_TIMEOUT="5",
        LOG_LEVEL="info",
        **env,
    )
    workdir = test.mktemp()
    os.makedirs(workdir)
    args = [sys.executable, *twistd_args(port), "--workers", "2"]
    transport = reactor.spawnProcess(process, sys.executable, args, environment, workdir)

    async def stop_everything() -> None:
        if not process.ended.called:
            transport.signalProcess("KILL")
            await process.ended
        kill_if_running(list(process.worker_pids().values()))

    test.addCleanup(stop_everything)
    await process.listening
    schema.spread_ids()
    return process, transport
