"""The REST routes of webhooks (a room's, with their dead letters) and bots.

Each route parses with ``hook_forms`` and calls one use case
(``webhooks.py``, ``bots.py``). A webhook's secret and a bot's key are in
the answer that made them, and never again.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from chatservice.bots import Bots
from chatservice.hook_forms import parse_bot, parse_webhook_url
from chatservice.http import read_body, respond_json
from chatservice.klein_app import Routes, app
from chatservice.message_forms import parse_path_id
from chatservice.room_forms import parse_room_id
from chatservice.webhooks import Webhooks
from chatservice.wire import dumps, query_int


class WebhookRoutes(Routes):
    """Webhook and bot routes; ``ChatAPI`` inherits them and provides the use cases."""

    _webhooks: Webhooks
    _bots: Bots
    _allow_private_webhooks: bool

    # -- webhooks -------------------------------------------------------------------

    @app.route("/api/rooms/<int:room_id>/webhooks", methods=["POST"])
    async def add_webhook(self, request: IRequest, room_id: int) -> bytes:
        """Register ``{"url"}`` for the room's events: 201 with the webhook and its secret."""
        identity = await self._identity(request)
        room = parse_room_id(room_id)
        url = parse_webhook_url(read_body(request, self._max_body), self._allow_private_webhooks)
        webhook, secret = await self._webhooks.register(identity, room, url)
        return respond_json(request, 201, dumps({**webhook.to_json(), "secret": secret}))

    @app.route("/api/rooms/<int:room_id>/webhooks", methods=["GET"])
    async def list_webhooks(self, request: IRequest, room_id: int) -> bytes:
        """The room's webhooks and their delivery state (never their secrets)."""
        identity = await self._identity(request)
        webhooks = await self._webhooks.list(identity, parse_room_id(room_id))
        return respond_json(request, 200, dumps([w.to_json() for w in webhooks]))

    @app.route("/api/rooms/<int:room_id>/webhooks/<int:webhook_id>", methods=["GET"])
    async def get_webhook(self, request: IRequest, room_id: int, webhook_id: int) -> bytes:
        """One webhook and its delivery state."""
        identity = await self._identity(request)
        webhook = await self._webhooks.get(
            identity, parse_room_id(room_id), parse_path_id(str(webhook_id), "webhook")
        )
        return respond_json(request, 200, dumps(webhook.to_json()))

    @app.route("/api/rooms/<int:room_id>/webhooks/<int:webhook_id>", methods=["DELETE"])
    async def delete_webhook(self, request: IRequest, room_id: int, webhook_id: int) -> bytes:
        """Stop delivering and forget the webhook and its dead letters."""
        identity = await self._identity(request)
        hook = parse_path_id(str(webhook_id), "webhook")
        await self._webhooks.delete(identity, parse_room_id(room_id), hook)
        return respond_json(request, 200, dumps({"id": hook, "deleted": True}))

    @app.route("/api/rooms/<int:room_id>/webhooks/<int:webhook_id>/dead-letters", methods=["GET"])
    async def dead_letters(self, request: IRequest, room_id: int, webhook_id: int) -> bytes:
        """The events the webhook gave up on, newest first, with the last error."""
        identity = await self._identity(request)
        limit = query_int(request.args, "limit", high=100, default=50)
        before = query_int(request.args, "before")
        assert limit is not None
        letters = await self._webhooks.dead_letters(
            identity,
            parse_room_id(room_id),
            parse_path_id(str(webhook_id), "webhook"),
            before,
            limit,
        )
        return respond_json(request, 200, dumps([d.to_json() for d in letters]))

    @app.route(
        "/api/rooms/<int:room_id>/webhooks/<int:webhook_id>/dead-letters/<int:dead_letter_id>/retry",
        methods=["POST"],
    )
    async def retry_dead_letter(
        self, request: IRequest, room_id: int, webhook_id: int, dead_letter_id: int
    ) -> bytes:
        """Deliver a dead letter again (before the webhook's next event): 200 with it."""
        identity = await self._identity(request)
        letter = await self._webhooks.retry(
            identity,
            parse_room_id(room_id),
            parse_path_id(str(webhook_id), "webhook"),
            parse_path_id(str(dead_letter_id), "dead letter"),
        )
        return respond_json(request, 200, dumps(letter.to_json()))

    @app.route(
        "/api/rooms/<int:room_id>/webhooks/<int:webhook_id>/dead-letters/<int:dead_letter_id>",
        methods=["DELETE"],
    )
    async def discard_dead_letter(
        self, request: IRequest, room_id: int, webhook_id: int, dead_letter_id: int
    ) -> bytes:
        """Forget a dead letter."""
        identity = await self._identity(request)
        dead = parse_path_id(str(dead_letter_id), "dead letter")
        await self._webhooks.discard(
            identity, parse_room_id(room_id), parse_path_id(str(webhook_id), "webhook"), dead
        )
        return respond_json(request, 200, dumps({"id": dead, "deleted": True}))

    # -- bots -------------------------------------------------------------------------

    @app.route("/api/bots", methods=["POST"])
    async def create_bot(self, request: IRequest) -> bytes:
        """Create ``{"username", "room_id"?}``: 201 with the bot and its API key (shown once)."""
        identity = await self._identity(request)
        form = parse_bot(read_body(request, self._max_body))
        bot, key = await self._bots.create(identity, form.username, form.room_id)
        return respond_json(request, 201, dumps({**bot.to_json(), "api_key": key}))

    @app.route("/api/bots", methods=["GET"])
    async def list_bots(self, request: IRequest) -> bytes:
        """The bots the caller created (every bot, for a server admin)."""
        identity = await self._identity(request)
        bots = await self._bots.list(identity)
        return respond_json(request, 200, dumps([b.to_json() for b in bots]))

    @app.route("/api/bots/<int:bot_id>/key", methods=["POST"])
    async def rotate_bot_key(self, request: IRequest, bot_id: int) -> bytes:
        """Replace the bot's key: 201 with the new one (shown once); the old one stops at once."""
        identity = await self._identity(request)
        bot, key = await self._bots.rotate(identity, parse_path_id(str(bot_id), "bot"))
        return respond_json(request, 201, dumps({**bot.to_json(), "api_key": key}))

    @app.route("/api/bots/<int:bot_id>/key", methods=["DELETE"])
    async def revoke_bot_key(self, request: IRequest, bot_id: int) -> bytes:
        """Revoke the bot's key: every request with it is 401 from now on."""
        identity = await self._identity(request)
        bot = await self._bots.revoke(identity, parse_path_id(str(bot_id), "bot"))
        return respond_json(request, 200, dumps(bot.to_json()))
