"""``MemoryStore``'s webhook and bot methods (``IHookStore``), in dicts.

The same rules as ``hook_queries``: a webhook's cursor starts at its room's
newest event, work is an event after the cursor or a dead letter marked for
retry, and an outcome is recorded only under its owner's lease.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice import access_models
from chatservice.errors import Conflict, NotFound
from chatservice.hook_models import DEAD, DELIVERED, Bot, DeadLetter, NewWebhook, Outcome, Webhook
from chatservice.models import Room, User
from chatservice.store.memory_timeline import MemoryTimeline


@dataclasses.dataclass(slots=True)
class _Lease:
    owner: str | None = None
    until: int = 0


class MemoryHooks:
    """Webhooks and bots in process memory; mixed into ``MemoryStore``, whose dicts it shares."""

    _users: dict[int, User]
    _rooms: dict[int, Room]
    _timeline: MemoryTimeline
    _member_events: dict[int, list[access_models.MemberEvent]]

    def _hooks_init(self) -> None:
        self._webhooks: dict[int, Webhook] = {}
        self._leases: dict[int, _Lease] = {}
        self._dead: dict[int, DeadLetter] = {}
        self._bots: dict[int, Bot] = {}
        self._bot_keys: dict[str, int] = {}  # key hash: bot user id
        self._next_webhook_id = 1
        self._next_dead_id = 1

    def _room_has_events_after(self, room_id: int, after: int) -> bool:
        if self._timeline.events(room_id, after, 1):
            return True
        members = self._member_events.get(room_id, [])
        return bool(members) and members[-1].id > after

    def _newest_event(self, room_id: int) -> int:
        event_ids = self._timeline._event_ids.get(room_id)
        newest = event_ids[-1] if event_ids else 0
        members = self._member_events.get(room_id, [])
        if members:
            newest = max(newest, members[-1].id)
        return newest

    # -- webhooks -----------------------------------------------------------------

    def create_webhook(self, new: NewWebhook) -> Deferred[Webhook]:
        """Register a webhook from the room's newest event on."""
        if new.room_id not in self._rooms:
            return fail(NotFound("No such room."))
        if new.created_by not in self._users:
            return fail(NotFound("No such user."))
        webhook = Webhook(
            id=self._next_webhook_id,
            room_id=new.room_id,
            url=new.url,
            secret=new.secret,
            created_by=new.created_by,
            created_at=new.created_at,
            delivered_through=self._newest_event(new.room_id),
        )
        self._next_webhook_id += 1
        self._webhooks[webhook.id] = webhook
        self._leases[webhook.id] = _Lease()
        return succeed(webhook)

    def get_webhook(self, webhook_id: int) -> Deferred[Webhook]:
        """Fire with the webhook; ``NotFound``."""
        webhook = self._webhooks.get(webhook_id)
        if webhook is None:
            return fail(NotFound("No such webhook."))
        return succeed(webhook)

    def list_webhooks(self, room_id: int) -> Deferred[Sequence[Webhook]]:
        """Fire with the room's webhooks, by id."""
        return succeed([w for _, w in sorted(self._webhooks.items()) if w.room_id == room_id])

    def delete_webhook(self, webhook_id: int) -> Deferred[None]:
        """Delete a webhook and its dead letters."""
        if self._webhooks.pop(webhook_id, None) is None:
            return fail(NotFound("No such webhook."))
        del self._leases[webhook_id]
        for dead_id in [d.id for d in self._dead.values() if d.webhook_id == webhook_id]:
            del self._dead[dead_id]
        return succeed(None)

    def claim_webhooks(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> Deferred[Sequence[Webhook]]:
        """Lease the due webhooks with work to ``owner``."""
        due = sorted(
            (w for w in self._webhooks.values() if w.next_attempt_at <= now),
            key=lambda w: (w.next_attempt_at, w.id),
        )
        claimed: list[Webhook] = []
        for webhook in due:
            if len(claimed) >= max(limit, 0):
                break
            lease = self._leases[webhook.id]
            if lease.until > now and lease.owner != owner:
                continue
            if not (
                self._room_has_events_after(webhook.room_id, webhook.delivered_through)
                or self._retries(webhook.id)
            ):
                continue
            lease.owner, lease.until = owner, lease_until
            claimed.append(webhook)
        return succeed(claimed)

    def release_webhook(self, webhook_id: int, owner: str) -> Deferred[None]:
        """End ``owner``'s lease."""
        lease = self._leases.get(webhook_id)
        if lease is not None and lease.owner == owner:
            lease.owner, lease.until = None, 0
        return succeed(None)

    def record_outcome(self, outcome: Outcome) -> Deferred[bool]:
        """Record one attempt's outcome under the owner's lease."""
        webhook = self._webhooks.get(outcome.webhook_id)
        lease = self._leases.get(outcome.webhook_id)
        if webhook is None or lease is None or lease.owner != outcome.owner:
            return succeed(False)
        lease.until = outcome.lease_until
        if outcome.kind == DEAD:
            self._write_dead_letter(outcome)
        elif outcome.kind == DELIVERED and outcome.dead_letter_id is not None:
            self._dead.pop(outcome.dead_letter_id, None)
        webhook = outcome.applied_to(webhook)
        self._webhooks[webhook.id] = webhook
        return succeed(True)

    def _write_dead_letter(self, outcome: Outcome) -> None:
        retried = outcome.dead_letter_id
        if retried is not None:
            old = self._dead.get(retried)
            if old is not None and old.webhook_id == outcome.webhook_id:
                self._dead[retried] = dataclasses.replace(
                    old,
                    attempts=outcome.attempts,
                    last_error=outcome.last_error or "",
                    failed_at=outcome.at,
                    retry=False,
                )
            return
        for dead in self._dead.values():
            if dead.webhook_id == outcome.webhook_id and dead.event_id == outcome.event_id:
                return
        dead = DeadLetter(
            self._next_dead_id,
            outcome.webhook_id,
            outcome.event_id,
            outcome.attempts,
            outcome.last_error or "",
            outcome.at,
        )
        self._next_dead_id += 1
        self._dead[dead.id] = dead

    def _retries(self, webhook_id: int) -> list[DeadLetter]:
        return sorted(
            (d for d in self._dead.values() if d.webhook_id == webhook_id and d.retry),
            key=lambda d: d.event_id,
        )

    def next_retry(self, webhook_id: int) -> Deferred[DeadLetter | None]:
        """The oldest dead letter marked for retry."""
        retries = self._retries(webhook_id)
        return succeed(retries[0] if retries else None)

    def list_dead_letters(
        self, webhook_id: int, before: int | None, limit: int
    ) -> Deferred[Sequence[DeadLetter]]:
        """A page of dead letters, newest first."""
        page = sorted(
            (
                d
                for d in self._dead.values()
                if d.webhook_id == webhook_id and (before is None or d.id < before)
            ),
            key=lambda d: -d.id,
        )
        return succeed(page[: max(limit, 0)])

    def _dead_letter(self, webhook_id: int, dead_letter_id: int) -> DeadLetter | None:
        dead = self._dead.get(dead_letter_id)
        return dead if dead is not None and dead.webhook_id == webhook_id else None

    def retry_dead_letter(self, webhook_id: int, dead_letter_id: int) -> Deferred[DeadLetter]:
        """Mark a dead letter for retry."""
        dead = self._dead_letter(webhook_id, dead_letter_id)
        if dead is None:
            return fail(NotFound("No such dead letter."))
        dead = self._dead[dead.id] = dataclasses.replace(dead, retry=True)
        return succeed(dead)

    def discard_dead_letter(self, webhook_id: int, dead_letter_id: int) -> Deferred[None]:
        """Delete a dead letter."""
        if self._dead_letter(webhook_id, dead_letter_id) is None:
            return fail(NotFound("No such dead letter."))
        del self._dead[dead_letter_id]
        return succeed(None)

    # -- bots -----------------------------------------------------------------------

    def add_bot(
        self, user_id: int, created_by: int, room_id: int | None, key_hash: str, created_at: int
    ) -> Deferred[Bot]:
        """Make an existing user a bot."""
        if user_id in self._bots:
            return fail(Conflict("That user is a bot already."))
        user = self._users.get(user_id)
        if user is None or created_by not in self._users:
            return fail(NotFound("No such user."))
        if room_id is not None and room_id not in self._rooms:
            return fail(NotFound("No such room."))
        bot = Bot(user_id, user.username, created_by, room_id, created_at, key_hash, created_at)
        self._bots[user_id] = bot
        self._bot_keys[key_hash] = user_id
        return succeed(bot)

    def _bot(self, bot: Bot) -> Bot:
        """The bot with its user's current name (a rename or deletion changes it)."""
        return dataclasses.replace(bot, username=self._users[bot.user_id].username)

    def get_bot(self, user_id: int) -> Deferred[Bot]:
        """Fire with the bot; ``NotFound``."""
        bot = self._bots.get(user_id)
        if bot is None:
            return fail(NotFound("No such bot."))
        return succeed(self._bot(bot))

    def bot_by_key(self, key_hash: str) -> Deferred[Bot | None]:
        """The bot with this key hash, or None."""
        user_id = self._bot_keys.get(key_hash)
        return succeed(None if user_id is None else self._bot(self._bots[user_id]))

    def list_bots(self, created_by: int | None) -> Deferred[Sequence[Bot]]:
        """The bots ``created_by`` made, or all."""
        return succeed(
            [
                self._bot(bot)
                for _, bot in sorted(self._bots.items())
                if created_by is None or bot.created_by == created_by
            ]
        )

    def set_bot_key(self, user_id: int, key_hash: str | None, at: int) -> Deferred[Bot]:
        """Replace or revoke the bot's key."""
        bot = self._bots.get(user_id)
        if bot is None:
            return fail(NotFound("No such bot."))
        if bot.key_hash is not None:
            del self._bot_keys[bot.key_hash]
        if key_hash is not None:
            self._bot_keys[key_hash] = user_id
        bot = self._bots[user_id] = dataclasses.replace(
            bot, key_hash=key_hash, key_created_at=None if key_hash is None else at
        )
        return succeed(self._bot(bot))
