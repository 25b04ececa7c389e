"""What issue 12 must show of encryption at rest, over the real service, on SQLite and PostgreSQL.

With ``ENCRYPTION_KEY`` set, a conversation over real sockets (WebSocket
and REST: posts, an edit, a reply, a delete), then a key rotation run by
the real command (``python -m chatservice.rotate``) while a service with
the new ring serves: afterwards nothing at rest — the SQLite files' bytes,
a ``pg_dump`` of the PostgreSQL schema — holds any of the words, search
still finds the messages (with the old key retired from the ring), and
``twistd chat`` with a wrong or a missing key stops with one line naming
``ENCRYPTION_KEY``.

An attachment rides along: its body is sealed too (file sharing's
``blobcrypt``, re-sealed by the same rotation command), and it is looked
for at rest with the words: in the files directory beside the SQLite
file, in the dump's ``file_chunks`` on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import sys
from functools import partial
from pathlib import Path
from urllib.parse import quote, urlencode

import treq
from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.keyring import new_key, parse_key_ring
from chatservice.service import ChatService
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.store_contract import MixinBase
from tests.test_store_postgresql import DSN, SKIP, PostgreSQLDatabase
from tests.test_twistd import REPO_ROOT, TWISTD, chat_env, json_call
from tests.wsclient import close_tcp, connect_tcp, serve_tcp

OLD, NEW = new_key(), new_key()
FIRST_RING = f"k1:{OLD}"
ROTATED_RING = f"k2:{NEW},k1:{OLD}"
RETIRED_RING = f"k2:{NEW}"
WORDS = (
    "zanzibar",
    "quixotic",
    "marzipan",
    "fjordland",
    "kumquats",
    "xylophones",
    "narwhals",
    "obsidian",
)
FILE_BODY = b"the attached minutes: " + b"tangerine-dreams-of-" * 2000


def bearer(token: str) -> dict[bytes | str, bytes | str]:
    """The headers of a treq request made with ``token``."""
    return {"Authorization": f"Bearer {token}"}


class EncryptionAtRestMixin(MixinBase):
    """The must-show scenario; a backend gives its URL and its bytes at rest."""

    timeout = 120

    def database_url(self) -> str:
        """``DATABASE_URL`` of this test's database."""
        raise NotImplementedError

    async def at_rest_bytes(self) -> bytes:
        """Everything the deployment keeps at rest, as bytes."""
        raise NotImplementedError

    def plaintexts(self) -> list[bytes]:
        """What must not be found at rest: every word of the conversation, the file's body."""
        plain = [word.encode() for word in WORDS] + [b"tangerine-dreams", FILE_BODY[:64]]
        return [*plain, self.webhook_secret.encode()]

    async def start(self, setting: str) -> tuple[ChatService, str, int]:
        ring = parse_key_ring(setting)
        config = config_for_tests(
            listen=("tcp:0:interface=127.0.0.1",),
            database_url=self.database_url(),
            encryption=ring,
        )
        service = ChatService(
            config,
            reactor,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        port = await serve_tcp(self, service)
        return service, f"http://127.0.0.1:{port}", port

    async def conversation(self, base: str, port: int) -> tuple[str, list[int]]:
        """Alice over a WebSocket, Bob over REST: post, edit, reply, delete. Bob's token, ids."""
        call = partial(json_call, self.pool)
        tokens = []
        for name in ("alice", "bob"):
            body = {"username": name, "password": "correct horse"}
            await call("POST", f"{base}/api/register", body=body, expect=201)
            tokens.append((await call("POST", f"{base}/api/login", body=body))["token"])
        alice, bob = tokens
        # A webhook of Bob's room: its signing secret is sealed at rest too.
        room = await call("POST", f"{base}/api/rooms", bob, {"name": "hooked"}, expect=201)
        hook = await call(
            "POST",
            f"{base}/api/rooms/{room['id']}/webhooks",
            bob,
            {"url": "https://hooks.invalid/chat"},
            expect=201,
        )
        self.webhook_secret: str = hook["secret"]
        socket = await connect_tcp(
            reactor, port, "/ws?roomId=1", {"Authorization": f"Bearer {alice}"}
        )
        self.addCleanup(close_tcp, socket)
        socket.send_json({"content": f"Meet me in {WORDS[0].title()}, {WORDS[1]} friend"})
        first = await socket.next_of("message")
        post = partial(call, "POST", f"{base}/api/messages", bob, expect=201)
        second = await post({"room_id": 1, "content": f"bring {WORDS[2]} please"})
        reply = await post(
            {"room_id": 1, "content": f"{WORDS[3]} {WORDS[4]}!", "reply_to": first["id"]}
        )
        doomed = await post({"room_id": 1, "content": f"forget the {WORDS[7]}"})
        uploaded = await treq.post(
            f"{base}/api/uploads?name=minutes.txt",
            data=FILE_BODY,
            headers=bearer(bob),
            pool=self.pool,
        )
        self.assertEqual(uploaded.code, 201)
        upload = await uploaded.json()
        self.upload_id = upload["id"]
        await post({"room_id": 1, "content": "", "attachments": [upload["id"]]})
        edited = await call(
            "PATCH",
            f"{base}/api/messages/{second['id']}",
            bob,
            {"content": f"bring {WORDS[2]} and {WORDS[5]}"},
        )
        self.assertEqual(edited["content"], f"bring {WORDS[2]} and {WORDS[5]}")
        await call("DELETE", f"{base}/api/messages/{doomed['id']}", bob)
        self.assertEqual(reply["reply_preview"]["excerpt"], first["content"])
        return bob, [first["id"], second["id"], reply["id"]]

    async def search(self, base: str, token: str, query: str) -> list[int]:
        found = await json_call(
            self.pool, "GET", f"{base}/api/search?{urlencode({'q': query})}", token
        )
        return [message["id"] for message in found]

    async def rotate(self) -> str:
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            ["-m", "chatservice.rotate", "--batch-size", "2"],
            env=chat_env(DATABASE_URL=self.database_url(), ENCRYPTION_KEY=ROTATED_RING),
            path=str(REPO_ROOT),
        )
        output = bytes(out + err).decode()
        self.assertEqual(code, 0, output)
        return output

    async def twistd_with(self, **settings: str) -> tuple[str, int]:
        workdir = self.mktemp()
        os.makedirs(workdir)
        env = chat_env(DATABASE_URL=self.database_url(), **settings)
        if "ENCRYPTION_KEY" not in settings:
            env.pop("ENCRYPTION_KEY", None)
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            [*TWISTD, "-n", "--pidfile=", "chat", "--listen", "tcp:0:interface=127.0.0.1"],
            env=env,
            path=workdir,
        )
        return (out + err).decode("utf-8", "replace"), code

    async def test_nothing_in_clear_at_rest_search_works_wrong_key_refused(self) -> None:
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        service, base, port = await self.start(FIRST_RING)
        bob, (first, second, reply) = await self.conversation(base, port)
        self.assertEqual(await self.search(base, bob, WORDS[1].upper()), [first])
        await service.stopService()

        # Rotation while a service with the new ring serves (and keeps posting).
        service, base, port = await self.start(ROTATED_RING)
        output = await self.rotate()
        self.assertIn("3 messages re-sealed under key 'k2'; key(s) 'k1' retired", output)
        self.assertIn("files: re-encrypted (1)", output)
        self.assertIn("rotate: 1 webhook secrets re-sealed", output)
        during = await json_call(
            self.pool,
            "POST",
            f"{base}/api/messages",
            bob,
            {"room_id": 1, "content": f"after rotation: {WORDS[6]}"},
            expect=201,
        )
        await service.stopService()

        at_rest = await self.at_rest_bytes()
        # The scan sees the data: what is not message text (names) is there in clear.
        self.assertIn(b"alice", at_rest)
        for plaintext in self.plaintexts():
            self.assertNotIn(plaintext, at_rest)
            self.assertNotIn(plaintext.title(), at_rest)

        # The old key is gone from the ring: everything opens, search finds it.
        service, base, port = await self.start(RETIRED_RING)
        self.assertEqual(await self.search(base, bob, f"{WORDS[2]} {WORDS[5]}"), [second])
        self.assertEqual(await self.search(base, bob, WORDS[4]), [reply])
        self.assertEqual(await self.search(base, bob, WORDS[6]), [during["id"]])
        self.assertEqual(await self.search(base, bob, WORDS[7]), [])
        history = await json_call(self.pool, "GET", f"{base}/api/messages?roomId=1", bob)
        self.assertEqual(
            [m["content"] for m in history][:3],
            [
                f"Meet me in {WORDS[0].title()}, {WORDS[1]} friend",
                f"bring {WORDS[2]} and {WORDS[5]}",
                f"{WORDS[3]} {WORDS[4]}!",
            ],
        )
        downloaded = await treq.get(
            f"{base}/api/files/{self.upload_id}",
            headers=bearer(bob),
            pool=self.pool,
        )
        self.assertEqual(await downloaded.content(), FILE_BODY)
        await service.stopService()

        # A wrong key, a key missing from the ring, no key: one line, exit 1.
        for settings, expected in (
            ({"ENCRYPTION_KEY": f"k2:{new_key()}"}, "is not the key"),
            ({"ENCRYPTION_KEY": f"k1:{OLD}"}, "which the ring does not hold"),
            ({}, "ENCRYPTION_KEY is not set"),
        ):
            output, code = await self.twistd_with(**settings)
            self.assertEqual(code, 1, output)
            self.assertNotIn("Traceback", output)
            errors = [line for line in output.splitlines() if "failed to start" in line]
            self.assertEqual(len(errors), 1, output)
            self.assertIn("ENCRYPTION_KEY: ", errors[0])
            self.assertIn(expected, errors[0])
            self.assertNotIn("chatservice listening on", output)


class SQLiteEncryptionAtRestTests(EncryptionAtRestMixin, TestCase):
    """On SQLite: the database file and its WAL and journal files hold no word."""

    def setUp(self) -> None:
        folder = Path(self.mktemp()).absolute()
        folder.mkdir(parents=True)
        self.path = folder / "chat.sqlite3"

    def database_url(self) -> str:
        return f"sqlite:///{self.path}"

    async def at_rest_bytes(self) -> bytes:
        """The database, its WAL and journal, and the files directory beside it."""
        found = sorted(self.path.parent.glob(self.path.name + "*"))
        self.assertIn(self.path, found)
        self.assertIn(Path(f"{self.path}-files"), found)
        files = [p for top in found for p in ([top] if top.is_file() else top.rglob("*"))]
        return b"".join(file.read_bytes() for file in files if file.is_file())


class PostgreSQLEncryptionAtRestTests(PostgreSQLDatabase, EncryptionAtRestMixin, TestCase):
    """On PostgreSQL: a ``pg_dump`` of the schema holds no word."""

    skip = SKIP or (None if shutil.which("pg_dump") else "pg_dump is not installed")

    def database_url(self) -> str:
        separator = "&" if "?" in DSN else "?"
        return f"{DSN}{separator}options={quote(self.search_path)}"

    async def at_rest_bytes(self) -> bytes:
        pg_dump = shutil.which("pg_dump")
        assert pg_dump is not None
        dump, err, code = await getProcessOutputAndValue(
            pg_dump, ["--no-owner", "-n", self.schema, DSN], env=dict(os.environ)
        )
        self.assertEqual(code, 0, err)
        self.assertIn(b"CREATE TABLE", dump)
        self.assertIn(b"sealing_keys", dump)
        return bytes(dump)
