"""The REST routes of Web Push: the VAPID public key and a user's push subscriptions."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from chatservice.http import read_body, respond_json
from chatservice.klein_app import Routes, app
from chatservice.message_forms import parse_path_id
from chatservice.push import PushSubscriptions
from chatservice.wire import dumps


class PushRoutes(Routes):
    """Push routes; ``ChatAPI`` inherits them and provides the use case."""

    _push: PushSubscriptions

    @app.route("/api/push/vapid-public-key", methods=["GET"])
    def vapid_public_key(self, request: IRequest) -> bytes:
        """The browser's ``applicationServerKey`` (no authentication); 404 when push is off."""
        return respond_json(request, 200, dumps({"public_key": self._push.public_key()}))

    @app.route("/api/push/subscriptions", methods=["POST"])
    async def add_push_subscription(self, request: IRequest) -> bytes:
        """Register the browser's ``PushSubscription``: 201 with it (without its keys)."""
        identity = await self._identity(request)
        stored = await self._push.register(identity, read_body(request, self._max_body))
        return respond_json(request, 201, dumps(stored.to_json()))

    @app.route("/api/push/subscriptions", methods=["GET"])
    async def list_push_subscriptions(self, request: IRequest) -> bytes:
        """The caller's subscriptions: 200."""
        identity = await self._identity(request)
        found = await self._push.list(identity)
        return respond_json(request, 200, dumps([s.to_json() for s in found]))

    @app.route("/api/push/subscriptions/<subscription_id>", methods=["DELETE"])
    async def delete_push_subscription(self, request: IRequest, subscription_id: str) -> bytes:
        """Delete one of the caller's subscriptions: 200, or 404 if it is not theirs."""
        identity = await self._identity(request)
        target = parse_path_id(subscription_id, "subscription")
        await self._push.delete(identity, target)
        return respond_json(request, 200, dumps({"id": target, "deleted": True}))
