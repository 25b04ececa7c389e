"""The OpenAPI operations of sessions, accounts and server admins (issue 11).

Registered into ``openapi_build`` (``ROUTE_ERRORS`` and ``PATHS``) when
``openapi.py`` imports this module, as ``openapi_rooms`` is.
"""

from __future__ import annotations

from typing import Any

from chatservice.account_forms import DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT
from chatservice.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    Overloaded,
    PasswordTooLong,
    RateLimited,
)
from chatservice.openapi_build import (
    AUTH,
    BODY,
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
    query,
    returns,
)
from chatservice.openapi_shapes import list_of
from chatservice.wire import MAX_ID

# A password is asked again: a wrong one is 403 and counts as a failed login.
_PASSWORD: Errors = (Forbidden, RateLimited, Overloaded)
# An admin route: 403 without the right, 404 for an unknown user.
_ADMIN: Errors = (*AUTH, *BODY, Forbidden, NotFound, *WRITES)

ROUTE_ERRORS.update(
    {
        ("POST", "/api/logout"): (*AUTH, *WRITES),
        ("POST", "/api/logout-all"): (*AUTH, *WRITES),
        ("POST", "/api/account/password"): (*AUTH, *BODY, PasswordTooLong, *_PASSWORD, *WRITES),
        ("DELETE", "/api/account"): (*AUTH, *BODY, *_PASSWORD, *WRITES),
        ("GET", "/api/admin/users"): (*AUTH, InvalidRequest, Forbidden, *STORED),
        ("GET", "/api/admin/audit"): (*AUTH, InvalidRequest, Forbidden, *STORED),
        ("POST", "/api/admin/users/{user_id}/disable"): _ADMIN,
        ("POST", "/api/admin/users/{user_id}/enable"): _ADMIN,
        ("POST", "/api/admin/users/{user_id}/erase-messages"): _ADMIN,
    }
)

_USER_ID = path_id("user_id", "user")

operation(
    "POST /api/logout",
    "logout",
    "Revoke the token of this request, on every process (any body is ignored).",
    returns("Revoked", "Revoked: this token no longer works."),
)
operation(
    "POST /api/logout-all",
    "logoutAll",
    "Revoke every token of the user, this one included (any body is ignored).",
    returns("Revoked", "Revoked: no token of the user works."),
)
operation(
    "POST /api/account/password",
    "changePassword",
    "Change one's password; every other token is revoked.",
    returns("Session", "Changed: a new token for this session."),
    body="PasswordChange",
)
operation(
    "DELETE /api/account",
    "deleteAccount",
    "Delete one's account; its messages become tombstones by a deleted user.",
    returns("AccountDeleted", "Deleted, and the messages erased."),
    body="PasswordConfirmation",
)
operation(
    "GET /api/admin/users",
    "adminListUsers",
    "Server admins: accounts in id order, or those whose name contains q.",
    returns(list_of("AdminUser"), "The accounts."),
    parameters=admin_list("username", "accounts"),
)
operation(
    "GET /api/admin/audit",
    "adminAuditLog",
    "Server admins: the audit log, newest first (every action, or one room's).",
    returns(list_of("AuditEntry"), "The entries."),
    parameters=[
        query("roomId", 1, "Only this room's entries (alias: room_id).", maximum=MAX_ID),
        before("entries", maximum=MAX_ID),
        limit(MAX_AUDIT_LIMIT, DEFAULT_AUDIT_LIMIT),
    ],
)
# Server admins' actions on an account: (path below the user's, operationId,
# summary, answer).
_ACTIONS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    (
        "disable",
        "adminDisableUser",
        "Server admins: disable an account (its requests, logins and sockets).",
        returns("AdminUser", "The account, disabled."),
    ),
    (
        "enable",
        "adminEnableUser",
        "Server admins: enable a disabled account again.",
        returns("AdminUser", "The account, enabled."),
    ),
    (
        "erase-messages",
        "adminEraseMessages",
        "Server admins: turn every message of a user into a tombstone.",
        returns("Erased", "How many messages were erased."),
    ),
)
for _action, _operation_id, _summary, _answers in _ACTIONS:
    operation(
        f"POST /api/admin/users/{{user_id}}/{_action}",
        _operation_id,
        _summary,
        _answers,
        parameters=[_USER_ID],
        request_body=REASON_BODY,
    )
