"""The records the service stores and sends, and their JSON forms.

Times are integer milliseconds since the Unix epoch, as API.md says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class User:
    """A registered account; the password hash lives only in ``Credentials``."""

    id: int
    username: str
    created_at: int

    def to_json(self) -> dict[str, Any]:
        """Return API.md's ``User`` object (never a hash)."""
        return {"id": self.id, "username": self.username, "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user with the bcrypt hash to check a login against."""

    user: User
    password_hash: bytes


@dataclass(frozen=True, slots=True)
class Room:
    """A chat room."""

    id: int
    name: str
    description: str
    created_by: int | None
    created_at: int

    def to_json(self) -> dict[str, Any]:
        """Return API.md's ``Room`` object."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Message:
    """A stored chat message; history and live delivery send the same object."""

    id: int
    room_id: int
    sender_id: int
    username: str
    content: str
    ts: int
    client_msg_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return API.md's ``Message`` object."""
        body: dict[str, Any] = {
            "type": "message",
            "id": self.id,
            "room_id": self.room_id,
            "sender_id": self.sender_id,
            "username": self.username,
            "content": self.content,
            "ts": self.ts,
        }
        if self.client_msg_id is not None:
            body["client_msg_id"] = self.client_msg_id
        return body


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message about to be stored: everything but the id the store assigns."""

    room_id: int
    sender_id: int
    username: str
    content: str
    ts: int
    client_msg_id: str | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    """What storing a message gave: the message, and whether it is new.

    ``created`` is False when ``client_msg_id`` matched an earlier message of
    the same sender in the same room: that original is returned, nothing new
    was stored.
    """

    message: Message
    created: bool
