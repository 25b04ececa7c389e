"""Encryption at rest (``store.sealing``) as one test mixin run against every backend.

A backend's test module mixes ``SealingContractMixin`` into a trial
``TestCase`` and implements ``sealed_store(ring)`` and, for a store that
keeps data at rest, ``raw_rows()`` (the ``messages`` rows as the database
holds them) and ``restart(store, ring)``. The memory store keeps nothing
at rest: it answers the same calls (text read back, search, a rotation
that is done at once) and skips what needs a database.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SkipTest

from chatservice.keyring import KeyRing, new_key, parse_key_ring, sealed_key_id
from chatservice.models import Message, NewMessage, Room, User
from chatservice.store import IChatStore
from chatservice.store.sealing import ISealingStore, NothingToRotateTo, WrongEncryptionKey
from tests.store_contract import MixinBase, failure_of, new_message

K1 = new_key()
K2 = new_key()
OLD_RING = parse_key_ring(f"k1:{K1}")
NEW_RING = parse_key_ring(f"k2:{K2},k1:{K1}")
WORDS = ("zebrafish", "quokka", "marmalade", "xylophone", "pomegranate")


def ring(setting: str) -> KeyRing:
    """A ring parsed from an ``ENCRYPTION_KEY`` value."""
    parsed = parse_key_ring(setting)
    assert parsed is not None
    return parsed


class SealingContractMixin(MixinBase):
    """What every store does with ``ENCRYPTION_KEY``; mix into a ``TestCase``."""

    at_rest = False
    """Set by backends that keep data at rest: enables the raw-bytes and restart tests."""

    async def sealed_store(self, key_ring: KeyRing | None) -> IChatStore:
        """Return a started, empty store sealing with ``key_ring``, closed when the test ends."""
        raise NotImplementedError

    async def restart(self, store: IChatStore, key_ring: KeyRing | None) -> IChatStore:
        """Close ``store`` and start one on the same data with ``key_ring``.

        For a backend at rest, whose ``sealed_store`` opens the test's one
        database (a file, a schema) each time.
        """
        await store.close()
        return await self.sealed_store(key_ring)

    def raw_rows(self) -> list[tuple[Any, ...]]:
        """``(id, content, sealed)`` of every message as stored, by id."""
        raise NotImplementedError

    async def make_store(self) -> IChatStore:
        return await self.sealed_store(OLD_RING)

    async def make_user(self, store: IChatStore, name: str = "alice") -> User:
        """Register ``name`` with a fixed hash."""
        return await store.create_user(name, b"$2b$04$hash-of-" + name.encode(), 1_000)

    async def post(self, store: IChatStore, *messages: NewMessage) -> list[Message]:
        """Store ``messages`` in one call and return them as stored."""
        return [p.message for p in await store.add_messages(list(messages))]

    def need_rest(self) -> None:
        if not self.at_rest:
            raise SkipTest("this backend keeps nothing at rest")

    async def conversation(self, store: IChatStore) -> tuple[User, Room, list[int]]:
        """Alice posts, edits, replies and deletes: every way text reaches the store."""
        alice = await self.make_user(store)
        room = await store.ensure_room("General", "", 1)
        posted = await self.post(
            store,
            new_message(room, alice, f"the {WORDS[0]} swims"),
            new_message(room, alice, f"a {WORDS[1]} smiles"),
            new_message(room, alice, "gone soon, secret words"),
        )
        await store.edit_message(posted[1].id, alice.id, f"a {WORDS[1]} eats {WORDS[2]}", 2)
        await store.delete_message(posted[2].id, alice.id, 3)
        answer = new_message(room, alice, f"{WORDS[3]} and {WORDS[4]}")
        (reply,) = await self.post(store, replace(answer, reply_to=posted[0].id))
        return alice, room, [m.id for m in posted] + [reply.id]

    # -- sealed on write, opened on read ------------------------------------------

    async def test_text_reads_back_as_written(self) -> None:
        store = await self.make_store()
        _, room, ids = await self.conversation(store)
        history = await store.get_messages(room.id, 10)
        self.assertEqual(
            [m.content for m in history],
            [
                f"the {WORDS[0]} swims",
                f"a {WORDS[1]} eats {WORDS[2]}",
                "",
                f"{WORDS[3]} and {WORDS[4]}",
            ],
        )
        reply = await store.get_message(ids[3])
        assert reply.reply_preview is not None
        self.assertEqual(reply.reply_preview.excerpt, f"the {WORDS[0]} swims")
        events = await store.get_events(room.id, 0, 50)
        self.assertIn(f"a {WORDS[1]} eats {WORDS[2]}", [e.message.content for e in events])

    async def test_search_finds_sealed_text_by_whole_words(self) -> None:
        store = await self.make_store()
        _, room, ids = await self.conversation(store)
        found = await store.search_messages(WORDS[2].upper(), [room.id], None, 10)
        self.assertEqual([m.id for m in found], [ids[1]])
        found = await store.search_messages(f"{WORDS[3]} {WORDS[4]}", None, None, 10)
        self.assertEqual([m.id for m in found], [ids[3]])
        # Word equality only: no prefix, and an edited-away or deleted word is gone.
        self.assertEqual(await store.search_messages(WORDS[2][:5], None, None, 10), [])
        self.assertEqual(await store.search_messages("smiles", None, None, 10), [])
        self.assertEqual(await store.search_messages("secret", None, None, 10), [])

    async def test_no_plaintext_word_is_stored(self) -> None:
        self.need_rest()
        store = await self.make_store()
        _, _, ids = await self.conversation(store)
        rows = self.raw_rows()
        self.assertEqual([int(row[0]) for row in rows], ids)
        stored = repr(rows)
        for word in (*WORDS, "swims", "secret"):
            self.assertNotIn(word, stored)
        live = [row for row in rows if row[2] is not None]
        self.assertEqual(len(live), 3)
        self.assertEqual({sealed_key_id(bytes(row[2])) for row in live}, {"k1"})
        # The tokens column: letters a-p only, no text.
        for row in live:
            self.assertRegex(row[1], r"^[a-p]{16}( [a-p]{16})*$")

    # -- rotation -------------------------------------------------------------------

    async def test_rotation_reseals_everything_under_the_new_key(self) -> None:
        store = await self.make_store()
        _, room, ids = await self.conversation(store)
        if self.at_rest:
            store = await self.restart(store, NEW_RING)
        assert ISealingStore.providedBy(store)
        steps = []
        while True:
            step = await store.reseal_batch(2)
            steps.append(step)
            if step.done:
                break
        if self.at_rest:
            self.assertEqual(sum(step.resealed for step in steps), 3)
            self.assertEqual(
                {sealed_key_id(bytes(row[2])) for row in self.raw_rows() if row[2] is not None},
                {"k2"},
            )
            # k1 is retired: the new key alone opens everything now.
            store = await self.restart(store, ring(f"k2:{K2}"))
        found = await store.search_messages(WORDS[0], [room.id], None, 10)
        self.assertEqual([m.id for m in found], [ids[0]])
        found = await store.search_messages(WORDS[2], None, None, 10)
        self.assertEqual([m.content for m in found], [f"a {WORDS[1]} eats {WORDS[2]}"])

    async def test_rotation_resumes_and_redoes_nothing(self) -> None:
        self.need_rest()
        store = await self.make_store()
        await self.conversation(store)
        store = await self.restart(store, NEW_RING)
        assert ISealingStore.providedBy(store)
        first = await store.reseal_batch(1)
        self.assertEqual((first.resealed, first.done), (1, False))
        # Interrupted: a new process picks up after the last id.
        store = await self.restart(store, NEW_RING)
        assert ISealingStore.providedBy(store)
        second = await store.reseal_batch(1)
        self.assertGreater(second.after_id, first.after_id)
        rest = 0
        while not (step := await store.reseal_batch(100)).done:
            rest += step.resealed
        self.assertEqual(second.resealed + rest, 2)
        # Once done, a new run finds nothing left to do.
        again = await store.reseal_batch(100)
        while not again.done:
            self.assertEqual(again.resealed, 0)
            again = await store.reseal_batch(100)

    async def test_rotation_encrypts_plaintext_from_before(self) -> None:
        self.need_rest()
        store = await self.sealed_store(None)
        _, room, ids = await self.conversation(store)
        self.assertIn(WORDS[0], repr(self.raw_rows()))
        store = await self.restart(store, OLD_RING)
        # Found before the rotation (the plain word), and after it (the token).
        found = await store.search_messages(WORDS[0], None, None, 10)
        self.assertEqual([m.id for m in found], [ids[0]])
        assert ISealingStore.providedBy(store)
        while not (await store.reseal_batch(100)).done:
            pass
        self.assertNotIn(WORDS[0], repr(self.raw_rows()))
        found = await store.search_messages(WORDS[0], [room.id], None, 10)
        self.assertEqual([m.content for m in found], [f"the {WORDS[0]} swims"])

    async def test_rotation_needs_a_key(self) -> None:
        store = await self.sealed_store(None)
        assert ISealingStore.providedBy(store)
        await failure_of(self, store.reseal_batch(10), NothingToRotateTo)

    # -- a missing or wrong key stops start-up -------------------------------------

    async def assert_start_refused(self, store: IChatStore, key_ring: KeyRing | None) -> str:
        restarted = Deferred.fromCoroutine(self.restart(store, key_ring))
        error = await failure_of(self, restarted, WrongEncryptionKey)
        self.assertTrue(error.message.startswith("ENCRYPTION_KEY: "), error.message)
        self.assertNotIn("\n", error.message)
        return error.message

    async def test_start_without_the_key_is_refused(self) -> None:
        self.need_rest()
        store = await self.make_store()
        await self.conversation(store)
        message = await self.assert_start_refused(store, None)
        self.assertIn("'k1'", message)

    async def test_start_with_a_wrong_key_is_refused(self) -> None:
        self.need_rest()
        store = await self.make_store()
        await self.conversation(store)
        message = await self.assert_start_refused(store, ring(f"k1:{new_key()}"))
        self.assertIn("'k1'", message)

    async def test_start_without_an_old_key_still_in_use_is_refused(self) -> None:
        self.need_rest()
        store = await self.make_store()
        await self.conversation(store)
        message = await self.assert_start_refused(store, ring(f"k2:{K2}"))
        self.assertIn("which the ring does not hold", message)
