"""The SQL of users and rooms: create and read accounts' names and hashes, rooms and their list.

Each function runs in a pool thread inside one ``Database`` transaction;
``SQLStore`` has already answered ids that cannot be bound as 64-bit
integers. Rooms are read with ``access_queries``' columns and row shape, so
that a room looks the same whichever query found it; creating one makes its
creator its owner in the same transaction.
"""

from __future__ import annotations

from typing import Any

from chatservice.access_models import JOINED, OWNER
from chatservice.errors import Conflict, NotFound
from chatservice.models import Credentials, NewRoom, Room, User
from chatservice.store import access_queries
from chatservice.store.database import Txn

_USER = "id, username, created_at"
_ROOM = access_queries.ROOM_COLUMNS


def _user(row: tuple[Any, ...]) -> User:
    return User(int(row[0]), row[1], int(row[2]))


_room = access_queries.room_row


def create_user(txn: Txn, username: str, password_hash: bytes, created_at: int) -> User:
    """Insert an account; its name is unique case-insensitively (``Conflict`` if taken)."""
    try:
        user_id = txn.insert(
            "INSERT INTO users (username, username_key, password_hash, created_at)"
            " VALUES (:username, :key, :hash, :created_at)",
            {
                "username": username,
                "key": username.casefold(),
                "hash": bytes(password_hash),
                "created_at": created_at,
            },
        )
    except Conflict:
        raise Conflict("That username is already taken.") from None
    return User(user_id, username, created_at)


def get_user(txn: Txn, user_id: int) -> User:
    """The user with this id; ``NotFound`` if there is none."""
    row = txn.query_one(f"SELECT {_USER} FROM users WHERE id = :id", {"id": user_id})
    if row is None:
        raise NotFound("No such user.")
    return _user(row)


def get_credentials(txn: Txn, username: str) -> Credentials:
    """The user of this name (in any case) and its password hash; ``NotFound`` if none."""
    row = txn.query_one(
        f"SELECT {_USER}, password_hash FROM users WHERE username_key = :key",
        {"key": username.casefold()},
    )
    if row is None:
        raise NotFound("No such user.")
    return Credentials(_user(row), bytes(row[3]))


_INSERT_ROOM = (
    "INSERT INTO rooms (name, name_key, description, created_by, created_at, visibility)"
    " VALUES (:name, :key, :description, :created_by, :created_at, :visibility)"
)


def create_room(txn: Txn, new: NewRoom) -> Room:
    """Insert a room and make its creator (if any) its owner; ``Conflict`` if the name is taken."""
    params = {
        "name": new.name,
        "key": new.name.casefold(),
        "description": new.description,
        "created_by": new.created_by,
        "created_at": new.created_at,
        "visibility": new.visibility,
    }
    try:
        room_id = txn.insert(_INSERT_ROOM, params)
    except Conflict:
        raise Conflict("That room name is already taken.") from None
    except NotFound:
        raise NotFound("No such user.") from None
    if new.created_by is not None:
        access_queries.put_member(
            txn, room_id, new.created_by, JOINED, OWNER, False, new.created_at
        )
    return Room(room_id, new.name, new.description, new.created_by, new.created_at, new.visibility)


def ensure_room(txn: Txn, name: str, description: str, created_at: int) -> Room:
    """The room of this name, created public and ownerless if missing (the General room)."""
    key = name.casefold()
    # ON CONFLICT DO NOTHING instead of catching the violation: on PostgreSQL a
    # failed statement aborts the whole transaction.
    txn.execute(
        _INSERT_ROOM + " ON CONFLICT (name_key) DO NOTHING",
        {
            "name": name,
            "key": key,
            "description": description,
            "created_by": None,
            "created_at": created_at,
            "visibility": "public",
        },
    )
    row = txn.query_one(f"SELECT {_ROOM} FROM rooms WHERE name_key = :key", {"key": key})
    assert row is not None
    return _room(row)


get_room = access_queries.live_room
"""The room with this id unless it was deleted; ``NotFound`` otherwise."""


def list_rooms(txn: Txn) -> list[Room]:
    """Every room not deleted, in id order."""
    rows = txn.query(f"SELECT {_ROOM} FROM rooms WHERE NOT deleted ORDER BY id")
    return [_room(row) for row in rows]
