"""The OpenAPI schemas of sessions, accounts and server admins (issue 11).

Merged into ``openapi_schemas.SCHEMAS``, as the access-control ones are.
"""

from __future__ import annotations

from typing import Any

from chatservice.openapi_shapes import ID, closed_object
from chatservice.room_forms import MAX_REASON
from chatservice.wire import MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES

# A password the user chooses: the registration rule (``Credentials``).
_NEW_PASSWORD = {
    "type": "string",
    "minLength": -(-MIN_PASSWORD_BYTES // 4),
    "maxLength": MAX_PASSWORD_BYTES,
    "pattern": "^[^\\u0000]*$",
}
_ERASED = {"type": "integer", "minimum": 0}

ACCOUNT_SCHEMAS: dict[str, Any] = {
    "AdminUser": closed_object(
        {
            "id": ID,
            "username": {"type": "string"},
            "created_at": {"type": "integer"},
            "admin": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "disabled_at": {"type": ["integer", "null"]},
            "deleted": {"type": "boolean"},
        }
    ),
    "PasswordChange": {
        "type": "object",
        "required": ["current_password", "new_password"],
        "properties": {
            "current_password": {"type": "string", "pattern": "^[^\\u0000]*$"},
            "new_password": _NEW_PASSWORD,
        },
    },
    "PasswordConfirmation": {
        "type": "object",
        "required": ["password"],
        "properties": {"password": {"type": "string", "pattern": "^[^\\u0000]*$"}},
    },
    "Reason": {
        "type": "object",
        "properties": {
            "reason": {"type": ["string", "null"], "maxLength": MAX_REASON},
        },
    },
    "Revoked": closed_object({"revoked": {"type": "string", "enum": ["session", "all"]}}),
    "AccountDeleted": closed_object({"deleted": {"const": True}, "erased_messages": _ERASED}),
    "Erased": closed_object({"erased_messages": _ERASED}),
}
