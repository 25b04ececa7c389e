"""The store contract on MemoryStore, and how ``open_store`` reads URLs."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.keyring import KeyRing
from chatservice.store import IChatStore, UnsupportedStoreURL, open_store, redact_url
from chatservice.store.memory import MemoryStore
from chatservice.store.sealing import Sealing
from tests.access_contract import AccessContractMixin
from tests.account_contract import AccountContractMixin
from tests.hook_contract import HookContractMixin
from tests.hook_sealing_contract import HookSealingContractMixin
from tests.read_contract import ReadContractMixin
from tests.timeline_contract import TimelineContractMixin
from tests.upload_contract import UploadContractMixin


class MemoryStoreContractTests(
    TimelineContractMixin,
    AccessContractMixin,
    AccountContractMixin,
    UploadContractMixin,
    ReadContractMixin,
    HookContractMixin,
    TestCase,
):
    """MemoryStore keeps every rule of IChatStore, the timeline's too."""

    async def make_store(self) -> IChatStore:
        store = MemoryStore(Clock())
        await store.start()
        self.addCleanup(store.close)
        return store


class OpenStoreTests(SynchronousTestCase):
    """open_store picks the backend from DATABASE_URL without opening anything."""

    def test_memory_url_is_memory_store(self) -> None:
        """'memory:' gives a MemoryStore."""
        self.assertIsInstance(open_store("memory:", Clock()), MemoryStore)

    def test_unknown_scheme_is_unsupported(self) -> None:
        """An unknown scheme raises UnsupportedStoreURL naming the supported ones."""
        error = self.assertRaises(UnsupportedStoreURL, open_store, "mysql://db/chat", Clock())
        for scheme in ("memory:", "sqlite:///", "postgresql://"):
            self.assertIn(scheme, str(error))

    def test_url_without_scheme_is_unsupported(self) -> None:
        """A bare path is not a URL: UnsupportedStoreURL."""
        self.assertRaises(UnsupportedStoreURL, open_store, "chat.sqlite3", Clock())

    def test_unsupported_url_never_shows_password(self) -> None:
        """The error for an unsupported URL has the password redacted."""
        error = self.assertRaises(
            UnsupportedStoreURL, open_store, "mysql://chat:s3cret@db/chat", Clock()
        )
        self.assertNotIn("s3cret", str(error))
        self.assertIn("chat:***@db", str(error))

    def test_redact_url_keeps_urls_without_password(self) -> None:
        """redact_url leaves a URL without a password as it is."""
        self.assertEqual(redact_url("postgresql://db/chat"), "postgresql://db/chat")
        self.assertEqual(redact_url("sqlite:///chat.sqlite3"), "sqlite:///chat.sqlite3")
        self.assertEqual(
            redact_url("postgresql://db/chat?sslmode=require"),
            "postgresql://db/chat?sslmode=require",
        )

    def test_redact_url_hides_query_string_passwords(self) -> None:
        """A libpq ``?password=`` (or ``sslpassword=``) never reaches a log line."""
        redacted = redact_url("postgresql://chat@db/chat?password=hunter2&sslpassword=pw2&x=1")
        self.assertNotIn("hunter2", redacted)
        self.assertNotIn("pw2", redacted)
        self.assertEqual(redacted, "postgresql://chat@db/chat?password=***&sslpassword=***&x=1")


class MemorySealingContractTests(HookSealingContractMixin, TestCase):
    """The memory store answers the encryption calls; it keeps nothing at rest to seal."""

    async def sealed_store(self, key_ring: KeyRing | None) -> IChatStore:
        store = MemoryStore(Clock(), Sealing(key_ring))
        await store.start()
        self.addCleanup(store.close)
        return store
