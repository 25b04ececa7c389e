"""``IPushStore``: the Web Push subscriptions of users' browsers (issue 13).

Every backend implements it beside ``IChatStore`` (which extends it): the
memory store in ``memory_push``, the SQL stores in ``sql_push`` with the
queries of ``push_queries``. ``DelegatedPush`` passes it on for wrappers of
a store (``GroupCommitStore``).
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from zope.interface import Interface

from chatservice.push_models import NewPushSubscription, PushSubscription


class IPushStore(Interface):
    """Push subscriptions: one per browser endpoint, a bounded number per user."""

    def add_push_subscription(new: NewPushSubscription, limit: int) -> Deferred[PushSubscription]:
        """Store a subscription, replacing any of the same endpoint; fire with it.

        An endpoint registered again keeps its id and takes the new owner,
        keys and time. Past ``limit`` subscriptions of the user, the oldest
        are deleted in the same transaction. ``NotFound`` if the user does
        not exist.
        """

    def push_subscriptions(user_ids: Sequence[int]) -> Deferred[Sequence[PushSubscription]]:
        """Fire with the subscriptions of these users, by user id then id."""

    def delete_push_subscription(user_id: int, subscription_id: int) -> Deferred[None]:
        """Delete one subscription of the user; ``NotFound`` if the user has none of that id."""

    def forget_push_endpoint(endpoint: str) -> Deferred[bool]:
        """Delete the subscription of an endpoint the push service calls gone; say if one was."""


class DelegatedPush:
    """Every ``IPushStore`` method of ``self._push_store`` (the wrapped store)."""

    _push_store: IPushStore

    def add_push_subscription(
        self, new: NewPushSubscription, limit: int
    ) -> Deferred[PushSubscription]:
        """See ``IPushStore``."""
        return self._push_store.add_push_subscription(new, limit)

    def push_subscriptions(self, user_ids: Sequence[int]) -> Deferred[Sequence[PushSubscription]]:
        """See ``IPushStore``."""
        return self._push_store.push_subscriptions(user_ids)

    def delete_push_subscription(self, user_id: int, subscription_id: int) -> Deferred[None]:
        """See ``IPushStore``."""
        return self._push_store.delete_push_subscription(user_id, subscription_id)

    def forget_push_endpoint(self, endpoint: str) -> Deferred[bool]:
        """See ``IPushStore``."""
        return self._push_store.forget_push_endpoint(endpoint)
