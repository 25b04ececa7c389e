"""``SQLStore``'s webhook and bot methods (``IHookStore``), on ``hook_queries``.

A mixin, like ``sql_accounts``. Ids that cannot be bound as 64-bit
integers are answered here without a round trip: such a row does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound
from chatservice.hook_models import Bot, DeadLetter, NewWebhook, Outcome, Webhook
from chatservice.store import hook_queries
from chatservice.store.database import Database
from chatservice.store.ranges import INT64_MAX, fits


class SQLHooks:
    """Webhooks and bots on ``self.database``."""

    database: Database

    def create_webhook(self, new: NewWebhook) -> Deferred[Webhook]:
        """Register a webhook from the room's newest event on."""
        if not (fits(new.room_id) and fits(new.created_by)):
            return fail(NotFound("No such room."))
        return self.database.run_interaction("create_webhook", hook_queries.create_webhook, new)

    def get_webhook(self, webhook_id: int) -> Deferred[Webhook]:
        """Fire with the webhook; ``NotFound``."""
        if not fits(webhook_id):
            return fail(NotFound("No such webhook."))
        return self.database.run_read("get_webhook", hook_queries.get_webhook, webhook_id)

    def list_webhooks(self, room_id: int) -> Deferred[Sequence[Webhook]]:
        """Fire with the room's webhooks."""
        if not fits(room_id):
            return succeed([])
        return self.database.run_read("list_webhooks", hook_queries.list_webhooks, room_id)

    def delete_webhook(self, webhook_id: int) -> Deferred[None]:
        """Delete a webhook and its dead letters."""
        if not fits(webhook_id):
            return fail(NotFound("No such webhook."))
        return self.database.run_interaction(
            "delete_webhook", hook_queries.delete_webhook, webhook_id
        )

    def claim_webhooks(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> Deferred[Sequence[Webhook]]:
        """Lease the due webhooks with work to ``owner``.

        A read first, and a write only when something is due: a poll that
        finds nothing (the common case, every second) takes no write lock
        and commits nothing.
        """
        return Deferred.fromCoroutine(
            self._claim(owner, min(now, INT64_MAX), min(lease_until, INT64_MAX), limit)
        )

    async def _claim(self, owner: str, now: int, lease_until: int, limit: int) -> list[Webhook]:
        limit = max(0, min(limit, INT64_MAX))
        due = await self.database.run_read(
            "due_webhooks", hook_queries.due_webhooks, owner, now, limit
        )
        if not due:
            return []
        return await self.database.run_interaction(
            "claim_webhooks", hook_queries.lease_webhooks, due, owner, now, lease_until
        )

    def release_webhook(self, webhook_id: int, owner: str) -> Deferred[None]:
        """End ``owner``'s lease."""
        if not fits(webhook_id):
            return succeed(None)
        return self.database.run_interaction(
            "release_webhook", hook_queries.release_webhook, webhook_id, owner
        )

    def record_outcome(self, outcome: Outcome) -> Deferred[bool]:
        """Record one attempt's outcome under the owner's lease."""
        if not fits(outcome.webhook_id):
            return succeed(False)
        return self.database.run_interaction(
            "record_webhook_outcome", hook_queries.record_outcome, outcome
        )

    def next_retry(self, webhook_id: int) -> Deferred[DeadLetter | None]:
        """The oldest dead letter marked for retry."""
        if not fits(webhook_id):
            return succeed(None)
        return self.database.run_read("next_retry", hook_queries.next_retry, webhook_id)

    def list_dead_letters(
        self, webhook_id: int, before: int | None, limit: int
    ) -> Deferred[Sequence[DeadLetter]]:
        """A page of dead letters, newest first."""
        if not fits(webhook_id) or limit <= 0:
            return succeed([])
        if before is not None and before <= 0:
            return succeed([])
        return self.database.run_read(
            "list_dead_letters",
            hook_queries.list_dead_letters,
            webhook_id,
            INT64_MAX if before is None else min(before, INT64_MAX),
            min(limit, INT64_MAX),
        )

    def retry_dead_letter(self, webhook_id: int, dead_letter_id: int) -> Deferred[DeadLetter]:
        """Mark a dead letter for retry."""
        if not (fits(webhook_id) and fits(dead_letter_id)):
            return fail(NotFound("No such dead letter."))
        return self.database.run_interaction(
            "retry_dead_letter", hook_queries.retry_dead_letter, webhook_id, dead_letter_id
        )

    def discard_dead_letter(self, webhook_id: int, dead_letter_id: int) -> Deferred[None]:
        """Delete a dead letter."""
        if not (fits(webhook_id) and fits(dead_letter_id)):
            return fail(NotFound("No such dead letter."))
        return self.database.run_interaction(
            "discard_dead_letter", hook_queries.discard_dead_letter, webhook_id, dead_letter_id
        )

    def add_bot(
        self, user_id: int, created_by: int, room_id: int | None, key_hash: str, created_at: int
    ) -> Deferred[Bot]:
        """Make an existing user a bot."""
        if not (fits(user_id) and fits(created_by) and fits(room_id)):
            return fail(NotFound("No such user."))
        return self.database.run_interaction(
            "add_bot", hook_queries.add_bot, user_id, created_by, room_id, key_hash, created_at
        )

    def get_bot(self, user_id: int) -> Deferred[Bot]:
        """Fire with the bot; ``NotFound``."""
        if not fits(user_id):
            return fail(NotFound("No such bot."))
        return self.database.run_read("get_bot", hook_queries.get_bot, user_id)

    def bot_by_key(self, key_hash: str) -> Deferred[Bot | None]:
        """The bot with this key hash, or None."""
        return self.database.run_read("bot_by_key", hook_queries.bot_by_key, key_hash)

    def list_bots(self, created_by: int | None) -> Deferred[Sequence[Bot]]:
        """The bots ``created_by`` made, or all."""
        if not fits(created_by):
            return succeed([])
        return self.database.run_read("list_bots", hook_queries.list_bots, created_by)

    def set_bot_key(self, user_id: int, key_hash: str | None, at: int) -> Deferred[Bot]:
        """Replace or revoke the bot's key."""
        if not fits(user_id):
            return fail(NotFound("No such bot."))
        return self.database.run_interaction(
            "set_bot_key", hook_queries.set_bot_key, user_id, key_hash, at
        )
