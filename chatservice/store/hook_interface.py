"""``IHookStore``: the store's part of outgoing webhooks and bots (issue 13).

The webhook outbox is the room's timeline itself, read from a cursor kept
per webhook: every event is already durable and ordered there, so a
restart loses nothing and nothing has to be written beside each event.
Per webhook the store keeps that cursor, the failing head's retry state,
a lease (which process delivers it now) and its dead letters. Bots are
users with a hashed API key. The memory store implements it in
``memory_hooks``, the SQL stores in ``sql_hooks`` with ``hook_queries``.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from zope.interface import Interface

from chatservice.hook_models import Bot, DeadLetter, NewWebhook, Outcome, Webhook


class IHookStore(Interface):
    """Webhooks with their cursors and dead letters, and bots with their keys."""

    def create_webhook(new: NewWebhook) -> Deferred[Webhook]:
        """Register a webhook; its cursor starts at the room's newest event (any kind).

        So only events committed after the registration are delivered.
        ``NotFound`` if the room or the creator does not exist.
        """

    def get_webhook(webhook_id: int) -> Deferred[Webhook]:
        """Fire with the webhook; fail with ``NotFound``."""

    def list_webhooks(room_id: int) -> Deferred[Sequence[Webhook]]:
        """Fire with the room's webhooks, by id."""

    def delete_webhook(webhook_id: int) -> Deferred[None]:
        """Delete a webhook and its dead letters; ``NotFound`` if there is none."""

    def claim_webhooks(
        owner: str, now: int, lease_until: int, limit: int
    ) -> Deferred[Sequence[Webhook]]:
        """Lease to ``owner`` until ``lease_until`` the webhooks with work due at ``now``.

        Work is an event of the room after the cursor, or a dead letter
        marked for retry; due means ``next_attempt_at <= now``. A webhook
        leased to another owner until after ``now`` is left alone, so one
        process at a time delivers each. At most ``limit``, the most overdue first.
        """

    def release_webhook(webhook_id: int, owner: str) -> Deferred[None]:
        """End ``owner``'s lease of the webhook (nothing if it is not theirs or gone)."""

    def record_outcome(outcome: Outcome) -> Deferred[bool]:
        """Record an attempt's outcome (see ``Outcome``) in one transaction.

        Fires with False, recording nothing, if the webhook is gone or its
        lease is not ``outcome.owner``'s any more.
        """

    def next_retry(webhook_id: int) -> Deferred[DeadLetter | None]:
        """Fire with the webhook's oldest dead letter marked for retry, or None."""

    def list_dead_letters(
        webhook_id: int, before: int | None, limit: int
    ) -> Deferred[Sequence[DeadLetter]]:
        """Fire with the webhook's dead letters, newest first, ids below ``before``."""

    def retry_dead_letter(webhook_id: int, dead_letter_id: int) -> Deferred[DeadLetter]:
        """Mark a dead letter for another round of attempts; ``NotFound``."""

    def discard_dead_letter(webhook_id: int, dead_letter_id: int) -> Deferred[None]:
        """Delete a dead letter; ``NotFound``."""

    def add_bot(
        user_id: int, created_by: int, room_id: int | None, key_hash: str, created_at: int
    ) -> Deferred[Bot]:
        """Make an existing user a bot with the key of hash ``key_hash``.

        ``NotFound`` for no such user or room, ``Conflict`` if it is a bot already.
        """

    def get_bot(user_id: int) -> Deferred[Bot]:
        """Fire with the bot; fail with ``NotFound`` (also for a user who is no bot)."""

    def bot_by_key(key_hash: str) -> Deferred[Bot | None]:
        """Fire with the bot whose current key has this hash, or None."""

    def list_bots(created_by: int | None) -> Deferred[Sequence[Bot]]:
        """Fire with the bots ``created_by`` made (every bot for None), by user id."""

    def set_bot_key(user_id: int, key_hash: str | None, at: int) -> Deferred[Bot]:
        """Replace the bot's key (None: revoke it); ``NotFound`` for no such bot."""
