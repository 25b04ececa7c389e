"""The push-subscription rules of ``IChatStore`` (``IPushStore``), on every backend."""

from __future__ import annotations

from chatservice.errors import NotFound
from chatservice.models import User
from chatservice.push_models import NewPushSubscription, PushSubscription
from chatservice.store import IChatStore
from tests.store_contract import MixinBase, failure_of


def new_sub(
    user: User, endpoint: str, created_at: int = 1_000, key: str = "k"
) -> NewPushSubscription:
    """A subscription of ``user`` at ``endpoint`` (keys are opaque to the store)."""
    return NewPushSubscription(user.id, endpoint, f"p256dh-{key}", f"auth-{key}", created_at)


class PushContractMixin(MixinBase):
    """Push subscriptions: add, replace, list, delete, forget, and the per-user bound.

    Not a ``StoreContractMixin``: its own module runs it on each store,
    without running the whole store contract again.
    """

    async def make_store(self) -> IChatStore:
        """Return a started, empty store that is closed when the test ends."""
        raise NotImplementedError

    async def two_users(self) -> tuple[IChatStore, User, User]:
        store = await self.make_store()
        users = [await store.create_user(name, b"$2b$04$hash", 1_000) for name in ("alice", "bob")]
        return store, users[0], users[1]

    async def test_a_subscription_is_stored_and_listed_per_user(self) -> None:
        """A new subscription fires with its row; the lists go by user, then id."""
        store, alice, bob = await self.two_users()
        first = await store.add_push_subscription(new_sub(alice, "https://push.test/a1"), 10)
        self.assertEqual(
            first,
            PushSubscription(
                first.id, alice.id, "https://push.test/a1", "p256dh-k", "auth-k", 1_000
            ),
        )
        second = await store.add_push_subscription(new_sub(bob, "https://push.test/b1", 2_000), 10)
        third = await store.add_push_subscription(
            new_sub(alice, "https://push.test/a2", 3_000), 10
        )
        self.assertEqual(await store.push_subscriptions([alice.id]), [first, third])
        self.assertEqual(
            await store.push_subscriptions([bob.id, alice.id]), [first, third, second]
        )
        self.assertEqual(await store.push_subscriptions([]), [])
        self.assertEqual(await store.push_subscriptions([999, 2**70]), [])

    async def test_the_same_endpoint_again_replaces_the_row_and_keeps_its_id(self) -> None:
        """An endpoint is one row: registered again (by anyone) it takes the new values."""
        store, alice, bob = await self.two_users()
        first = await store.add_push_subscription(new_sub(alice, "https://push.test/x"), 10)
        again = await store.add_push_subscription(
            new_sub(bob, "https://push.test/x", 5_000, key="new"), 10
        )
        self.assertEqual(again.id, first.id)
        self.assertEqual(
            (again.user_id, again.p256dh, again.created_at), (bob.id, "p256dh-new", 5_000)
        )
        self.assertEqual(await store.push_subscriptions([alice.id]), [])
        self.assertEqual(await store.push_subscriptions([bob.id]), [again])

    async def test_past_the_bound_the_oldest_subscriptions_go(self) -> None:
        """With a bound of 2, a third subscription drops the user's oldest; others keep theirs."""
        store, alice, bob = await self.two_users()
        kept_of_bob = await store.add_push_subscription(new_sub(bob, "https://push.test/b", 1), 2)
        added = [
            await store.add_push_subscription(new_sub(alice, f"https://push.test/{n}", 10 + n), 2)
            for n in range(4)
        ]
        self.assertEqual(await store.push_subscriptions([alice.id]), added[2:])
        self.assertEqual(await store.push_subscriptions([bob.id]), [kept_of_bob])
        # A dropped endpoint registered again is the newest: now /2 is the oldest.
        renewed = await store.add_push_subscription(new_sub(alice, "https://push.test/0", 99), 2)
        self.assertEqual(await store.push_subscriptions([alice.id]), [added[3], renewed])

    async def test_delete_is_for_the_owner_only(self) -> None:
        """Only the owner deletes a subscription; another user or an unknown id: NotFound."""
        store, alice, bob = await self.two_users()
        mine = await store.add_push_subscription(new_sub(alice, "https://push.test/a"), 10)
        for user_id, sub_id in ((bob.id, mine.id), (alice.id, mine.id + 100), (alice.id, 2**70)):
            await failure_of(self, store.delete_push_subscription(user_id, sub_id), NotFound)
        self.assertEqual(await store.push_subscriptions([alice.id]), [mine])
        await store.delete_push_subscription(alice.id, mine.id)
        self.assertEqual(await store.push_subscriptions([alice.id]), [])

    async def test_a_gone_endpoint_is_forgotten(self) -> None:
        """A gone endpoint (a 404/410) is deleted; forgetting says whether it was there."""
        store, alice, _ = await self.two_users()
        gone = await store.add_push_subscription(new_sub(alice, "https://push.test/gone"), 10)
        kept = await store.add_push_subscription(new_sub(alice, "https://push.test/kept"), 10)
        self.assertIs(await store.forget_push_endpoint(gone.endpoint), True)
        self.assertIs(await store.forget_push_endpoint(gone.endpoint), False)
        self.assertEqual(await store.push_subscriptions([alice.id]), [kept])

    async def test_an_unknown_user_cannot_subscribe(self) -> None:
        """A subscription of a user that does not exist is NotFound."""
        store = await self.make_store()
        ghost = User(404, "ghost", 0)
        adding = store.add_push_subscription(new_sub(ghost, "https://p.test/"), 10)
        await failure_of(self, adding, NotFound)

    async def test_a_deleted_account_loses_its_subscriptions(self) -> None:
        """delete_account deletes the user's subscriptions with it; others keep theirs."""
        store, alice, bob = await self.two_users()
        await store.add_push_subscription(new_sub(alice, "https://push.test/a"), 10)
        kept = await store.add_push_subscription(new_sub(bob, "https://push.test/b"), 10)
        await store.delete_account(alice.id, 5_000)
        self.assertEqual(await store.push_subscriptions([alice.id, bob.id]), [kept])
