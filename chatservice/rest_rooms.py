"""The REST routes of rooms: list, create, join, leave, invite, members, DMs, moderation.

Each route parses with ``room_forms`` and calls one use case
(``membership.py``, ``moderation.py``); the answers are the ``Room`` and
``Member`` objects of docs/protocol.md.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from chatservice.http import read_body, respond_json
from chatservice.klein_app import Routes, app
from chatservice.membership import Membership
from chatservice.moderation import Moderation
from chatservice.read_markers import ReadMarkers
from chatservice.room_forms import (
    parse_new_room,
    parse_role,
    parse_room_id,
    parse_room_update,
    parse_target,
    parse_user_id,
)
from chatservice.wire import dumps, query_int


class RoomRoutes(Routes):
    """Room routes; ``ChatAPI`` inherits them and provides the use cases."""

    _membership: Membership
    _moderation: Moderation
    _read_markers: ReadMarkers

    @app.route("/api/rooms", methods=["GET"])
    async def list_rooms(self, request: IRequest) -> bytes:
        """The rooms the caller sees: public ones, and private ones they are in or invited to.

        Each with the caller's unread and mention counts (``read_markers.py``).
        """
        identity = await self._identity(request)
        rooms = await self._membership.rooms(identity)
        counted = await self._read_markers.with_counts(identity, rooms)
        return respond_json(request, 200, dumps(counted))

    @app.route("/api/rooms", methods=["POST"])
    @app.route("/api/rooms/create", methods=["POST"])
    async def create_room(self, request: IRequest) -> bytes:
        """Create a room owned by the caller: 201, or 409 if the name is taken."""
        identity = await self._identity(request)
        form = parse_new_room(read_body(request, self._max_body))
        room = await self._membership.create(form.room, identity, form.visibility)
        return respond_json(request, 201, dumps(room.to_json()))

    @app.route("/api/rooms/<int:room_id>", methods=["PATCH"])
    async def update_room(self, request: IRequest, room_id: int) -> bytes:
        """Rename, describe, archive or unarchive a room (owner and moderators)."""
        identity = await self._identity(request)
        room = parse_room_id(room_id)
        form = parse_room_update(read_body(request, self._max_body))
        updated = None
        if form.name is not None or form.description is not None:
            updated = await self._moderation.update_room(
                identity, room, form.name, form.description
            )
        if form.archived is not None:
            updated = await self._moderation.archive(identity, room, form.archived, form.reason)
        assert updated is not None
        return respond_json(request, 200, dumps(updated.to_json()))

    @app.route("/api/rooms/<int:room_id>/join", methods=["POST"])
    async def join(self, request: IRequest, room_id: int) -> bytes:
        """Join a public room or accept an invitation: 200 with the caller's membership."""
        identity = await self._identity(request)
        member = await self._membership.join(identity, parse_room_id(room_id))
        return respond_json(request, 200, dumps(member.to_json()))

    @app.route("/api/rooms/<int:room_id>/leave", methods=["POST"])
    async def leave(self, request: IRequest, room_id: int) -> bytes:
        """Leave a room or decline an invitation; the caller's sockets in it close."""
        identity = await self._identity(request)
        room = parse_room_id(room_id)
        await self._membership.leave(identity, room)
        return respond_json(request, 200, dumps({"room_id": room, "state": "left"}))

    @app.route("/api/rooms/<int:room_id>/invites", methods=["POST"])
    async def invite(self, request: IRequest, room_id: int) -> bytes:
        """Invite a user: 200 with their membership (``invited``, or as it already was)."""
        identity = await self._identity(request)
        form = parse_target(read_body(request, self._max_body))
        member = await self._membership.invite(identity, parse_room_id(room_id), form.user_id)
        return respond_json(request, 200, dumps(member.to_json()))

    @app.route("/api/rooms/<int:room_id>/members", methods=["GET"])
    async def members(self, request: IRequest, room_id: int) -> bytes:
        """The room's members and invitees with their roles (and bans, for moderators)."""
        identity = await self._identity(request)
        rows = await self._membership.members(identity, parse_room_id(room_id))
        return respond_json(request, 200, dumps([m.to_json() for m in rows]))

    @app.route("/api/rooms/<int:room_id>/members/<int:user_id>/role", methods=["PUT"])
    async def set_role(self, request: IRequest, room_id: int, user_id: int) -> bytes:
        """Name a moderator or make one a member again (the owner only)."""
        identity = await self._identity(request)
        role = parse_role(read_body(request, self._max_body))
        member = await self._moderation.set_role(
            identity, parse_room_id(room_id), parse_user_id(user_id), role
        )
        return respond_json(request, 200, dumps(member.to_json()))

    async def _moderate(self, request: IRequest, room_id: int, action: str) -> bytes:
        """Kick, ban, unban, mute or unmute ``{"user_id", "reason"?}``: 200 with the membership."""
        identity = await self._identity(request)
        room = parse_room_id(room_id)
        form = parse_target(read_body(request, self._max_body))
        act = getattr(self._moderation, action)
        member = await act(identity, room, form.user_id, form.reason)
        return respond_json(request, 200, dumps(member.to_json()))

    @app.route("/api/rooms/<int:room_id>/kick", methods=["POST"])
    async def kick(self, request: IRequest, room_id: int) -> bytes:
        """Remove a member (they may rejoin a public room); their sockets in it close."""
        return await self._moderate(request, room_id, "kick")

    @app.route("/api/rooms/<int:room_id>/ban", methods=["POST"])
    async def ban(self, request: IRequest, room_id: int) -> bytes:
        """Keep a user out of the room until unbanned; their sockets in it close."""
        return await self._moderate(request, room_id, "ban")

    @app.route("/api/rooms/<int:room_id>/unban", methods=["POST"])
    async def unban(self, request: IRequest, room_id: int) -> bytes:
        """Let a banned user join again."""
        return await self._moderate(request, room_id, "unban")

    @app.route("/api/rooms/<int:room_id>/mute", methods=["POST"])
    async def mute(self, request: IRequest, room_id: int) -> bytes:
        """Let a member read but not post."""
        return await self._moderate(request, room_id, "mute")

    @app.route("/api/rooms/<int:room_id>/unmute", methods=["POST"])
    async def unmute(self, request: IRequest, room_id: int) -> bytes:
        """Let a muted member post again."""
        return await self._moderate(request, room_id, "unmute")

    @app.route("/api/rooms/<int:room_id>/audit", methods=["GET"])
    async def room_audit(self, request: IRequest, room_id: int) -> bytes:
        """The room's entries of the audit log, newest first (owner and moderators)."""
        identity = await self._identity(request)
        limit = query_int(request.args, "limit", high=100, default=50)
        before = query_int(request.args, "before")
        assert limit is not None
        entries = await self._moderation.audit_log(identity, parse_room_id(room_id), before, limit)
        return respond_json(request, 200, dumps(entries))

    @app.route("/api/dms", methods=["POST"])
    async def open_direct(self, request: IRequest) -> bytes:
        """The private room of the caller and ``{"user_id"}``: the same room every time."""
        identity = await self._identity(request)
        form = parse_target(read_body(request, self._max_body))
        room = await self._membership.open_direct(identity, form.user_id)
        return respond_json(request, 200, dumps(room.to_json()))
