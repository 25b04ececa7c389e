"""The ``IHookStore`` contract: webhooks' cursors, leases, outcomes, dead letters; bots' keys.

``HookContractMixin`` is mixed into each backend's contract test case
beside the others, so every rule holds on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from chatservice.access_models import JOINED, MemberUpdate
from chatservice.errors import Conflict, NotFound
from chatservice.hook_models import DEAD, DELIVERED, FAILED, NewWebhook, Outcome, Webhook
from chatservice.models import NewRoom, Room, User
from chatservice.store import IChatStore
from tests.store_contract import PAST_64_BITS, StoreContractMixin, failure_of, new_message

NOW = 1_700_000_000_000  # ms
LEASE = NOW + 60_000


class HookContractMixin(StoreContractMixin):
    """Every rule of ``IHookStore``."""

    async def room_and_hook(self) -> tuple[IChatStore, Room, User, Webhook]:
        """A store with a room, alice (its creator) and one message before a webhook."""
        store = await self.make_store()
        alice = await self.make_user(store)
        room = await store.create_room(NewRoom("Ops", "", alice.id, 1_000))
        await self.post(store, new_message(room, alice, "before"))
        hook = await store.create_webhook(
            NewWebhook(room.id, "https://hooks.example/x", "whsec_s", alice.id, NOW)
        )
        return store, room, alice, hook

    def outcome(self, hook: Webhook, kind: str, event_id: int, **fields: object) -> Outcome:
        """An outcome of owner ``p1`` for ``hook``."""
        return Outcome(hook.id, "p1", kind, event_id, NOW, LEASE, **fields)  # type: ignore[arg-type]

    # -- registering ----------------------------------------------------------------

    async def test_a_webhook_starts_after_the_rooms_newest_event(self) -> None:
        """Events before the registration are not its work: nothing is due until a new one."""
        store, room, alice, hook = await self.room_and_hook()
        self.assertEqual(hook.delivered_through, (await store.get_events(room.id, 0, 10))[-1].id)
        self.assertEqual((hook.secret, hook.attempts, hook.last_error), ("whsec_s", 0, None))
        self.assertEqual(await store.claim_webhooks("p1", NOW, LEASE, 10), [])
        [message] = await self.post(store, new_message(room, alice, "after"))
        [claimed] = await store.claim_webhooks("p1", NOW, LEASE, 10)
        self.assertEqual(claimed.id, hook.id)
        self.assertLess(claimed.delivered_through, message.id)

    async def test_a_member_event_is_work_too(self) -> None:
        """A join after the registration makes the webhook due."""
        store, room, alice, hook = await self.room_and_hook()
        bob = await self.make_user(store, "bob")
        await store.change_member(room.id, bob.id, MemberUpdate("joined", bob.id, 5, state=JOINED))
        self.assertEqual(
            [w.id for w in await store.claim_webhooks("p1", NOW, LEASE, 10)], [hook.id]
        )

    async def test_webhooks_are_listed_by_room_and_deleted_with_their_dead_letters(self) -> None:
        """list_webhooks per room; delete_webhook forgets it; unknown ids are NotFound."""
        store, room, alice, hook = await self.room_and_hook()
        other = await store.create_room(NewRoom("Other", "", alice.id, 1_000))
        second = await store.create_webhook(
            NewWebhook(room.id, "https://b.example/", "s2", alice.id, NOW)
        )
        await store.create_webhook(NewWebhook(other.id, "https://c.example/", "s3", alice.id, NOW))
        self.assertEqual([w.id for w in await store.list_webhooks(room.id)], [hook.id, second.id])
        self.assertEqual(await store.get_webhook(second.id), second)
        await store.delete_webhook(hook.id)
        await failure_of(self, store.get_webhook(hook.id), NotFound)
        await failure_of(self, store.delete_webhook(hook.id), NotFound)
        self.assertEqual([w.id for w in await store.list_webhooks(room.id)], [second.id])
        for bad in PAST_64_BITS[:2]:
            await failure_of(self, store.get_webhook(bad), NotFound)

    async def test_a_webhook_needs_a_room(self) -> None:
        """An unknown room is NotFound."""
        store = await self.make_store()
        alice = await self.make_user(store)
        await failure_of(
            self, store.create_webhook(NewWebhook(999, "https://x/", "s", alice.id, NOW)), NotFound
        )

    # -- leases and outcomes ----------------------------------------------------------

    async def test_a_lease_keeps_other_owners_out_until_it_runs_out_or_is_released(self) -> None:
        """p2 gets nothing while p1 holds the lease; after it ends (or is released) it does."""
        store, room, alice, hook = await self.room_and_hook()
        await self.post(store, new_message(room, alice, "after"))
        self.assertEqual(len(await store.claim_webhooks("p1", NOW, LEASE, 10)), 1)
        self.assertEqual(await store.claim_webhooks("p2", NOW + 1, NOW + 2, 10), [])
        self.assertEqual(len(await store.claim_webhooks("p2", LEASE, LEASE + 5, 10)), 1)
        self.assertEqual(await store.claim_webhooks("p1", LEASE + 1, LEASE + 9, 10), [])
        await store.release_webhook(hook.id, "p1")  # not p1's any more: no effect
        self.assertEqual(await store.claim_webhooks("p1", LEASE + 1, LEASE + 9, 10), [])
        await store.release_webhook(hook.id, "p2")
        self.assertEqual(len(await store.claim_webhooks("p1", LEASE + 1, LEASE + 9, 10)), 1)

    async def test_an_outcome_is_recorded_only_under_its_owners_lease(self) -> None:
        """Without the lease (or the webhook) record_outcome is False and changes nothing."""
        store, room, alice, hook = await self.room_and_hook()
        [message] = await self.post(store, new_message(room, alice, "after"))
        self.assertFalse(await store.record_outcome(self.outcome(hook, DELIVERED, message.id)))
        self.assertEqual(await store.get_webhook(hook.id), hook)
        await store.claim_webhooks("p2", NOW, LEASE, 10)
        self.assertFalse(await store.record_outcome(self.outcome(hook, DELIVERED, message.id)))
        await store.delete_webhook(hook.id)
        self.assertFalse(await store.record_outcome(self.outcome(hook, DELIVERED, message.id)))

    async def test_delivered_moves_the_cursor_and_failed_keeps_the_retry_state(self) -> None:
        """A failure stores attempts, times and error; a success clears them and moves on."""
        store, room, alice, hook = await self.room_and_hook()
        first, second = await self.post(
            store, new_message(room, alice, "one"), new_message(room, alice, "two")
        )
        await store.claim_webhooks("p1", NOW, LEASE, 10)
        failed = self.outcome(
            hook,
            FAILED,
            first.id,
            attempts=2,
            first_failed_at=NOW - 10,
            next_attempt_at=NOW + 5_000,
            last_error="HTTP 503",
        )
        self.assertTrue(await store.record_outcome(failed))
        stored = await store.get_webhook(hook.id)
        self.assertEqual(
            (stored.delivered_through, stored.attempts, stored.first_failed_at),
            (hook.delivered_through, 2, NOW - 10),
        )
        self.assertEqual((stored.next_attempt_at, stored.last_error), (NOW + 5_000, "HTTP 503"))
        # Not due before next_attempt_at, even for its own owner.
        self.assertEqual(await store.claim_webhooks("p1", NOW + 4_999, LEASE, 10), [])
        self.assertEqual(len(await store.claim_webhooks("p1", NOW + 5_000, LEASE, 10)), 1)
        self.assertTrue(await store.record_outcome(self.outcome(hook, DELIVERED, first.id)))
        stored = await store.get_webhook(hook.id)
        self.assertEqual((stored.delivered_through, stored.attempts), (first.id, 0))
        self.assertEqual((stored.first_failed_at, stored.next_attempt_at), (None, 0))
        self.assertIsNone(stored.last_error)
        self.assertTrue(await store.record_outcome(self.outcome(hook, DELIVERED, second.id)))
        self.assertEqual((await store.get_webhook(hook.id)).delivered_through, second.id)
        self.assertEqual(await store.claim_webhooks("p1", NOW, LEASE, 10), [])

    async def test_a_dead_letter_moves_the_cursor_and_is_listed_with_its_error(self) -> None:
        """DEAD writes one dead letter (once, even if recorded twice) and moves on."""
        store, room, alice, hook = await self.room_and_hook()
        first, second = await self.post(
            store, new_message(room, alice, "one"), new_message(room, alice, "two")
        )
        await store.claim_webhooks("p1", NOW, LEASE, 10)
        dead = self.outcome(hook, DEAD, first.id, attempts=9, last_error="timeout")
        self.assertTrue(await store.record_outcome(dead))
        self.assertTrue(await store.record_outcome(dead))
        self.assertEqual((await store.get_webhook(hook.id)).delivered_through, first.id)
        [letter] = await store.list_dead_letters(hook.id, None, 10)
        self.assertEqual(
            (letter.webhook_id, letter.event_id, letter.attempts, letter.last_error),
            (hook.id, first.id, 9, "timeout"),
        )
        self.assertEqual((letter.failed_at, letter.retry), (NOW, False))
        self.assertIsNone(await store.next_retry(hook.id))
        await store.record_outcome(self.outcome(hook, DEAD, second.id, attempts=1, last_error="x"))
        letters = await store.list_dead_letters(hook.id, None, 10)
        self.assertEqual([d.event_id for d in letters], [second.id, first.id])
        self.assertEqual(
            [d.event_id for d in await store.list_dead_letters(hook.id, letters[0].id, 10)],
            [first.id],
        )
        self.assertEqual(len(await store.list_dead_letters(hook.id, None, 1)), 1)

    async def test_a_retried_dead_letter_is_work_and_leaves_when_delivered(self) -> None:
        """Retry marks it (due again); DELIVERED of it deletes it without moving the cursor."""
        store, room, alice, hook = await self.room_and_hook()
        first, second = await self.post(
            store, new_message(room, alice, "one"), new_message(room, alice, "two")
        )
        await store.claim_webhooks("p1", NOW, LEASE, 10)
        await store.record_outcome(self.outcome(hook, DEAD, first.id, attempts=3, last_error="e"))
        await store.record_outcome(self.outcome(hook, DELIVERED, second.id))
        await store.release_webhook(hook.id, "p1")
        self.assertEqual(await store.claim_webhooks("p1", NOW, LEASE, 10), [])
        [letter] = await store.list_dead_letters(hook.id, None, 10)
        marked = await store.retry_dead_letter(hook.id, letter.id)
        self.assertTrue(marked.retry)
        self.assertEqual(await store.next_retry(hook.id), marked)
        self.assertEqual(len(await store.claim_webhooks("p1", NOW, LEASE, 10)), 1)
        # Failing again for the whole period: the same letter, not marked any more.
        again = self.outcome(
            hook, DEAD, first.id, dead_letter_id=letter.id, attempts=4, last_error="again"
        )
        self.assertTrue(await store.record_outcome(again))
        [letter] = await store.list_dead_letters(hook.id, None, 10)
        self.assertEqual((letter.attempts, letter.last_error, letter.retry), (4, "again", False))
        await store.retry_dead_letter(hook.id, letter.id)
        done = self.outcome(hook, DELIVERED, first.id, dead_letter_id=letter.id)
        self.assertTrue(await store.record_outcome(done))
        self.assertEqual(await store.list_dead_letters(hook.id, None, 10), [])
        self.assertEqual((await store.get_webhook(hook.id)).delivered_through, second.id)

    async def test_dead_letters_are_discarded_and_unknown_ones_are_not_found(self) -> None:
        """Discard deletes; another webhook's letter, or none, is NotFound."""
        store, room, alice, hook = await self.room_and_hook()
        [message] = await self.post(store, new_message(room, alice, "one"))
        other = await store.create_webhook(
            NewWebhook(room.id, "https://b.example/", "s2", alice.id, NOW)
        )
        await store.claim_webhooks("p1", NOW, LEASE, 10)
        await store.record_outcome(
            self.outcome(hook, DEAD, message.id, attempts=1, last_error="e")
        )
        [letter] = await store.list_dead_letters(hook.id, None, 10)
        await failure_of(self, store.retry_dead_letter(other.id, letter.id), NotFound)
        await failure_of(self, store.discard_dead_letter(other.id, letter.id), NotFound)
        await store.discard_dead_letter(hook.id, letter.id)
        await failure_of(self, store.discard_dead_letter(hook.id, letter.id), NotFound)
        await failure_of(self, store.retry_dead_letter(hook.id, PAST_64_BITS[0]), NotFound)
        self.assertEqual(await store.list_dead_letters(hook.id, None, 10), [])

    async def test_claims_respect_the_limit_and_the_most_overdue_go_first(self) -> None:
        """At most ``limit`` webhooks; ordered by next_attempt_at, then id."""
        store, room, alice, hook = await self.room_and_hook()
        second = await store.create_webhook(
            NewWebhook(room.id, "https://b.example/", "s2", alice.id, NOW)
        )
        await self.post(store, new_message(room, alice, "after"))
        [claimed] = await store.claim_webhooks("p1", NOW, LEASE, 1)
        self.assertEqual(claimed.id, hook.id)
        [claimed] = await store.claim_webhooks("p2", NOW, LEASE, 5)
        self.assertEqual(claimed.id, second.id)

    async def test_the_cursor_and_dead_letters_survive_a_restart(self) -> None:
        """A durable store keeps cursor, retry state and dead letters."""
        if not self.durable:
            self.skipTest("not a durable store")
        store, room, alice, hook = await self.room_and_hook()
        first, second = await self.post(
            store, new_message(room, alice, "one"), new_message(room, alice, "two")
        )
        await store.claim_webhooks("p1", NOW, LEASE, 10)
        await store.record_outcome(self.outcome(hook, DEAD, first.id, attempts=2, last_error="e"))
        failed = self.outcome(
            hook, FAILED, second.id, attempts=1, first_failed_at=NOW, next_attempt_at=NOW + 9
        )
        await store.record_outcome(failed)
        before = await store.get_webhook(hook.id)
        letters = await store.list_dead_letters(hook.id, None, 10)
        store = await self.reopen_store(store)
        self.assertEqual(await store.get_webhook(hook.id), before)
        self.assertEqual(await store.list_dead_letters(hook.id, None, 10), letters)

    # -- bots -----------------------------------------------------------------------

    async def test_a_bot_is_found_by_its_keys_hash_until_revoked(self) -> None:
        """add_bot, bot_by_key, set_bot_key (replace, revoke), get_bot, list_bots."""
        store = await self.make_store()
        alice = await self.make_user(store)
        room = await store.create_room(NewRoom("Ops", "", alice.id, 1_000))
        robot = await self.make_user(store, "robot")
        bot = await store.add_bot(robot.id, alice.id, room.id, "h1", NOW)
        self.assertEqual(
            (bot.user_id, bot.username, bot.created_by, bot.room_id, bot.key_hash),
            (robot.id, "robot", alice.id, room.id, "h1"),
        )
        self.assertEqual((bot.created_at, bot.key_created_at), (NOW, NOW))
        self.assertEqual(await store.bot_by_key("h1"), bot)
        self.assertIsNone(await store.bot_by_key("h2"))
        replaced = await store.set_bot_key(robot.id, "h2", NOW + 5)
        self.assertEqual((replaced.key_hash, replaced.key_created_at), ("h2", NOW + 5))
        self.assertIsNone(await store.bot_by_key("h1"))
        self.assertEqual(await store.bot_by_key("h2"), replaced)
        revoked = await store.set_bot_key(robot.id, None, NOW + 6)
        self.assertEqual((revoked.key_hash, revoked.key_created_at), (None, None))
        self.assertIsNone(await store.bot_by_key("h2"))
        self.assertEqual(await store.get_bot(robot.id), revoked)

    async def test_bots_are_listed_by_creator_and_a_user_is_a_bot_once(self) -> None:
        """list_bots(creator) and list_bots(None); Conflict twice; NotFound for no user or bot."""
        store = await self.make_store()
        alice, bob = await self.make_user(store), await self.make_user(store, "bob")
        one, two = await self.make_user(store, "one"), await self.make_user(store, "two")
        await store.add_bot(one.id, alice.id, None, "k1", NOW)
        await store.add_bot(two.id, bob.id, None, "k2", NOW)
        await failure_of(self, store.add_bot(one.id, alice.id, None, "k3", NOW), Conflict)
        await failure_of(self, store.add_bot(999, alice.id, None, "k4", NOW), NotFound)
        await failure_of(self, store.add_bot(bob.id, alice.id, 999, "k5", NOW), NotFound)
        self.assertEqual([b.user_id for b in await store.list_bots(alice.id)], [one.id])
        self.assertEqual([b.user_id for b in await store.list_bots(None)], [one.id, two.id])
        await failure_of(self, store.get_bot(alice.id), NotFound)
        await failure_of(self, store.set_bot_key(alice.id, None, NOW), NotFound)
