"""``DelegatedHooks``: ``IHookStore`` passed straight to a wrapped store.

For wrappers that change one thing about a store (``GroupCommitStore``
batches messages) and must still be a whole ``IChatStore``.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred

from chatservice.hook_models import Bot, DeadLetter, NewWebhook, Outcome, Webhook
from chatservice.store.hook_interface import IHookStore


class DelegatedHooks:
    """Every ``IHookStore`` method of ``self._hook_store`` (the wrapped store)."""

    _hook_store: IHookStore

    def create_webhook(self, new: NewWebhook) -> Deferred[Webhook]:
        """See ``IHookStore``."""
        return self._hook_store.create_webhook(new)

    def get_webhook(self, webhook_id: int) -> Deferred[Webhook]:
        """See ``IHookStore``."""
        return self._hook_store.get_webhook(webhook_id)

    def list_webhooks(self, room_id: int) -> Deferred[Sequence[Webhook]]:
        """See ``IHookStore``."""
        return self._hook_store.list_webhooks(room_id)

    def delete_webhook(self, webhook_id: int) -> Deferred[None]:
        """See ``IHookStore``."""
        return self._hook_store.delete_webhook(webhook_id)

    def claim_webhooks(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> Deferred[Sequence[Webhook]]:
        """See ``IHookStore``."""
        return self._hook_store.claim_webhooks(owner, now, lease_until, limit)

    def release_webhook(self, webhook_id: int, owner: str) -> Deferred[None]:
        """See ``IHookStore``."""
        return self._hook_store.release_webhook(webhook_id, owner)

    def record_outcome(self, outcome: Outcome) -> Deferred[bool]:
        """See ``IHookStore``."""
        return self._hook_store.record_outcome(outcome)

    def next_retry(self, webhook_id: int) -> Deferred[DeadLetter | None]:
        """See ``IHookStore``."""
        return self._hook_store.next_retry(webhook_id)

    def list_dead_letters(
        self, webhook_id: int, before: int | None, limit: int
    ) -> Deferred[Sequence[DeadLetter]]:
        """See ``IHookStore``."""
        return self._hook_store.list_dead_letters(webhook_id, before, limit)

    def retry_dead_letter(self, webhook_id: int, dead_letter_id: int) -> Deferred[DeadLetter]:
        """See ``IHookStore``."""
        return self._hook_store.retry_dead_letter(webhook_id, dead_letter_id)

    def discard_dead_letter(self, webhook_id: int, dead_letter_id: int) -> Deferred[None]:
        """See ``IHookStore``."""
        return self._hook_store.discard_dead_letter(webhook_id, dead_letter_id)

    def add_bot(
        self, user_id: int, created_by: int, room_id: int | None, key_hash: str, created_at: int
    ) -> Deferred[Bot]:
        """See ``IHookStore``."""
        return self._hook_store.add_bot(user_id, created_by, room_id, key_hash, created_at)

    def get_bot(self, user_id: int) -> Deferred[Bot]:
        """See ``IHookStore``."""
        return self._hook_store.get_bot(user_id)

    def bot_by_key(self, key_hash: str) -> Deferred[Bot | None]:
        """See ``IHookStore``."""
        return self._hook_store.bot_by_key(key_hash)

    def list_bots(self, created_by: int | None) -> Deferred[Sequence[Bot]]:
        """See ``IHookStore``."""
        return self._hook_store.list_bots(created_by)

    def set_bot_key(self, user_id: int, key_hash: str | None, at: int) -> Deferred[Bot]:
        """See ``IHookStore``."""
        return self._hook_store.set_bot_key(user_id, key_hash, at)
