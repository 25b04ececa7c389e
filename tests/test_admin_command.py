"""``python -m chatservice.admin``: the first server admin, made on the configured store.

The command runs as a subprocess, the way an operator runs it, on SQLite
and on PostgreSQL (``CHAT_TEST_POSTGRES``), beside a running service: from
a fresh database (it migrates it), to a user the service registered made
an admin, whose very next admin request is served.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.admin import MEMORY_REFUSAL, AdminCommandError, main, run
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.wire import CredentialsForm
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.store_contract import MixinBase
from tests.test_store_postgresql import DSN, SKIP, PostgreSQLDatabase
from tests.wsclient import serve_tcp

REPO_ROOT = Path(__file__).resolve().parent.parent


class RunTests(SynchronousTestCase):
    """``run``: grant, revoke and list on a started store."""

    def setUp(self) -> None:
        self.store = MemoryStore(Clock())
        for name in ("alice", "bob"):
            self.successResultOf(self.store.create_user(name, b"h", 1))

    def run_command(self, action: str, username: str | None = None) -> str:
        line: str = self.successResultOf(Deferred.fromCoroutine(run(self.store, action, username)))
        return line

    def test_grant_revoke_and_list(self) -> None:
        """Names are found in any case; the list names the admins, or says none."""
        self.assertEqual(self.run_command("list"), "server admins: none")
        self.assertEqual(self.run_command("grant", "ALICE"), "alice (user 1) is a server admin")
        self.assertEqual(self.run_command("grant", "bob"), "bob (user 2) is a server admin")
        self.assertEqual(self.run_command("list"), "server admins: alice (user 1), bob (user 2)")
        self.assertEqual(
            self.run_command("revoke", "alice"), "alice (user 1) is no longer a server admin"
        )
        self.assertEqual(self.run_command("list"), "server admins: bob (user 2)")

    def test_an_unknown_name_is_an_error(self) -> None:
        """No account of that name: ``AdminCommandError`` naming it."""
        failure = self.failureResultOf(
            Deferred.fromCoroutine(run(self.store, "grant", "carol")), AdminCommandError
        )
        self.assertIn("'carol'", str(failure.value))

    def test_a_memory_store_is_refused_before_anything_runs(self) -> None:
        """``DATABASE_URL=memory:`` names no store another process could share."""
        saved = os.environ.get("DATABASE_URL")
        os.environ["DATABASE_URL"] = "memory:"
        try:
            self.assertEqual(main(["list"]), 1)
        finally:
            if saved is None:
                del os.environ["DATABASE_URL"]
            else:
                os.environ["DATABASE_URL"] = saved
        self.assertIn("memory:", MEMORY_REFUSAL)


class CommandCase(MixinBase):
    """The command as a subprocess, on a database a running service shares."""

    def database_url(self) -> str:
        raise NotImplementedError

    async def command(self, *argv: str, **env: str) -> tuple[int, str, str]:
        """Run ``python -m chatservice.admin ARGV``; its status, stdout and stderr."""
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO_ROOT),
            "DATABASE_URL": self.database_url(),
            **env,
        }
        workdir = self.mktemp()
        os.makedirs(workdir)
        out, err, code = await getProcessOutputAndValue(
            sys.executable, ["-m", "chatservice.admin", *argv], env=environment, path=workdir
        )
        return code, out.decode(), err.decode()

    async def start_service(self) -> int:
        """A service on the same database; its port."""
        config = config_for_tests(
            listen=("tcp:0:interface=127.0.0.1",), database_url=self.database_url()
        )
        service = ChatService(
            config,
            reactor,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        port = await serve_tcp(self, service)
        self.service = service
        return port

    async def admin_users(self, port: int, token: str) -> tuple[int, Any]:
        pool = HTTPConnectionPool(reactor, persistent=False)
        bearer: dict[bytes | str, bytes | str] = {"Authorization": f"Bearer {token}"}
        answer = await treq.get(
            f"http://127.0.0.1:{port}/api/admin/users",
            headers=bearer,
            pool=pool,
        )
        return answer.code, json.loads(await answer.content())

    async def test_the_first_admin_from_a_fresh_install(self) -> None:
        """Fresh database: no such user; then granted beside the service, served at once."""
        code, out, err = await self.command("grant", "alice")
        self.assertEqual((code, out), (1, ""))
        self.assertIn("no account is named 'alice'", err)
        self.assertNotIn("Traceback", err)
        port = await self.start_service()
        session = await self.service.accounts.register(CredentialsForm("alice", "pw-123456"))
        status, body = await self.admin_users(port, session.token)
        self.assertEqual((status, body["code"]), (403, "forbidden"))
        code, out, err = await self.command("grant", "Alice")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, f"alice (user {session.user.id}) is a server admin\n")
        status, body = await self.admin_users(port, session.token)
        self.assertEqual((status, [u["username"] for u in body]), (200, ["alice"]))
        code, out, _ = await self.command("list")
        self.assertEqual((code, out), (0, f"server admins: alice (user {session.user.id})\n"))
        code, out, _ = await self.command("revoke", "alice")
        self.assertEqual(code, 0)
        status, _ = await self.admin_users(port, session.token)
        self.assertEqual(status, 403)

    async def test_the_database_url_option_wins_over_the_environment(self) -> None:
        """``--database-url`` is read like ``twistd chat --database-url``."""
        url = self.database_url()
        code, out, err = await self.command("--database-url", url, "list", DATABASE_URL="memory:")
        self.assertEqual((code, out, err), (0, "server admins: none\n", ""))

    async def test_bad_urls_and_usage_are_one_line_errors(self) -> None:
        """An unsupported URL or memory: is one line on stderr and status 1; no action is usage."""
        for url in ("mysql://db/chat", "memory:"):
            code, out, err = await self.command("list", DATABASE_URL=url)
            self.assertEqual((code, out, err.count("\n")), (1, "", 1), err)
            self.assertTrue(err.startswith("admin: error:"), err)
        code, _, err = await self.command()
        self.assertEqual(code, 2)
        self.assertIn("grant", err)


class SQLiteCommandTests(CommandCase, TestCase):
    """On a SQLite file."""

    timeout = 60

    def setUp(self) -> None:
        self.path: str = os.path.abspath(self.mktemp())

    def database_url(self) -> str:
        return "sqlite:///" + self.path


class PostgreSQLCommandTests(PostgreSQLDatabase, CommandCase, TestCase):
    """On PostgreSQL, in a schema of the test's own."""

    skip = SKIP
    timeout = 60

    def database_url(self) -> str:
        separator = "&" if "?" in DSN else "?"
        search_path: str = self.search_path
        return f"{DSN}{separator}options={quote(search_path)}"
