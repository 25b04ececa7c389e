"""The OpenAPI operations of rooms: list, create, join, leave, invite, members, DMs, moderation.

Registered into ``openapi_build`` (``ROUTE_ERRORS`` and ``PATHS``) when
``openapi.py`` imports this module.
"""

from __future__ import annotations

from typing import Any

from chatservice.errors import Conflict, Forbidden, InvalidRequest, NotFound
from chatservice.openapi_build import (
    AUTH,
    BODY,
    NEW_ROOM,
    REASON_BODY,
    ROUTE_ERRORS,
    STORED,
    WRITES,
    Errors,
    admin_list,
    before,
    limit,
    operation,
    path_id,
    returns,
)
from chatservice.openapi_shapes import list_of

# A room named in the path: a private one the caller is not in is 404, as an
# unknown id is; a right the caller lacks is 403 with a sentence naming it.
_IN_ROOM: Errors = (*AUTH, InvalidRequest, Forbidden, NotFound)
_ACT: Errors = (*AUTH, *BODY, Forbidden, NotFound, Conflict, *WRITES)

ROUTE_ERRORS.update(
    {
        ("GET", "/api/rooms"): (*AUTH, *STORED),
        ("POST", "/api/rooms"): NEW_ROOM,
        ("POST", "/api/rooms/create"): NEW_ROOM,
        ("PATCH", "/api/rooms/{room_id}"): _ACT,
        ("POST", "/api/rooms/{room_id}/join"): (*_IN_ROOM, *WRITES),
        ("POST", "/api/rooms/{room_id}/read"): (*_IN_ROOM, *BODY, *WRITES),
        ("POST", "/api/rooms/{room_id}/leave"): (*_IN_ROOM, Conflict, *WRITES),
        ("POST", "/api/rooms/{room_id}/invites"): _ACT,
        ("GET", "/api/rooms/{room_id}/members"): (*_IN_ROOM, *STORED),
        ("PUT", "/api/rooms/{room_id}/members/{user_id}/role"): _ACT,
        ("POST", "/api/rooms/{room_id}/kick"): _ACT,
        ("POST", "/api/rooms/{room_id}/ban"): _ACT,
        ("POST", "/api/rooms/{room_id}/unban"): _ACT,
        ("POST", "/api/rooms/{room_id}/mute"): _ACT,
        ("POST", "/api/rooms/{room_id}/unmute"): _ACT,
        ("GET", "/api/rooms/{room_id}/audit"): (*_IN_ROOM, *STORED),
        ("POST", "/api/dms"): (*AUTH, *BODY, NotFound, *WRITES),
        ("GET", "/api/admin/rooms"): (*AUTH, InvalidRequest, Forbidden, *STORED),
        ("GET", "/api/admin/rooms/{room_id}/members"): (*_IN_ROOM, *STORED),
        ("DELETE", "/api/admin/rooms/{room_id}"): _ACT,
        ("POST", "/api/admin/rooms/{room_id}/archive"): _ACT,
    }
)


_ROOM_ID = path_id("room_id", "room")
_USER_ID = path_id("user_id", "user")
_MEMBER = returns("Member", "The membership after the change.")
_ROOM_AFTER = returns("Room", "The room after the change.")
_MEMBERS = returns(list_of("Member"), "The members.")
_ROOMS = returns(list_of("Room"), "The rooms.")

operation(
    "GET /api/rooms",
    "listRooms",
    "The rooms the caller sees: public ones, and private ones they are in or invited to, "
    "each with the caller's read marker, unread and mention counts.",
    _ROOMS,
)
for _route, _operation_id, _summary in (
    ("POST /api/rooms", "createRoomAlias", "Create a room (alias of /api/rooms/create)."),
    ("POST /api/rooms/create", "createRoom", "Create a room, owned by the caller."),
):
    operation(_route, _operation_id, _summary, returns("Room", "Created.", 201), body="NewRoom")
_JOINED = returns("Member", "The caller's membership.")
_LEFT = returns("Left", "Left.")
_UPDATE_ROOM = "Rename, describe, archive or unarchive a room (its owner and moderators)."
_JOIN = "Join a public room, or accept an invitation to a private one."
_LEAVE = "Leave a room or decline an invitation; the caller's sockets in it close (4003)."
_INVITE = "Invite a user (to a private room: its owner and moderators)."
_MARK_READ = (
    "Move the caller's read marker forward (never back); every socket of theirs gets a "
    "read_marker frame."
)
_COUNTS = returns("RoomCounts", "The marker and the room's counts after it.")
_LIST_MEMBERS = "The room's members and invitees with their roles (and bans, for moderators)."

# The caller's operations on the room of the path, in the document's order:
# (method, path below the room's, operationId, summary, answers, body schema).
_ON_ROOM: tuple[tuple[str, str, str, str, dict[str, Any], str | None], ...] = (
    ("PATCH", "", "updateRoom", _UPDATE_ROOM, _ROOM_AFTER, "RoomUpdate"),
    ("POST", "/join", "joinRoom", _JOIN, _JOINED, None),
    ("POST", "/read", "markRead", _MARK_READ, _COUNTS, "ReadMarker"),
    ("POST", "/leave", "leaveRoom", _LEAVE, _LEFT, None),
    ("POST", "/invites", "invite", _INVITE, _MEMBER, "Target"),
    ("GET", "/members", "members", _LIST_MEMBERS, _MEMBERS, None),
)
for _method, _below, _operation_id, _summary, _answers, _body in _ON_ROOM:
    operation(
        f"{_method} /api/rooms/{{room_id}}{_below}",
        _operation_id,
        _summary,
        _answers,
        body=_body,
        parameters=[_ROOM_ID],
    )
operation(
    "PUT /api/rooms/{room_id}/members/{user_id}/role",
    "setRole",
    "Name a moderator, or make one a plain member again (the owner only).",
    _MEMBER,
    body="Role",
    parameters=[_ROOM_ID, _USER_ID],
)
for _action, _summary in (
    ("kick", "Remove a member (who may rejoin a public room); their sockets close (4003)."),
    ("ban", "Keep a user out until unbanned; their sockets in the room close (4003)."),
    ("unban", "Let a banned user join again."),
    ("mute", "Let a member read but not post."),
    ("unmute", "Let a muted member post again."),
):
    operation(
        f"POST /api/rooms/{{room_id}}/{_action}",
        _action,
        _summary,
        _MEMBER,
        body="Target",
        parameters=[_ROOM_ID],
    )
operation(
    "GET /api/rooms/{room_id}/audit",
    "roomAudit",
    "The room's entries of the audit log, newest first (its owner and moderators).",
    returns(list_of("AuditEntry"), "The entries."),
    parameters=[_ROOM_ID, before("entries"), limit(100, 50)],
)
operation(
    "POST /api/dms",
    "openDirect",
    "The private room of the caller and another user: the same room every time.",
    returns("Room", "The direct room."),
    body="Target",
)
operation(
    "DELETE /api/admin/rooms/{room_id}",
    "adminDeleteRoom",
    "Server admins: delete any room but General; its sockets close (4003).",
    returns("DeletedRoom", "Deleted."),
    parameters=[_ROOM_ID],
    request_body=REASON_BODY,
)
operation(
    "POST /api/admin/rooms/{room_id}/archive",
    "adminArchiveRoom",
    "Server admins: archive (read-only) or unarchive any room.",
    _ROOM_AFTER,
    body="AdminArchive",
    parameters=[_ROOM_ID],
)
operation(
    "GET /api/admin/rooms",
    "adminListRooms",
    "Server admins: every room by id (private and direct too), or those whose name contains q.",
    _ROOMS,
    parameters=admin_list("room's name", "rooms"),
)
operation(
    "GET /api/admin/rooms/{room_id}/members",
    "adminRoomMembers",
    "Server admins: any room's members, invitees and bans, with their roles.",
    _MEMBERS,
    parameters=[_ROOM_ID],
)
