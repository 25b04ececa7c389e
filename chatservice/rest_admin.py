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
from chatservice.admin_rooms import RoomAdmin
from chatservice.admin_users import UserAdmin
from chatservice.errors import InvalidRequest
from chatservice.http import read_body, respond_json
from chatservice.klein_app import Routes, app
from chatservice.room_forms import parse_room_id, parse_room_update
from chatservice.wire import dumps


class AdminRoutes(Routes):
    """Admin routes; ``ChatAPI`` inherits them and provides the use cases."""

    _admin: UserAdmin
    _room_admin: RoomAdmin

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

    @app.route("/api/admin/rooms", methods=["GET"])
    async def admin_rooms(self, request: IRequest) -> bytes:
        """List every room by id (private and direct too), or those whose name contains ``q``."""
        identity = await self._identity(request)
        query = parse_users_query(request.args)
        rooms = await self._room_admin.list_rooms(identity, query)
        return respond_json(request, 200, dumps([room.to_json() for room in rooms]))

    @app.route("/api/admin/rooms/<int:room_id>/members", methods=["GET"])
    async def admin_room_members(self, request: IRequest, room_id: int) -> bytes:
        """Any room's members, invitees and bans, with their roles: 200."""
        identity = await self._identity(request)
        members = await self._room_admin.members(identity, parse_room_id(room_id))
        return respond_json(request, 200, dumps([member.to_json() for member in members]))

    @app.route("/api/admin/rooms/<int:room_id>", methods=["DELETE"])
    async def admin_delete_room(self, request: IRequest, room_id: int) -> bytes:
        """Delete any room but General (optional ``{"reason"}``): 200."""
        identity = await self._identity(request)
        room = parse_room_id(room_id)
        reason = parse_reason(read_body(request, self._max_body))
        await self._room_admin.delete(identity, room, reason or "")
        return respond_json(request, 200, dumps({"room_id": room, "deleted": True}))

    @app.route("/api/admin/rooms/<int:room_id>/archive", methods=["POST"])
    async def admin_archive_room(self, request: IRequest, room_id: int) -> bytes:
        """Archive or unarchive any room (``{"archived", "reason"?}``): 200 with the room."""
        identity = await self._identity(request)
        form = parse_room_update(read_body(request, self._max_body))
        if form.archived is None or form.name is not None or form.description is not None:
            raise InvalidRequest("Give 'archived' (and an optional 'reason'), nothing else.")
        room = await self._room_admin.archive(
            identity, parse_room_id(room_id), form.archived, form.reason
        )
        return respond_json(request, 200, dumps(room.to_json()))
