"""Parse the bodies of the room, membership and moderation routes into typed forms.

Like ``message_forms``: every malformed body is a ``400 invalid_request``
naming the field, before any use case runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatservice.access_models import MEMBER, MODERATOR, PUBLIC, VISIBILITIES
from chatservice.errors import InvalidRequest
from chatservice.message_forms import parse_path_id
from chatservice.wire import (
    MAX_DESCRIPTION,
    MAX_ID,
    RoomForm,
    check_room_name,
    parse_object,
    parse_room,
    text_field,
)

MAX_REASON = 512


@dataclass(frozen=True, slots=True)
class NewRoomForm:
    """A room to create: name, description, visibility."""

    room: RoomForm
    visibility: str


@dataclass(frozen=True, slots=True)
class TargetForm:
    """A user to act on, and why (shown in the member event and the audit log)."""

    user_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class RoomUpdateForm:
    """The settings a ``PATCH`` of a room changes (None: unchanged)."""

    name: str | None
    description: str | None
    archived: bool | None
    reason: str


def parse_room_id(value: int) -> int:
    """A room id from a URL path (digits only: the route's ``int`` converter), in range."""
    return parse_path_id(str(value), "room")


def parse_user_id(value: int) -> int:
    """A user id from a URL path (digits only: the route's ``int`` converter), in range."""
    return parse_path_id(str(value), "user")


def parse_new_room(data: bytes) -> NewRoomForm:
    """``{"name", "description"?, "visibility"?}``: public unless it says private."""
    room = parse_room(data)
    body = parse_object(data)
    visibility = text_field(body, "visibility", required=False) or PUBLIC
    if visibility not in VISIBILITIES:
        raise InvalidRequest("'visibility' must be 'public' or 'private'.")
    return NewRoomForm(room, visibility)


def parse_target(data: bytes) -> TargetForm:
    """``{"user_id", "reason"?}``."""
    body = parse_object(data)
    return TargetForm(_user_id(body), _reason(body))


def parse_role(data: bytes) -> str:
    """``{"role": "moderator" | "member"}``."""
    role = text_field(parse_object(data), "role")
    if role not in (MODERATOR, MEMBER):
        raise InvalidRequest("'role' must be 'moderator' or 'member'.")
    return role


def parse_room_update(data: bytes) -> RoomUpdateForm:
    """``{"name"?, "description"?, "archived"?, "reason"?}``, at least one setting."""
    body = parse_object(data)
    name = text_field(body, "name", required=False)
    if name is not None:
        name = name.strip()
        check_room_name(name)
    description = text_field(body, "description", required=False)
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(f"'description' must be at most {MAX_DESCRIPTION} characters.")
    archived = body.get("archived")
    if archived is not None and not isinstance(archived, bool):
        raise InvalidRequest("'archived' must be true or false.")
    if name is None and description is None and archived is None:
        raise InvalidRequest("Give at least one of 'name', 'description' and 'archived'.")
    return RoomUpdateForm(name, description, archived, _reason(body))


def _user_id(body: dict[str, Any]) -> int:
    value = body.get("user_id")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidRequest(f"'user_id' must be an integer between 1 and {MAX_ID}.")
    return value


def _reason(body: dict[str, Any]) -> str:
    reason = text_field(body, "reason", required=False) or ""
    if len(reason) > MAX_REASON:
        raise InvalidRequest(f"'reason' must be at most {MAX_REASON} characters.")
    return reason
