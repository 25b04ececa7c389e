"""Webhook use cases: register, list, delete, and the dead letters of a room's webhooks.

A room's webhooks are its owner's to manage, and a server admin's for any
room. Anyone else gets the answer the room's other routes give them: a
private room they are not in is ``404``, a room they can see is ``403``.
The secret is returned once, by ``register``; the delivery itself is
``webhook_delivery``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.access import RoomAccess
from chatservice.access_models import JOINED, OWNER
from chatservice.admin_users import UserAdmin
from chatservice.errors import ChatError, Conflict, Forbidden, NotFound
from chatservice.hook_models import DeadLetter, NewWebhook, Webhook
from chatservice.store import IChatStore
from chatservice.tokens import Identity
from chatservice.webhook_signing import new_secret

MAX_WEBHOOKS_PER_ROOM = 10


async def require_owner(
    store: IChatStore,
    access: RoomAccess,
    admin: UserAdmin,
    identity: Identity,
    room_id: int,
    right: str,
) -> None:
    """Return if the user owns the room or is a server admin; else the room's refusal.

    Raises:
        NotFound: no such room, or a private room the user is not in (and
            not an admin).
        Forbidden: the user sees the room but does not own it.
    """
    refusal: ChatError
    try:
        admission = await access.readable(identity, room_id)
    except (NotFound, Forbidden) as error:
        refusal = error
    else:
        member = admission.member
        if member is not None and member.state == JOINED and member.role == OWNER:
            return
        refusal = Forbidden(f"Only the room's owner or a server admin may {right}.")
    try:
        await admin.require_admin(identity)
    except Forbidden:
        raise refusal from None
    await store.get_room(room_id)


class Webhooks:
    """Managing a room's webhooks, independent of HTTP."""

    log = Logger()

    def __init__(
        self, store: IChatStore, access: RoomAccess, admin: UserAdmin, clock: IReactorTime
    ) -> None:
        self._store = store
        self._access = access
        self._admin = admin
        self._clock = clock

    async def _owner(self, identity: Identity, room_id: int, right: str) -> None:
        await require_owner(self._store, self._access, self._admin, identity, room_id, right)

    async def register(self, identity: Identity, room_id: int, url: str) -> tuple[Webhook, str]:
        """Register ``url`` (already checked by ``hook_forms``); the webhook and its secret.

        Raises:
            Conflict: the room has ``MAX_WEBHOOKS_PER_ROOM`` already.
        """
        await require_owner(
            self._store, self._access, self._admin, identity, room_id, "add webhooks"
        )
        existing = await self._store.list_webhooks(room_id)
        if len(existing) >= MAX_WEBHOOKS_PER_ROOM:
            raise Conflict(f"A room has at most {MAX_WEBHOOKS_PER_ROOM} webhooks.")
        secret = new_secret()
        now_ms = int(self._clock.seconds() * 1000)
        webhook = await self._store.create_webhook(
            NewWebhook(room_id, url, secret, identity.user_id, now_ms)
        )
        self.log.info(
            "webhook {webhook_id} registered for room {room_id} by user {user_id}",
            webhook_id=webhook.id,
            room_id=room_id,
            user_id=identity.user_id,
        )
        return webhook, secret

    async def list(self, identity: Identity, room_id: int) -> Sequence[Webhook]:
        """The room's webhooks."""
        await require_owner(
            self._store, self._access, self._admin, identity, room_id, "see its webhooks"
        )
        return await self._store.list_webhooks(room_id)

    async def _webhook(self, identity: Identity, room_id: int, webhook_id: int) -> Webhook:
        await require_owner(
            self._store, self._access, self._admin, identity, room_id, "manage its webhooks"
        )
        webhook = await self._store.get_webhook(webhook_id)
        if webhook.room_id != room_id:
            raise NotFound("No such webhook.")
        return webhook

    async def get(self, identity: Identity, room_id: int, webhook_id: int) -> Webhook:
        """One webhook of the room, with its delivery state."""
        return await self._webhook(identity, room_id, webhook_id)

    async def delete(self, identity: Identity, room_id: int, webhook_id: int) -> None:
        """Stop delivering to a webhook and forget it and its dead letters."""
        await self._webhook(identity, room_id, webhook_id)
        await self._store.delete_webhook(webhook_id)
        self.log.info("webhook {webhook_id} deleted", webhook_id=webhook_id)

    async def dead_letters(
        self, identity: Identity, room_id: int, webhook_id: int, before: int | None, limit: int
    ) -> Sequence[DeadLetter]:
        """The webhook's dead letters, newest first."""
        await self._webhook(identity, room_id, webhook_id)
        return await self._store.list_dead_letters(webhook_id, before, limit)

    async def retry(
        self, identity: Identity, room_id: int, webhook_id: int, dead_letter_id: int
    ) -> DeadLetter:
        """Give a dead letter another round of attempts (before the webhook's next event)."""
        await self._webhook(identity, room_id, webhook_id)
        return await self._store.retry_dead_letter(webhook_id, dead_letter_id)

    async def discard(
        self, identity: Identity, room_id: int, webhook_id: int, dead_letter_id: int
    ) -> None:
        """Forget a dead letter."""
        await self._webhook(identity, room_id, webhook_id)
        await self._store.discard_dead_letter(webhook_id, dead_letter_id)
