"""``MemoryStore``'s push subscriptions (``IPushStore``), in dicts.

The same rules as ``push_queries``: one row per endpoint, replaced when
registered again; past the user's bound the oldest go.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound
from chatservice.models import User
from chatservice.push_models import NewPushSubscription, PushSubscription


class MemoryPush:
    """Push subscriptions in process memory; mixed into ``MemoryStore``."""

    _users: dict[int, User]

    def _init_push(self) -> None:
        self._push_by_id: dict[int, PushSubscription] = {}
        self._push_ids_by_endpoint: dict[str, int] = {}
        self._push_ids_by_user: dict[int, set[int]] = {}
        self._next_push_id = 1

    def add_push_subscription(
        self, new: NewPushSubscription, limit: int
    ) -> Deferred[PushSubscription]:
        """Store or replace the endpoint's subscription; drop the user's oldest past ``limit``."""
        if new.user_id not in self._users:
            return fail(NotFound("No such user."))
        known = self._push_ids_by_endpoint.get(new.endpoint)
        if known is None:
            known = self._next_push_id
            self._next_push_id += 1
        else:
            self._drop_push(self._push_by_id[known])
        stored = PushSubscription(known, **dataclasses.asdict(new))
        self._push_by_id[known] = stored
        self._push_ids_by_endpoint[new.endpoint] = known
        mine = self._push_ids_by_user.setdefault(new.user_id, set())
        # The one just registered stays, with the newest of the others.
        others = sorted(
            (self._push_by_id[other] for other in mine),
            key=lambda s: (s.created_at, s.id),
            reverse=True,
        )
        mine.add(known)
        for old in others[max(limit, 1) - 1 :]:
            self._drop_push(old)
        return succeed(stored)

    def _drop_push(self, subscription: PushSubscription) -> None:
        del self._push_by_id[subscription.id]
        del self._push_ids_by_endpoint[subscription.endpoint]
        mine = self._push_ids_by_user[subscription.user_id]
        mine.discard(subscription.id)
        if not mine:
            del self._push_ids_by_user[subscription.user_id]

    def _forget_push_of(self, user_id: int) -> None:
        """Delete every subscription of the user (their account is deleted)."""
        for sub_id in sorted(self._push_ids_by_user.get(user_id, ())):
            self._drop_push(self._push_by_id[sub_id])

    def push_subscriptions(self, user_ids: Sequence[int]) -> Deferred[Sequence[PushSubscription]]:
        """Fire with the users' subscriptions, by user id then id."""
        found = [
            self._push_by_id[sub_id]
            for user_id in sorted(set(user_ids))
            for sub_id in sorted(self._push_ids_by_user.get(user_id, ()))
        ]
        return succeed(found)

    def delete_push_subscription(self, user_id: int, subscription_id: int) -> Deferred[None]:
        """Delete the user's subscription; ``NotFound`` if it is not theirs."""
        stored = self._push_by_id.get(subscription_id)
        if stored is None or stored.user_id != user_id:
            return fail(NotFound("No such push subscription."))
        self._drop_push(stored)
        return succeed(None)

    def forget_push_endpoint(self, endpoint: str) -> Deferred[bool]:
        """Delete the endpoint's subscription, if there is one."""
        known = self._push_ids_by_endpoint.get(endpoint)
        if known is None:
            return succeed(False)
        self._drop_push(self._push_by_id[known])
        return succeed(True)
