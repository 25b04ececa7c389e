"""The JSON Schemas of the OpenAPI document: the objects the REST API sends and takes.

Kept apart from ``openapi.py`` (which builds the operations and their error
answers) because they are the shapes: limits come from the constants of
the code that enforces them (``wire``, ``message_forms``, ``models``).
"""

from __future__ import annotations

import math
from typing import Any

from chatservice.errors import StoreFull, StoreReadOnly, all_error_classes
from chatservice.health import (
    REDIS_DOWN,
    REDIS_OK,
    STORE_CANNOT_WRITE,
    STORE_OK,
    STORE_UNREACHABLE,
)
from chatservice.message_forms import MAX_EMOJI_CODE_POINTS
from chatservice.models import REPLY_EXCERPT_LENGTH
from chatservice.openapi_access_schemas import ACCESS_SCHEMAS, ROOM_NAME
from chatservice.openapi_account_schemas import ACCOUNT_SCHEMAS
from chatservice.openapi_read_schemas import READ_COUNT_FIELDS, READ_SCHEMAS
from chatservice.openapi_shapes import ID, closed_object, ref
from chatservice.wire import (
    MAX_CLIENT_MSG_ID,
    MAX_DESCRIPTION,
    MAX_ID,
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_BYTES,
    USERNAME_PATTERN,
)

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "code"],
        "properties": {
            "error": {"type": "string"},
            "code": {
                "type": "string",
                "enum": list(dict.fromkeys(cls.code for cls in all_error_classes())),
            },
        },
    },
    "User": closed_object(
        {
            "id": {"type": "integer", "minimum": 1},
            "username": {"type": "string"},
            "created_at": {"type": "integer"},
        }
    ),
    "Room": closed_object(
        {
            "id": {"type": "integer", "minimum": 1},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "created_by": {"type": ["integer", "null"]},
            "created_at": {"type": "integer"},
            "visibility": {"enum": ["public", "private"]},
            "archived": {"type": "boolean"},
            "direct": {"type": "boolean"},
            # Only in GET /api/rooms: the caller's own place in the room.
            "membership": {
                "type": ["object", "null"],
                "required": ["state", "role", "muted"],
                "additionalProperties": False,
                "properties": {
                    "state": {"enum": ["joined", "invited", "banned", "left"]},
                    "role": {"enum": ["owner", "moderator", "member"]},
                    "muted": {"type": "boolean"},
                },
            },
            # Only in GET /api/rooms: the caller's read marker and counts
            # (``read_markers.py``; each count stops at COUNT_LIMIT).
            **READ_COUNT_FIELDS,
        },
        optional=("membership", *READ_COUNT_FIELDS),
    ),
    "Message": closed_object(
        {
            "type": {"const": "message"},
            "id": ID,
            "room_id": ID,
            "sender_id": ID,
            "username": {"type": "string"},
            "content": {"type": "string", "description": "Empty once deleted."},
            "ts": {"type": "integer"},
            "client_msg_id": {"type": "string"},
            "reply_to": {"type": ["integer", "null"], "minimum": 1},
            "reply_preview": {"oneOf": [{"type": "null"}, ref("ReplyPreview")]},
            "edited_at": {"type": ["integer", "null"]},
            "deleted": {"type": "boolean"},
            "reactions": {"type": "array", "items": ref("Reaction")},
            "mentions": {
                "type": "array",
                "items": ID,
                "description": "The users its @username words mention; empty once deleted.",
            },
        },
        optional=("client_msg_id",),  # only when the sender gave one
    ),
    "ReplyPreview": closed_object(
        {
            "id": ID,
            "sender_id": ID,
            "username": {"type": "string"},
            "excerpt": {"type": "string", "maxLength": REPLY_EXCERPT_LENGTH},
            "deleted": {"type": "boolean"},
        }
    ),
    "Reaction": closed_object(
        {
            "emoji": {"type": "string", "minLength": 1, "maxLength": MAX_EMOJI_CODE_POINTS},
            "count": {"type": "integer", "minimum": 1},
            "user_ids": {"type": "array", "items": ID},
        }
    ),
    "MessageUpdated": closed_object(
        {"type": {"const": "message_updated"}, "event_id": ID, "message": ref("Message")}
    ),
    "Event": {"oneOf": [ref("Message"), ref("MessageUpdated"), ref("MemberEvent")]},
    "NewMessage": {
        "type": "object",
        "required": ["room_id", "content"],
        "properties": {
            "room_id": ID,
            "content": {"type": "string", "minLength": 1},
            "reply_to": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
            "client_msg_id": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": MAX_CLIENT_MSG_ID,
            },
        },
    },
    "Edit": {
        "type": "object",
        "required": ["content"],
        "properties": {"content": {"type": "string", "minLength": 1}},
    },
    "Session": closed_object({"token": {"type": "string"}, "user": ref("User")}),
    "Credentials": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "pattern": f"^{USERNAME_PATTERN.pattern}$"},
            # The password limit is in UTF-8 bytes (bcrypt's), which a
            # character count cannot state exactly: a character is 1 to 4
            # bytes, so the bounds are the character counts that can fit.
            # No NUL.
            "password": {
                "type": "string",
                "minLength": math.ceil(MIN_PASSWORD_BYTES / 4),
                "maxLength": MAX_PASSWORD_BYTES,
                "pattern": "^[^\\u0000]*$",
            },
        },
    },
    "NewRoom": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": ROOM_NAME,
            "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION},
            "visibility": {"enum": ["public", "private"]},
        },
    },
    **ACCESS_SCHEMAS,
    **ACCOUNT_SCHEMAS,
    **READ_SCHEMAS,
    "Ticket": closed_object({"ticket": {"type": "string"}, "expires_in": {"type": "integer"}}),
    "Health": {
        "type": "object",
        "required": ["status", "store", "version"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "store": {
                "type": "string",
                "enum": [STORE_OK, STORE_UNREACHABLE, STORE_CANNOT_WRITE],
            },
            "reason": {
                "description": "With store=cannot_write: the code writes fail with.",
                "type": "string",
                "enum": [cls.code for cls in (StoreFull, StoreReadOnly)],
            },
            "redis": {
                "description": "With REDIS_URL: whether other processes are reached.",
                "type": "string",
                "enum": [REDIS_OK, REDIS_DOWN],
            },
            "version": {"type": "string"},
        },
    },
}
