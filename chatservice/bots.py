"""Bot use cases: create a bot account, list, rotate and revoke its API key, authenticate.

A bot is a user (its messages have a sender and appear like anyone's)
that authenticates with ``Authorization: Bearer cb_...`` instead of a
password and token: a long-lived key for CI, alerting and support tools.
A room's owner creates bots that join their room; a server admin may
create bots of any room, or of none.

The key has 256 random bits, so a SHA-256 of it is all the store needs
(no salt or slow hash: nothing to guess). It is shown once. Every request
with a key reads the store, so a revoked key fails at once on every
process; a revocation also closes the bot's open WebSockets everywhere
(through a control event), and a disabled or deleted bot account is
refused like any account (``revocation.refusal_of``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.access import RoomAccess
from chatservice.access_models import JOINED, MemberUpdate
from chatservice.admin_users import UserAdmin
from chatservice.control import Control
from chatservice.errors import Forbidden, NotFound, Unauthorized
from chatservice.hook_models import Bot
from chatservice.revocation import CLOSE_SESSION_REVOKED, Revocation, refusal_of
from chatservice.store import IChatStore
from chatservice.tokens import MAX_TIMESTAMP, Identity
from chatservice.webhooks import require_owner

BOT_KEY_PREFIX = "cb_"
# token_urlsafe(32) is 43 characters; anything much longer is no key of ours.
MAX_KEY_LENGTH = 128
# A bot's password hash: not a bcrypt hash, so no password ever matches it
# (``PasswordHasher.verify`` answers False for a corrupt hash).
BOT_PASSWORD_HASH = b"!bot: authenticates with an API key"
INVALID_KEY = "The API key is not valid, or it was revoked."


def is_bot_key(credential: str) -> bool:
    """Whether an ``Authorization`` credential is a bot key (rather than a JWT)."""
    return credential.startswith(BOT_KEY_PREFIX)


def new_key() -> str:
    """A new API key: the prefix and 256 random bits."""
    return BOT_KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """What the store keeps of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Bots:
    """Bot accounts and their keys, independent of HTTP."""

    log = Logger()

    def __init__(
        self,
        store: IChatStore,
        access: RoomAccess,
        admin: UserAdmin,
        revocation: Revocation,
        control: Control,
        clock: IReactorTime,
    ) -> None:
        self._store = store
        self._access = access
        self._admin = admin
        self._revocation = revocation
        self._control = control
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock.seconds() * 1000)

    async def create(
        self, identity: Identity, username: str, room_id: int | None
    ) -> tuple[Bot, str]:
        """Create a bot that joins ``room_id``; fire with it and its key (shown once).

        Raises:
            Forbidden: the caller does not own the room (or, without a room,
                is not a server admin).
            NotFound: no such room (or one the caller cannot see).
            Conflict: the username is taken.
        """
        if room_id is None:
            await self._admin.require_admin(identity)
        else:
            await require_owner(
                self._store, self._access, self._admin, identity, room_id, "add bots"
            )
        now = self._now_ms()
        key = new_key()
        user = await self._store.create_user(username, BOT_PASSWORD_HASH, now)
        bot = await self._store.add_bot(user.id, identity.user_id, room_id, key_hash(key), now)
        if room_id is not None:
            joined = MemberUpdate("joined", identity.user_id, now, state=JOINED)
            change = await self._store.change_member(room_id, user.id, joined)
            if change.event is not None:
                event = change.event
                self._access.publish_event(event.room_id, event.id, event.to_json())
        self.log.info(
            "bot {bot_id} created by user {user_id}", bot_id=bot.user_id, user_id=identity.user_id
        )
        return bot, key

    async def list(self, identity: Identity) -> Sequence[Bot]:
        """The bots the caller created; every bot for a server admin.

        The admin right is read from the account cache the token check
        already filled: listing is no reason to read the store again.
        """
        account = await self._revocation.check(identity)
        admin = account.admin and not account.deleted
        return await self._store.list_bots(None if admin else identity.user_id)

    async def _managed(self, identity: Identity, bot_id: int) -> Bot:
        """The bot, if the caller created it or is a server admin; else ``NotFound``."""
        try:
            bot = await self._store.get_bot(bot_id)
        except NotFound:
            raise NotFound("No such bot.") from None
        if bot.created_by == identity.user_id:
            return bot
        try:
            await self._admin.require_admin(identity)
        except Forbidden:
            raise NotFound("No such bot.") from None
        return bot

    async def rotate(self, identity: Identity, bot_id: int) -> tuple[Bot, str]:
        """Replace the bot's key: the old one stops working at once; the new one is shown once."""
        await self._managed(identity, bot_id)
        key = new_key()
        bot = await self._store.set_bot_key(bot_id, key_hash(key), self._now_ms())
        self._closed(bot_id, "bot key replaced")
        return bot, key

    async def revoke(self, identity: Identity, bot_id: int) -> Bot:
        """Revoke the bot's key: every request with it fails from now on, on every process."""
        await self._managed(identity, bot_id)
        bot = await self._store.set_bot_key(bot_id, None, self._now_ms())
        self._closed(bot_id, "bot key revoked")
        return bot

    def _closed(self, bot_id: int, why: str) -> None:
        self._control.close_sockets(CLOSE_SESSION_REVOKED, why, user_id=bot_id)
        self.log.info("bot {bot_id}: {why}", bot_id=bot_id, why=why)

    async def authenticate(self, key: str) -> Identity:
        """The identity of the bot whose key this is.

        Raises:
            Unauthorized: no bot has this key (never had, or revoked), or the
                bot's account was deleted.
            AccountDisabled: a server admin disabled the bot's account.
        """
        if len(key) > MAX_KEY_LENGTH or not is_bot_key(key):
            raise Unauthorized(INVALID_KEY)
        bot = await self._store.bot_by_key(key_hash(key))
        if bot is None:
            raise Unauthorized(INVALID_KEY)
        account = await self._revocation.load(bot.user_id)
        identity = Identity(
            bot.user_id, account.user.username, float(MAX_TIMESTAMP), generation=account.generation
        )
        refusal = refusal_of(account, identity)
        if refusal is not None:
            raise refusal.error
        return identity
