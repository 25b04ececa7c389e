"""The REST routes of server admins, under ``/api/admin/``: users, what to do to them, the log.

Each route authenticates, parses with ``account_forms`` and calls one
``UserAdmin`` use case, which refuses anyone without the admin right with
``403 forbidden``.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from chatservice.account_forms import (
    parse_audit_query,
    parse_reason,
    parse_user_id,
    parse_users_query,
)
from chatservice.admin_users import UserAdmin
from chatservice.http import read_body, respond_json
from chatservice.klein_app import app
from chatservice.tokens import Identity
from chatservice.wire import dumps


class AdminRoutes:
    """Admin routes; ``ChatAPI`` inherits them and provides the use case."""

    _admin: UserAdmin
    _max_body: int

    async def _identity(self, request: IRequest) -> Identity:
        raise NotImplementedError  # ChatAPI's

    @app.route("/api/admin/users", methods=["GET"])
    async def admin_users(self, request: IRequest) -> bytes:
        """List accounts in id order, or those whose name contains ``q``: 200."""
        identity = await self._identity(request)
        query = parse_users_query(request.args)
        accounts = await self._admin.list_users(identity, query)
        return respond_json(request, 200, dumps([account.to_json() for account in accounts]))

    @app.route("/api/admin/audit", methods=["GET"])
    async def admin_audit(self, request: IRequest) -> bytes:
        """The whole audit log (or one room's with ``roomId``), newest first: 200."""
        identity = await self._identity(request)
        query = parse_audit_query(request.args)
        entries = await self._admin.audit_log(identity, query.room_id, query.before, query.limit)
        return respond_json(request, 200, dumps([entry.to_json() for entry in entries]))

    @app.route("/api/admin/users/<user_id>/disable", methods=["POST"])
    async def admin_disable(self, request: IRequest, user_id: str) -> bytes:
        """Disable an account (optional ``{"reason"}``): 200 with it."""
        identity = await self._identity(request)
        target = parse_user_id(user_id)
        reason = parse_reason(read_body(request, self._max_body))
        account = await self._admin.disable(identity, target, reason)
        return respond_json(request, 200, dumps(account.to_json()))

    @app.route("/api/admin/users/<user_id>/enable", methods=["POST"])
    async def admin_enable(self, request: IRequest, user_id: str) -> bytes:
        """Enable a disabled account (optional ``{"reason"}``): 200 with it."""
        identity = await self._identity(request)
        target = parse_user_id(user_id)
        reason = parse_reason(read_body(request, self._max_body))
        account = await self._admin.enable(identity, target, reason)
        return respond_json(request, 200, dumps(account.to_json()))

    @app.route("/api/admin/users/<user_id>/erase-messages", methods=["POST"])
    async def admin_erase(self, request: IRequest, user_id: str) -> bytes:
        """Tombstone every message of a user (optional ``{"reason"}``): 200 with how many."""
        identity = await self._identity(request)
        target = parse_user_id(user_id)
        reason = parse_reason(read_body(request, self._max_body))
        erased = await self._admin.erase(identity, target, reason)
        return respond_json(request, 200, dumps({"erased_messages": erased}))
