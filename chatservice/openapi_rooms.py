"""The OpenAPI operations of rooms: list, create, join, leave, invite, members, DMs, moderation.

Registered into ``openapi_build`` (``ROUTE_ERRORS`` and ``PATHS``) when
``openapi.py`` imports this module.
"""

from __future__ import annotations

from typing import Any

from chatservice.account_forms import DEFAULT_USERS_LIMIT, MAX_USER_QUERY, MAX_USERS_LIMIT
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
    json_body,
    operation,
    path_id,
    query,
)
from chatservice.openapi_schemas import ref
from chatservice.wire import MAX_ID

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
_MEMBER = {"200": json_body(ref("Member"), "The membership after the change.")}

operation(
    "GET /api/rooms",
    "listRooms",
    "The rooms the caller sees: public ones, and private ones they are in or invited to, "
    "each with the caller's read marker, unread and mention counts.",
    {"200": json_body({"type": "array", "items": ref("Room")}, "The rooms.")},
    authenticated=True,
)
for _route, _operation_id, _summary in (
    ("POST /api/rooms", "createRoomAlias", "Create a room (alias of /api/rooms/create)."),
    ("POST /api/rooms/create", "createRoom", "Create a room, owned by the caller."),
):
    _created = {"201": json_body(ref("Room"), "Created.")}
    operation(_route, _operation_id, _summary, _created, authenticated=True, body="NewRoom")
_ROOM_AFTER = {"200": json_body(ref("Room"), "The room after the change.")}
_MEMBERS = {"200": json_body({"type": "array", "items": ref("Member")}, "The members.")}
_JOINED = {"200": json_body(ref("Member"), "The caller's membership.")}
_LEFT = {"200": json_body(ref("Left"), "Left.")}
_UPDATE_ROOM = "Rename, describe, archive or unarchive a room (its owner and moderators)."
_JOIN = "Join a public room, or accept an invitation to a private one."
_LEAVE = "Leave a room or decline an invitation; the caller's sockets in it close (4003)."
_INVITE = "Invite a user (to a private room: its owner and moderators)."
_MARK_READ = (
    "Move the caller's read marker forward (never back); every socket of theirs gets a "
    "read_marker frame."
)
_COUNTS = {"200": json_body(ref("RoomCounts"), "The marker and the room's counts after it.")}
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
        authenticated=True,
        body=_body,
        parameters=[_ROOM_ID],
    )
operation(
    "PUT /api/rooms/{room_id}/members/{user_id}/role",
    "setRole",
    "Name a moderator, or make one a plain member again (the owner only).",
    _MEMBER,
    authenticated=True,
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
        authenticated=True,
        body="Target",
        parameters=[_ROOM_ID],
    )
operation(
    "GET /api/rooms/{room_id}/audit",
    "roomAudit",
    "The room's entries of the audit log, newest first (its owner and moderators).",
    {"200": json_body({"type": "array", "items": ref("AuditEntry")}, "The entries.")},
    authenticated=True,
    parameters=[
        _ROOM_ID,
        query("before", 1, "Only entries with a smaller id (the next page)."),
        query("limit", 1, "How many at most.", maximum=100, default=50),
    ],
)
operation(
    "POST /api/dms",
    "openDirect",
    "The private room of the caller and another user: the same room every time.",
    {"200": json_body(ref("Room"), "The direct room.")},
    authenticated=True,
    body="Target",
)
operation(
    "DELETE /api/admin/rooms/{room_id}",
    "adminDeleteRoom",
    "Server admins: delete any room but General; its sockets close (4003).",
    {"200": json_body(ref("DeletedRoom"), "Deleted.")},
    authenticated=True,
    parameters=[_ROOM_ID],
    request_body=REASON_BODY,
)
operation(
    "POST /api/admin/rooms/{room_id}/archive",
    "adminArchiveRoom",
    "Server admins: archive (read-only) or unarchive any room.",
    _ROOM_AFTER,
    authenticated=True,
    body="AdminArchive",
    parameters=[_ROOM_ID],
)
operation(
    "GET /api/admin/rooms",
    "adminListRooms",
    "Server admins: every room by id (private and direct too), or those whose name contains q.",
    {"200": json_body({"type": "array", "items": ref("Room")}, "The rooms.")},
    authenticated=True,
    parameters=[
        {
            "name": "q",
            "in": "query",
            "description": "A part of the room's name (case-insensitive).",
            "schema": {"type": "string", "maxLength": MAX_USER_QUERY},
        },
        query(
            "after", 0, "Only rooms with a larger id (the next page).", maximum=MAX_ID, default=0
        ),
        query(
            "limit", 1, "How many at most.", maximum=MAX_USERS_LIMIT, default=DEFAULT_USERS_LIMIT
        ),
    ],
)
operation(
    "GET /api/admin/rooms/{room_id}/members",
    "adminRoomMembers",
    "Server admins: any room's members, invitees and bans, with their roles.",
    {"200": json_body({"type": "array", "items": ref("Member")}, "The members.")},
    authenticated=True,
    parameters=[_ROOM_ID],
)
