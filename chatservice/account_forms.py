"""Sans-I/O parsing of what the account and admin routes take: passwords, reasons, queries.

The same rules as registration for a new password (``wire``), so a password
that could not be registered cannot be set either; everything here is bytes
or strings in, a record or a ``ChatError`` out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chatservice.errors import InvalidRequest, PasswordTooLong
from chatservice.room_forms import MAX_REASON
from chatservice.wire import (
    MAX_ID,
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_BYTES,
    parse_object,
    query_int,
    text_field,
)

MAX_USER_QUERY = 64
DEFAULT_USERS_LIMIT = 50
MAX_USERS_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """The body of ``POST /api/account/password``."""

    current_password: str
    new_password: str


def new_password(password: str, key: str = "new_password") -> str:
    """Check a password a user chooses: 8-72 bytes of UTF-8, as at registration."""
    size = len(password.encode("utf-8"))
    if size < MIN_PASSWORD_BYTES:
        raise InvalidRequest(f"'{key}' must be at least {MIN_PASSWORD_BYTES} bytes.")
    if size > MAX_PASSWORD_BYTES:
        raise PasswordTooLong(f"'{key}' must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8.")
    return password


def parse_password_change(data: bytes) -> PasswordChange:
    """``{"current_password", "new_password"}``: two strings, the new one a valid password."""
    body = parse_object(data)
    current = text_field(body, "current_password") or ""
    return PasswordChange(current, new_password(text_field(body, "new_password") or ""))


def parse_password(data: bytes) -> str:
    """``{"password"}``: the account's password, checked later (any string here)."""
    return text_field(parse_object(data), "password") or ""


def parse_reason(data: bytes) -> str | None:
    """An optional ``{"reason"}`` for an admin action: no body (or ``{}``) is no reason."""
    if not data.strip():
        return None
    reason = text_field(parse_object(data), "reason", required=False)
    if reason is None:
        return None
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidRequest(f"'reason' must be at most {MAX_REASON} characters.")
    return reason or None


@dataclass(frozen=True, slots=True)
class UsersQuery:
    """Which accounts ``GET /api/admin/users`` lists."""

    query: str | None
    after: int
    limit: int


def parse_users_query(args: Mapping[bytes, Sequence[bytes]]) -> UsersQuery:
    """Validate ``q`` (a part of a name, at most 64 characters), ``after`` and ``limit``."""
    query = None
    values = args.get(b"q")
    if values:
        try:
            query = values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("'q' must be UTF-8.") from None
        if len(query) > MAX_USER_QUERY or "\x00" in query:
            raise InvalidRequest(f"'q' must be at most {MAX_USER_QUERY} characters.")
    after = query_int(args, "after", low=0, default=0)
    limit = query_int(args, "limit", low=1, high=MAX_USERS_LIMIT, default=DEFAULT_USERS_LIMIT)
    assert after is not None and limit is not None
    return UsersQuery(query or None, after, limit)


def parse_user_id(raw: str) -> int:
    """A user id from a URL path segment: decimal digits in 1..2^63-1, as message ids are."""
    digits = raw.lstrip("0")
    wrong = InvalidRequest(f"The user id must be an integer between 1 and {MAX_ID}.")
    if not raw.isascii() or not raw.isdigit() or len(digits) > len(str(MAX_ID)):
        raise wrong
    value = int(digits or "0")
    if not 1 <= value <= MAX_ID:
        raise wrong
    return value


DEFAULT_AUDIT_LIMIT = 50
MAX_AUDIT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries ``GET /api/admin/audit`` answers: all, or one room's; one page."""

    room_id: int | None
    before: int | None
    limit: int


def parse_audit_query(args: Mapping[bytes, Sequence[bytes]]) -> AuditQuery:
    """Validate ``roomId`` (optional), ``before`` and ``limit`` (1-100, default 50)."""
    room_id = query_int(args, "roomId", "room_id")
    before = query_int(args, "before")
    limit = query_int(args, "limit", high=MAX_AUDIT_LIMIT, default=DEFAULT_AUDIT_LIMIT)
    assert limit is not None
    return AuditQuery(room_id, before, limit)
