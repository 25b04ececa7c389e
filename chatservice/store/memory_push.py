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
        stored = PushSubscription(known, **dataclasses.asdict(new))
        self._push_by_id[known] = stored
        self._push_ids_by_endpoint[new.endpoint] = known
        # The one just registered stays, with the newest of the others.
        others = sorted(
            (s for s in self._push_by_id.values() if s.user_id == new.user_id and s.id != known),
            key=lambda s: (s.created_at, s.id),
            reverse=True,
        )
        for old in others[max(limit, 1) - 1 :]:
            self._drop_push(old)
        return succeed(stored)

    def _drop_push(self, subscription: PushSubscription) -> None:
        del self._push_by_id[subscription.id]
        del self._push_ids_by_endpoint[subscription.endpoint]

    def push_subscriptions(self, user_ids: Sequence[int]) -> Deferred[Sequence[PushSubscription]]:
        """Fire with the users' subscriptions, by user id then id."""
        wanted = set(user_ids)
        found = [s for s in self._push_by_id.values() if s.user_id in wanted]
        return succeed(sorted(found, key=lambda s: (s.user_id, s.id)))

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
