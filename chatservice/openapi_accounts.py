"""The OpenAPI description of the session, account and admin routes (issue 11).

Kept beside ``openapi.py``, which adds these operations, their error
declarations and their schemas to the one document: the same rules apply
(errors from the classes each route raises, limits from the constants of
the code that enforces them).
"""

from __future__ import annotations

from typing import Any

from chatservice.account_forms import (
    DEFAULT_USERS_LIMIT,
    MAX_REASON,
    MAX_USER_QUERY,
    MAX_USERS_LIMIT,
)
from chatservice.errors import (
    ChatError,
    Forbidden,
    InvalidJSON,
    InvalidRequest,
    NotFound,
    Overloaded,
    PasswordTooLong,
    RateLimited,
)
from chatservice.openapi_schemas import ref
from chatservice.wire import MAX_ID, MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES

Errors = tuple[type[ChatError], ...]

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# A password the user chooses: the registration rule (``Credentials``).
_NEW_PASSWORD = {
    "type": "string",
    "minLength": -(-MIN_PASSWORD_BYTES // 4),
    "maxLength": MAX_PASSWORD_BYTES,
    "pattern": "^[^\\u0000]*$",
}

ACCOUNT_SCHEMAS: dict[str, Any] = {
    "AdminUser": {
        "type": "object",
        "required": [
            "id",
            "username",
            "created_at",
            "admin",
            "disabled",
            "disabled_at",
            "deleted",
        ],
        "additionalProperties": False,
        "properties": {
            "id": _ID,
            "username": {"type": "string"},
            "created_at": {"type": "integer"},
            "admin": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "disabled_at": {"type": ["integer", "null"]},
            "deleted": {"type": "boolean"},
        },
    },
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
    "Revoked": {
        "type": "object",
        "required": ["revoked"],
        "additionalProperties": False,
        "properties": {"revoked": {"type": "string", "enum": ["session", "all"]}},
    },
    "AccountDeleted": {
        "type": "object",
        "required": ["deleted", "erased_messages"],
        "additionalProperties": False,
        "properties": {
            "deleted": {"const": True},
            "erased_messages": {"type": "integer", "minimum": 0},
        },
    },
    "Erased": {
        "type": "object",
        "required": ["erased_messages"],
        "additionalProperties": False,
        "properties": {"erased_messages": {"type": "integer", "minimum": 0}},
    },
}


def account_route_errors(
    auth: Errors, writes: Errors, stored: Errors
) -> dict[tuple[str, str], Errors]:
    """The error classes of each route here, built on ``openapi.py``'s groups.

    ``auth``: a token is checked; ``writes``: the store is written;
    ``stored``: the store is read.
    """
    body: Errors = (InvalidJSON, InvalidRequest)
    # A password is checked (a wrong one counts as a failed login) ...
    password: Errors = (Forbidden, RateLimited, Overloaded)
    # ... and an admin route refuses anyone without the right.
    admin: Errors = (*auth, *body, Forbidden, NotFound, *writes)
    return {
        ("POST", "/api/logout"): (*auth, *writes),
        ("POST", "/api/logout-all"): (*auth, *writes),
        ("POST", "/api/account/password"): (*auth, *body, PasswordTooLong, *password, *writes),
        ("DELETE", "/api/account"): (*auth, *body, *password, *writes),
        ("GET", "/api/admin/users"): (*auth, InvalidRequest, Forbidden, *stored),
        ("POST", "/api/admin/users/{user_id}/disable"): admin,
        ("POST", "/api/admin/users/{user_id}/enable"): admin,
        ("POST", "/api/admin/users/{user_id}/erase-messages"): admin,
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _optional_body(name: str) -> dict[str, Any]:
    return {"required": False, "content": {"application/json": {"schema": ref(name)}}}


_USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "description": "The user's id.",
    "schema": _ID,
}

# Keyword arguments of ``openapi._operation``, one operation each.
ACCOUNT_OPERATIONS: list[dict[str, Any]] = [
    {
        "route": "POST /api/logout",
        "operation_id": "logout",
        "summary": "Revoke the token of this request, on every process (any body is ignored).",
        "answers": {"200": _json(ref("Revoked"), "Revoked: this token no longer works.")},
        "authenticated": True,
    },
    {
        "route": "POST /api/logout-all",
        "operation_id": "logoutAll",
        "summary": "Revoke every token of the user, this one included (any body is ignored).",
        "answers": {"200": _json(ref("Revoked"), "Revoked: no token of the user works.")},
        "authenticated": True,
    },
    {
        "route": "POST /api/account/password",
        "operation_id": "changePassword",
        "summary": "Change one's password; every other token is revoked.",
        "answers": {"200": _json(ref("Session"), "Changed: a new token for this session.")},
        "authenticated": True,
        "body": "PasswordChange",
    },
    {
        "route": "DELETE /api/account",
        "operation_id": "deleteAccount",
        "summary": "Delete one's account; its messages become tombstones by a deleted user.",
        "answers": {"200": _json(ref("AccountDeleted"), "Deleted, and the messages erased.")},
        "authenticated": True,
        "body": "PasswordConfirmation",
    },
    {
        "route": "GET /api/admin/users",
        "operation_id": "adminListUsers",
        "summary": "Server admins: accounts in id order, or those whose name contains q.",
        "answers": {"200": _json({"type": "array", "items": ref("AdminUser")}, "The accounts.")},
        "authenticated": True,
        "parameters": [
            {
                "name": "q",
                "in": "query",
                "description": "A part of the username (case-insensitive).",
                "schema": {"type": "string", "maxLength": MAX_USER_QUERY},
            },
            {
                "name": "after",
                "in": "query",
                "description": "Only accounts with a larger id (the next page).",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "default": 0},
            },
            {
                "name": "limit",
                "in": "query",
                "description": "How many at most.",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_USERS_LIMIT,
                    "default": DEFAULT_USERS_LIMIT,
                },
            },
        ],
    },
    *(
        {
            "route": f"POST /api/admin/users/{{user_id}}/{action}",
            "operation_id": operation_id,
            "summary": summary,
            "answers": {"200": answer},
            "authenticated": True,
            "parameters": [_USER_ID],
            "request_body": _optional_body("Reason"),
        }
        for action, operation_id, summary, answer in (
            (
                "disable",
                "adminDisableUser",
                "Server admins: disable an account (its requests, logins and sockets).",
                _json(ref("AdminUser"), "The account, disabled."),
            ),
            (
                "enable",
                "adminEnableUser",
                "Server admins: enable a disabled account again.",
                _json(ref("AdminUser"), "The account, enabled."),
            ),
            (
                "erase-messages",
                "adminEraseMessages",
                "Server admins: turn every message of a user into a tombstone.",
                _json(ref("Erased"), "How many messages were erased."),
            ),
        )
    ),
]
