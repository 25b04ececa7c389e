"""``SQLStore``'s push subscriptions (``IPushStore``), on ``push_queries``.

Ids that cannot be bound as 64-bit integers are answered here without a
round trip, as ``sql.py`` does: no such row.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound
from chatservice.push_models import NewPushSubscription, PushSubscription
from chatservice.store import push_queries
from chatservice.store.database import Database
from chatservice.store.ranges import fits


class SQLPush:
    """Push subscriptions on ``self.database``."""

    database: Database

    def add_push_subscription(
        self, new: NewPushSubscription, limit: int
    ) -> Deferred[PushSubscription]:
        """Store or replace the endpoint's subscription; drop the user's oldest past ``limit``."""
        if not fits(new.user_id):
            return fail(NotFound("No such user."))
        return self.database.run_interaction("add_push_subscription", push_queries.add, new, limit)

    def push_subscriptions(self, user_ids: Sequence[int]) -> Deferred[Sequence[PushSubscription]]:
        """Fire with the users' subscriptions, by user id then id."""
        wanted = [user_id for user_id in user_ids if fits(user_id)]
        if not wanted:
            return succeed([])
        return self.database.run_read("push_subscriptions", push_queries.of_users, wanted)

    def delete_push_subscription(self, user_id: int, subscription_id: int) -> Deferred[None]:
        """Delete the user's subscription; ``NotFound`` if it is not theirs."""
        if not (fits(user_id) and fits(subscription_id)):
            return fail(NotFound("No such push subscription."))
        return self.database.run_interaction(
            "delete_push_subscription", push_queries.delete, user_id, subscription_id
        )

    def forget_push_endpoint(self, endpoint: str) -> Deferred[bool]:
        """Delete the endpoint's subscription, if there is one."""
        return self.database.run_interaction("forget_push_endpoint", push_queries.forget, endpoint)
