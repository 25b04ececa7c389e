"""Who belongs to a room and with which rights, what changed it, and the audit log.

Separate from ``models.py`` (messages and their timeline) because these are
the records of access control: memberships, their timeline events, and the
audit entries moderation and administration leave behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Room visibility.
PUBLIC = "public"
PRIVATE = "private"
VISIBILITIES = (PUBLIC, PRIVATE)

# Roles, from most to least rights.
OWNER = "owner"
MODERATOR = "moderator"
MEMBER = "member"
ROLES = (OWNER, MODERATOR, MEMBER)

# Membership states: in the room, asked in, kept out, gone.
JOINED = "joined"
INVITED = "invited"
BANNED = "banned"
LEFT = "left"
STATES = (JOINED, INVITED, BANNED, LEFT)

# What a member event says happened (``MemberEvent.kind``).
MEMBER_EVENT_KINDS = (
    "joined",
    "left",
    "invited",
    "kicked",
    "banned",
    "unbanned",
    "muted",
    "unmuted",
    "role_changed",
    "room_updated",
    "room_archived",
)


@dataclass(frozen=True, slots=True)
class Member:
    """One user's place in one room."""

    room_id: int
    user_id: int
    username: str
    state: str
    role: str
    muted: bool
    updated_at: int

    def to_json(self) -> dict[str, Any]:
        """The ``Member`` object of ``GET /api/rooms/{id}/members``."""
        return {
            "user_id": self.user_id,
            "username": self.username,
            "role": self.role,
            "state": self.state,
            "muted": self.muted,
        }


@dataclass(frozen=True, slots=True)
class MemberEvent:
    """A change of a room's membership or settings, on the room's timeline.

    Its id comes from the sequence every timeline event shares, so history,
    resume and ``GET /api/events`` order it among the messages.
    """

    id: int
    room_id: int
    kind: str
    user_id: int | None
    actor_id: int | None
    ts: int
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``member_event`` frame: what happened, to whom, by whom."""
        return {
            "type": "member_event",
            "id": self.id,
            "room_id": self.room_id,
            "kind": self.kind,
            "user_id": self.user_id,
            "actor_id": self.actor_id,
            "ts": self.ts,
            **self.detail,
        }

    def detail_json(self) -> str:
        """The detail as stored (a JSON object)."""
        return json.dumps(self.detail, separators=(",", ":"), sort_keys=True)


def settled(
    old: Member | None, state: str | None, role: str | None, muted: bool | None
) -> tuple[str, str, bool]:
    """A membership's (state, role, muted) after a change, as every store computes it.

    A field given wins, then the old row's; a new row is a ``joined``
    ``member``, not muted.
    """
    return (
        state if state is not None else (old.state if old else JOINED),
        role if role is not None else (old.role if old else MEMBER),
        muted if muted is not None else (old.muted if old else False),
    )


@dataclass(frozen=True, slots=True)
class MemberUpdate:
    """What to set on a membership (None keeps a field) and the event that records it."""

    kind: str
    actor_id: int | None
    ts: int
    state: str | None = None
    role: str | None = None
    muted: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoomUpdate:
    """The room settings to change (None keeps one), by whom and when: ``update_room``'s."""

    actor_id: int | None
    ts: int
    name: str | None = None
    description: str | None = None
    archived: bool | None = None


@dataclass(frozen=True, slots=True)
class MemberChange:
    """A membership after a change, and the event that recorded it (None: nothing changed)."""

    member: Member
    event: MemberEvent | None


@dataclass(frozen=True, slots=True)
class NewAuditEntry:
    """An action to record: who did what to whom, where, and why."""

    actor_id: int | None
    action: str
    at: int
    target_user_id: int | None = None
    room_id: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A recorded action."""

    id: int
    actor_id: int | None
    action: str
    at: int
    target_user_id: int | None
    room_id: int | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The ``AuditEntry`` object of the audit-log routes."""
        return {
            "id": self.id,
            "actor_id": self.actor_id,
            "action": self.action,
            "target_user_id": self.target_user_id,
            "room_id": self.room_id,
            "reason": self.reason,
            "at": self.at,
        }
