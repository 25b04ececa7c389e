"""The OpenAPI schemas of access control: memberships, member events, audit entries, forms.

Merged into ``openapi_schemas.SCHEMAS``; kept apart so each file stays one
screenful of related shapes.
"""

from __future__ import annotations

from typing import Any

from chatservice.access_models import MEMBER_EVENT_KINDS, ROLES, STATES
from chatservice.openapi_shapes import ID, closed_object, deleted
from chatservice.room_forms import MAX_REASON
from chatservice.wire import MAX_DESCRIPTION, MAX_ID, MAX_ROOM_NAME

_MAYBE_ID = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID}
_REASON = {"type": "string", "maxLength": MAX_REASON, "pattern": "^[^\\u0000]*$"}
# Room names: no control characters (a direct room's key starts with one).
ROOM_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ROOM_NAME,
    "pattern": "^[^\\u0000-\\u001f\\u007f]+$",
}

ACCESS_SCHEMAS: dict[str, Any] = {
    "Member": closed_object(
        {
            "user_id": ID,
            "username": {"type": "string"},
            "role": {"enum": list(ROLES)},
            "state": {"enum": list(STATES)},
            "muted": {"type": "boolean"},
        }
    ),
    "MemberEvent": {
        "type": "object",
        "required": ["type", "id", "room_id", "kind", "user_id", "actor_id", "ts"],
        "properties": {
            "type": {"const": "member_event"},
            "id": ID,
            "room_id": ID,
            "kind": {"enum": list(MEMBER_EVENT_KINDS)},
            "user_id": _MAYBE_ID,
            "actor_id": _MAYBE_ID,
            "ts": {"type": "integer"},
            "reason": {"type": "string"},
            "role": {"enum": list(ROLES)},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "archived": {"type": "boolean"},
        },
    },
    "AuditEntry": closed_object(
        {
            "id": ID,
            "actor_id": _MAYBE_ID,
            "action": {"type": "string"},
            "target_user_id": _MAYBE_ID,
            "room_id": _MAYBE_ID,
            "reason": {"type": "string"},
            "at": {"type": "integer"},
        }
    ),
    "Target": {
        "type": "object",
        "required": ["user_id"],
        "properties": {"user_id": ID, "reason": _REASON},
    },
    "Role": {
        "type": "object",
        "required": ["role"],
        "properties": {"role": {"enum": ["moderator", "member"]}},
    },
    "RoomUpdate": {
        "type": "object",
        # At least one setting: a reason alone changes nothing (400).
        "anyOf": [{"required": [field]} for field in ("name", "description", "archived")],
        "properties": {
            "name": ROOM_NAME,
            "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
            "archived": {"type": "boolean"},
            "reason": _REASON,
        },
    },
    "DeletedRoom": deleted("room_id"),
    "AdminArchive": {
        "type": "object",
        "required": ["archived"],
        "properties": {"archived": {"type": "boolean"}, "reason": _REASON},
    },
    "Left": closed_object({"room_id": ID, "state": {"const": "left"}}),
}
