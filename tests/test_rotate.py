"""``python -m chatservice.rotate``: the batches, the files hook, the refusals.

The end-to-end run of the command beside a serving service is in
``test_encryption_at_rest``; here the pieces, on a SQLite store.
"""

from __future__ import annotations

import contextlib
import io
import sys
import types
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice import rotate as rotate_module
from chatservice.config import Config
from chatservice.keyring import KeyRing
from chatservice.models import NewMessage
from chatservice.rotate import FilesContext, RotateError, main, reencrypt_files, rotate
from chatservice.store.memory import MemoryStore
from chatservice.store.sealing import Sealing
from chatservice.store.sql import SQLStore
from tests.sealing_contract import NEW_RING, OLD_RING


def run_main(*argv: str) -> tuple[int, str]:
    """Run the command's ``main``; its status and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(argv))
    return status, err.getvalue()


class FilesHookTests(TestCase):
    """File sharing's ``reencrypt_files(ring)`` is called if it exists, skipped if not."""

    def install(self, module: types.ModuleType | None) -> None:
        """Make ``module`` the one hook module; the others absent."""
        for index, (name, _) in enumerate(rotate_module.FILES_HOOKS):
            saved = sys.modules.get(name)
            sys.modules[name] = module if index == 0 else None  # type: ignore[assignment]
            self.addCleanup(self.restore, name, saved)

    def restore(self, name: str, saved: types.ModuleType | None) -> None:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved

    async def test_absent_module_is_skipped_with_a_message(self) -> None:
        self.install(None)
        assert OLD_RING is not None
        self.assertIn("skipped", await reencrypt_files(OLD_RING, FilesContext()))

    async def test_module_without_the_function_is_skipped(self) -> None:
        self.install(types.ModuleType("chatservice.file_rotation"))
        assert OLD_RING is not None
        said = await reencrypt_files(OLD_RING, FilesContext())
        self.assertIn("no reencrypt_files in this build; skipped", said)

    async def test_the_hook_gets_the_ring_and_what_it_asks_for(self) -> None:
        seen: list[tuple[KeyRing, object, str]] = []
        module = types.ModuleType("chatservice.file_rotation")

        def reencrypt(keyring: KeyRing, store: object, database_url: str) -> object:
            seen.append((keyring, store, database_url))
            return succeed(4)

        module.reencrypt_files = reencrypt  # type: ignore[attr-defined]
        self.install(module)
        assert NEW_RING is not None
        store = MemoryStore()
        said = await reencrypt_files(NEW_RING, FilesContext(store, "sqlite:///x", "/files"))
        self.assertEqual(said, "files: re-encrypted (4)")
        self.assertEqual(seen, [(NEW_RING, store, "sqlite:///x")])


class RotateTests(TestCase):
    """``rotate`` runs batches until done and reports; a store that cannot rotate is refused."""

    async def test_batches_until_done_then_reports(self) -> None:
        path = str(Path(self.mktemp()).absolute())
        store = SQLStore.sqlite(path, reactor, sealing=Sealing(OLD_RING))
        await store.start()
        user = await store.create_user("alice", b"hash", 1)
        room = await store.ensure_room("General", "", 1)
        await store.add_messages(
            [NewMessage(room.id, user.id, "alice", f"text {i}", i) for i in range(7)]
        )
        await store.close()
        store = SQLStore.sqlite(path, reactor, sealing=Sealing(NEW_RING))
        self.addCleanup(store.close)
        await store.start()
        lines: list[str] = []
        assert NEW_RING is not None
        done = await rotate(store, NEW_RING, lines.append, batch_size=3)
        self.assertEqual((done.resealed, done.batches), (7, 4))
        self.assertIn("rotate: 7 messages re-sealed under key 'k2'; key(s) 'k1' retired", lines)

    async def test_memory_store_has_nothing_to_do(self) -> None:
        assert OLD_RING is not None
        done = await rotate(MemoryStore(None, Sealing(OLD_RING)), OLD_RING, lambda _: None)
        self.assertEqual(done.resealed, 0)

    async def test_a_store_that_cannot_rotate_is_refused(self) -> None:
        assert OLD_RING is not None
        with self.assertRaises(RotateError):
            await rotate(object(), OLD_RING, lambda _: None)  # type: ignore[arg-type]


class CommandRefusalTests(SynchronousTestCase):
    """What the command refuses before touching a database: one line, status 1."""

    def test_without_a_key(self) -> None:
        self.patch(Config, "from_sources", _config(encryption=None))
        status, err = run_main("--database-url", "sqlite:///x")
        self.assertEqual((status, err.count("\n")), (1, 1))
        self.assertIn("ENCRYPTION_KEY is not set", err)

    def test_memory_store(self) -> None:
        self.patch(Config, "from_sources", _config(database_url="memory:"))
        status, err = run_main()
        self.assertEqual((status, err.count("\n")), (1, 1))
        self.assertIn("memory:", err)

    def test_bad_batch_size(self) -> None:
        self.patch(Config, "from_sources", _config())
        status, err = run_main("--batch-size", "0")
        self.assertEqual((status, err.count("\n")), (1, 1))
        self.assertIn("--batch-size", err)


def _config(**changes: object) -> object:
    from tests.fakes import config_for_tests

    base = config_for_tests(database_url="sqlite:///never-opened", encryption=OLD_RING)
    config = base.replace(**changes)
    return staticmethod(lambda *args, **kwargs: config)
