"""The ``IAccountStore`` contract: generations, revoked sessions, disabled, deleted, admins.

``AccountContractMixin`` is mixed into each backend's contract test case
beside the others, so every rule holds on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, gatherResults

from chatservice.errors import NotFound
from chatservice.models import (
    DELETED,
    DELETED_USERNAME,
    Account,
    ErasePage,
    NewMessage,
    Room,
    User,
)
from chatservice.store import IChatStore
from tests.store_contract import PAST_64_BITS, StoreContractMixin, new_message

NOW = 1_700_000_000  # seconds
LATER = NOW + 3600


class AccountContractMixin(StoreContractMixin):
    """Every rule of ``IAccountStore``."""

    async def account(self, store: IChatStore, user: User) -> Account:
        """The user's account as ``get_accounts`` reads it at ``NOW``."""
        return (await store.get_accounts([user.id], NOW))[user.id]

    async def two_users(self) -> tuple[IChatStore, User, User]:
        """A store with alice and bob."""
        store = await self.make_store()
        return store, await self.make_user(store, "alice"), await self.make_user(store, "bob")

    # -- reading -----------------------------------------------------------------

    async def test_a_new_account_has_generation_0_and_nothing_set(self) -> None:
        """Generation 0, version 0, not admin, not disabled, not deleted, nothing revoked."""
        store, alice, _ = await self.two_users()
        self.assertEqual(await self.account(store, alice), Account(alice))

    async def test_get_accounts_reads_many_at_once_and_skips_unknown_ids(self) -> None:
        """Known ids come back by id; unknown ones, and ids past 64 bits, are left out."""
        store, alice, bob = await self.two_users()
        found = await store.get_accounts([bob.id, 999, alice.id, *PAST_64_BITS], NOW)
        self.assertEqual(set(found), {alice.id, bob.id})
        self.assertEqual(found[bob.id].user, bob)
        self.assertEqual(await store.get_accounts([], NOW), {})

    async def test_many_accounts_come_back_whole(self) -> None:
        """600 ids (more than one IN list) are all read, with their revoked sessions."""
        store = await self.make_store()
        users = [await self.make_user(store, f"user{n}") for n in range(600)]
        await store.revoke_session(users[-1].id, "s-last", LATER, NOW)
        found = await store.get_accounts([u.id for u in users], NOW)
        self.assertEqual(len(found), 600)
        self.assertEqual(found[users[-1].id].revoked, {"s-last"})

    # -- sessions and generations ------------------------------------------------

    async def test_revoking_a_session_keeps_it_until_its_token_expires(self) -> None:
        """A revoked session is listed while unexpired, not after; the version grows once."""
        store, alice, bob = await self.two_users()
        first = await store.revoke_session(alice.id, "s-1", NOW + 10, NOW)
        self.assertEqual((first.revoked, first.version, first.generation), ({"s-1"}, 1, 0))
        again = await store.revoke_session(alice.id, "s-1", NOW + 10, NOW)
        self.assertEqual((again.revoked, again.version), ({"s-1"}, 1))
        self.assertEqual((await store.get_accounts([alice.id], NOW + 10))[alice.id].revoked, set())
        self.assertEqual((await self.account(store, bob)).revoked, set())

    async def test_expired_sessions_are_forgotten_when_another_is_revoked(self) -> None:
        """Revoking after an expiry forgets the expired session of any user, for good."""
        store, alice, bob = await self.two_users()
        await store.revoke_session(alice.id, "old", NOW + 10, NOW)
        await store.revoke_session(bob.id, "new", LATER, NOW + 20)
        # Read "in the past": only a session still stored could show up.
        self.assertEqual((await self.account(store, alice)).revoked, set())
        self.assertEqual((await self.account(store, bob)).revoked, {"new"})

    async def test_revoking_all_sessions_bumps_the_generation_and_forgets_single_ones(
        self,
    ) -> None:
        """The generation and version grow; sessions revoked one by one are no longer listed."""
        store, alice, _ = await self.two_users()
        await store.revoke_session(alice.id, "s-1", LATER, NOW)
        account = await store.revoke_all_sessions(alice.id)
        self.assertEqual((account.generation, account.version, account.revoked), (1, 2, set()))
        self.assertEqual(await self.account(store, alice), account)
        self.assertEqual((await store.revoke_all_sessions(alice.id)).generation, 2)

    async def test_changes_of_unknown_users_are_not_found(self) -> None:
        """Every change of an id that names no user (or past 64 bits) is NotFound."""
        store = await self.make_store()
        for user_id in (999, *PAST_64_BITS):
            changes: list[Deferred[Any]] = [
                store.revoke_session(user_id, "s", LATER, NOW),
                store.revoke_all_sessions(user_id),
                store.set_password(user_id, b"h"),
                store.set_disabled(user_id, 1),
                store.delete_account(user_id, 1),
                store.erase_messages(ErasePage(user_id, user_id, 10, 1)),
            ]
            for change in changes:
                await self.assertFailure(change, NotFound)
        await self.assertFailure(store.set_admin("nobody", True), NotFound)

    async def test_a_new_password_is_what_login_reads_and_revokes_every_token(self) -> None:
        """The hash is replaced and the generation bumped, together."""
        store, alice, _ = await self.two_users()
        account = await store.set_password(alice.id, b"new-hash")
        self.assertEqual((account.generation, account.version), (1, 1))
        self.assertEqual((await store.get_credentials("ALICE")).password_hash, b"new-hash")

    # -- disabled, admins --------------------------------------------------------

    async def test_disabling_and_enabling_are_each_done_once(self) -> None:
        """The first disable sets the time and the version; a repeat changes neither."""
        store, alice, _ = await self.two_users()
        disabled = await store.set_disabled(alice.id, 5_000)
        self.assertEqual(
            (disabled.disabled_at, disabled.disabled, disabled.version), (5_000, True, 1)
        )
        again = await store.set_disabled(alice.id, 6_000)
        self.assertEqual((again.disabled_at, again.version), (5_000, 1))
        enabled = await store.set_disabled(alice.id, None)
        self.assertEqual((enabled.disabled, enabled.version), (False, 2))
        self.assertEqual((await store.set_disabled(alice.id, None)).version, 2)
        self.assertEqual(await self.account(store, alice), enabled)

    async def test_admins_are_named_case_insensitively_and_listed(self) -> None:
        """set_admin finds the user by name in any case; admins_only lists just them."""
        store, alice, bob = await self.two_users()
        granted = await store.set_admin("ALICE", True)
        self.assertEqual((granted.user, granted.admin), (alice, True))
        admins = await store.list_accounts(None, 0, 10, admins_only=True)
        self.assertEqual([a.user for a in admins], [alice])
        self.assertFalse((await store.set_admin("alice", False)).admin)
        self.assertEqual(await store.list_accounts(None, 0, 10, admins_only=True), [])
        self.assertFalse((await self.account(store, bob)).admin)

    # -- listing -----------------------------------------------------------------

    async def test_listing_pages_in_id_order_and_finds_names_by_any_part(self) -> None:
        """``after`` and ``limit`` page; ``query`` matches a part of the name in any case."""
        store = await self.make_store()
        users = [
            await self.make_user(store, name)
            for name in ("Alice", "bob", "MALICE", "carol", "al_ex", "al%x")
        ]
        listed = await store.list_accounts(None, 0, 4)
        self.assertEqual([a.user for a in listed], users[:4])
        rest = await store.list_accounts(None, users[3].id, 10)
        self.assertEqual([a.user for a in rest], users[4:])
        found = await store.list_accounts("ALI", 0, 10)
        self.assertEqual([a.user.username for a in found], ["Alice", "MALICE"])
        self.assertEqual(
            [a.user.username for a in await store.list_accounts("l_", 0, 10)], ["al_ex"]
        )
        self.assertEqual(
            [a.user.username for a in await store.list_accounts("%", 0, 10)], ["al%x"]
        )
        self.assertEqual([a.user.username for a in await store.list_accounts("!", 0, 10)], [])
        self.assertEqual(await store.list_accounts(None, 0, 0), [])
        self.assertEqual(await store.list_accounts(None, 2**63 - 1, 10), [])

    # -- deleting ----------------------------------------------------------------

    async def test_a_deleted_account_frees_its_name_and_keeps_its_row(self) -> None:
        """Renamed, hash emptied, generation bumped, flags cleared; the name can be registered."""
        store, alice, _ = await self.two_users()
        await store.set_admin("alice", True)
        await store.set_disabled(alice.id, 5)
        await store.revoke_session(alice.id, "s", LATER, NOW)
        deleted = await store.delete_account(alice.id, 7_000)
        self.assertEqual(deleted.user, User(alice.id, DELETED_USERNAME, alice.created_at))
        self.assertEqual(
            (deleted.deleted_at, deleted.generation, deleted.admin, deleted.disabled),
            (7_000, 1, False, False),
        )
        self.assertEqual(await self.account(store, alice), deleted)
        await self.assertFailure(store.get_credentials("alice"), NotFound)
        await self.assertFailure(store.get_credentials(DELETED_USERNAME), NotFound)
        again = await store.create_user("Alice", b"h", 2)
        self.assertNotEqual(again.id, alice.id)

    async def test_a_deleted_account_changes_no_more(self) -> None:
        """Sessions, passwords, disabling, admin and a second deletion are all NotFound."""
        store, alice, _ = await self.two_users()
        await store.delete_account(alice.id, 1)
        for change in (
            store.revoke_session(alice.id, "s", LATER, NOW),
            store.revoke_all_sessions(alice.id),
            store.set_password(alice.id, b"h"),
            store.set_disabled(alice.id, 1),
            store.delete_account(alice.id, 2),
        ):
            await self.assertFailure(change, NotFound)
        await self.assertFailure(store.set_admin("alice", True), NotFound)
        listed = await store.list_accounts(None, 0, 10)
        self.assertEqual([a.deleted for a in listed], [True, False])

    # -- erasing messages --------------------------------------------------------

    async def room_of_alice_and_bob(self) -> tuple[IChatStore, Room, User, User, list[int]]:
        """Alice's 5 messages and bob's 2, interleaved, one of alice's with a reaction."""
        store, alice, bob = await self.two_users()
        room = await store.ensure_room("General", "", 1)
        ids = []
        for n in range(5):
            ids += [m.id for m in await self.post(store, new_message(room, alice, f"a{n}"))]
            if n < 2:
                await self.post(store, new_message(room, bob, f"b{n}"))
        await store.set_reaction(ids[0], bob.id, "👍", True, 1)
        return store, room, alice, bob, ids

    async def test_erasing_tombstones_the_users_messages_page_by_page(self) -> None:
        """Pages of ``limit``, oldest first, each a delete event by the eraser; bob's stay."""
        store, room, alice, bob, ids = await self.room_of_alice_and_bob()
        first = await store.erase_messages(ErasePage(alice.id, bob.id, 3, 9))
        self.assertEqual([c.event.message.id for c in first], ids[:3])
        for change in first:
            message = change.event.message
            self.assertTrue(change.changed)
            self.assertEqual(change.event.kind, DELETED)
            self.assertEqual((message.deleted, message.content, message.reactions), (True, "", ()))
            self.assertEqual(message.username, "alice")
        rest = await store.erase_messages(ErasePage(alice.id, bob.id, 3, 9, after=ids[2]))
        self.assertEqual([c.event.message.id for c in rest], ids[3:])
        self.assertEqual(await store.erase_messages(ErasePage(alice.id, bob.id, 3, 9)), [])
        history = await store.get_messages(room.id, 100)
        self.assertEqual([m.content for m in history if not m.deleted], ["b0", "b1"])
        events = await store.get_events(room.id, 0, 100)
        deletes = [e for e in events if e.kind == DELETED]
        self.assertEqual([e.id for e in deletes], [c.event.id for c in [*first, *rest]])
        self.assertEqual(sorted(e.id for e in events), [e.id for e in events])

    async def test_erasing_with_a_new_name_renames_tombstones_and_previews(self) -> None:
        """With ``rename`` every message takes the name, tombstones too; replies show it."""
        store, room, alice, bob, ids = await self.room_of_alice_and_bob()
        await store.delete_message(ids[1], alice.id, 2)
        [reply] = await self.post(store, NewMessage(room.id, bob.id, "bob", "re", 3, None, ids[1]))
        changes = await store.erase_messages(
            ErasePage(alice.id, alice.id, 100, 9, rename=DELETED_USERNAME)
        )
        self.assertEqual([c.event.message.id for c in changes], ids)
        self.assertEqual({c.event.message.username for c in changes}, {DELETED_USERNAME})
        got = await store.get_message(reply.id)
        assert got.reply_preview is not None
        self.assertEqual(got.reply_preview.username, DELETED_USERNAME)
        self.assertEqual(
            await store.erase_messages(ErasePage(alice.id, alice.id, 100, 9, DELETED_USERNAME)), []
        )

    async def test_erasing_leaves_the_search_index_without_the_words(self) -> None:
        """Erased messages are no longer found; others still are."""
        store, _, alice, bob, _ = await self.room_of_alice_and_bob()
        await store.erase_messages(ErasePage(alice.id, bob.id, 100, 9))
        self.assertEqual(await store.search_messages("a1", None, None, 10), [])
        self.assertEqual(len(await store.search_messages("b1", None, None, 10)), 1)

    async def test_concurrent_account_changes_each_count(self) -> None:
        """Two revocations at once: both are stored and the version grew twice."""
        store, alice, _ = await self.two_users()
        await gatherResults(
            [
                store.revoke_session(alice.id, "s-1", LATER, NOW),
                store.revoke_session(alice.id, "s-2", LATER, NOW),
            ]
        )
        account = await self.account(store, alice)
        self.assertEqual((account.revoked, account.version), ({"s-1", "s-2"}, 2))

    async def test_restart_keeps_every_account_change(self) -> None:
        """Generations, sessions, flags and deletions survive a restart."""
        if not self.durable:
            self.skipTest("not a durable store")
        store, alice, bob = await self.two_users()
        await store.revoke_session(alice.id, "s-1", LATER, NOW)
        await store.set_disabled(alice.id, 5)
        await store.set_admin("alice", True)
        await store.revoke_all_sessions(bob.id)
        await store.revoke_session(bob.id, "s-2", LATER, NOW)
        before = await store.get_accounts([alice.id, bob.id], NOW)
        store = await self.reopen_store(store)
        self.assertEqual(await store.get_accounts([alice.id, bob.id], NOW), before)
