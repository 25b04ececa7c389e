"""MemoryStore: the in-memory backend, for tests and throwaway runs.

It keeps everything in dicts and fires its Deferreds synchronously, which
makes REST tests through ``StubTreq`` run without spinning the reactor.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from chatservice.errors import Conflict, NotFound
from chatservice.models import Credentials, Message, NewMessage, Posted, Room, User
from chatservice.store import IChatStore


@implementer(IChatStore)
class MemoryStore:
    """Users, rooms and messages in process memory; nothing survives exit."""

    def __init__(self, clock: IReactorTime | None = None) -> None:
        self._users: dict[int, User] = {}
        self._hashes: dict[int, bytes] = {}
        self._user_ids_by_name: dict[str, int] = {}
        self._rooms: dict[int, Room] = {}
        self._room_ids_by_name: dict[str, int] = {}
        self._messages: dict[int, list[Message]] = {}
        self._message_ids: dict[int, list[int]] = {}  # parallel to _messages, for bisect
        self._by_client_id: dict[tuple[int, int, str], Message] = {}
        self._next_user_id = 1
        self._next_room_id = 1
        self._next_message_id = 1

    def start(self) -> Deferred[None]:
        """Nothing to open."""
        return succeed(None)

    def close(self) -> Deferred[None]:
        """Nothing to close."""
        return succeed(None)

    def ping(self) -> Deferred[None]:
        """Memory is always reachable."""
        return succeed(None)

    def create_user(self, username: str, password_hash: bytes, created_at: int) -> Deferred[User]:
        """Store a new account; ``Conflict`` if the name is taken."""
        key = username.casefold()
        if key in self._user_ids_by_name:
            return fail(Conflict("That username is already taken."))
        user = User(self._next_user_id, username, created_at)
        self._next_user_id += 1
        self._users[user.id] = user
        self._hashes[user.id] = password_hash
        self._user_ids_by_name[key] = user.id
        return succeed(user)

    def get_user(self, user_id: int) -> Deferred[User]:
        """Fire with the user or fail with ``NotFound``."""
        user = self._users.get(user_id)
        if user is None:
            return fail(NotFound("No such user."))
        return succeed(user)

    def get_credentials(self, username: str) -> Deferred[Credentials]:
        """Fire with the user and its hash, or fail with ``NotFound``."""
        user_id = self._user_ids_by_name.get(username.casefold())
        if user_id is None:
            return fail(NotFound("No such user."))
        return succeed(Credentials(self._users[user_id], self._hashes[user_id]))

    def create_room(
        self, name: str, description: str, created_by: int | None, created_at: int
    ) -> Deferred[Room]:
        """Store a new room; ``Conflict`` if the name is taken."""
        if name.casefold() in self._room_ids_by_name:
            return fail(Conflict("That room name is already taken."))
        return succeed(self._insert_room(name, description, created_by, created_at))

    def ensure_room(self, name: str, description: str, created_at: int) -> Deferred[Room]:
        """Fire with the named room, creating it if missing."""
        room_id = self._room_ids_by_name.get(name.casefold())
        if room_id is not None:
            return succeed(self._rooms[room_id])
        return succeed(self._insert_room(name, description, None, created_at))

    def _insert_room(
        self, name: str, description: str, created_by: int | None, created_at: int
    ) -> Room:
        room = Room(self._next_room_id, name, description, created_by, created_at)
        self._next_room_id += 1
        self._rooms[room.id] = room
        self._room_ids_by_name[name.casefold()] = room.id
        self._messages[room.id] = []
        self._message_ids[room.id] = []
        return room

    def get_room(self, room_id: int) -> Deferred[Room]:
        """Fire with the room or fail with ``NotFound``."""
        room = self._rooms.get(room_id)
        if room is None:
            return fail(NotFound("No such room."))
        return succeed(room)

    def list_rooms(self) -> Deferred[Sequence[Room]]:
        """Fire with every room in id order."""
        return succeed([self._rooms[k] for k in sorted(self._rooms)])

    def add_messages(self, messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
        """Store messages in order; a repeated ``client_msg_id`` returns the original."""
        for new in messages:
            if new.room_id not in self._rooms:
                return fail(NotFound("No such room."))
        posted: list[Posted] = []
        for new in messages:
            key = None
            if new.client_msg_id is not None:
                key = (new.room_id, new.sender_id, new.client_msg_id)
                original = self._by_client_id.get(key)
                if original is not None:
                    posted.append(Posted(original, created=False))
                    continue
            message = Message(
                id=self._next_message_id,
                room_id=new.room_id,
                sender_id=new.sender_id,
                username=new.username,
                content=new.content,
                ts=new.ts,
                client_msg_id=new.client_msg_id,
            )
            self._next_message_id += 1
            self._messages[new.room_id].append(message)
            self._message_ids[new.room_id].append(message.id)
            if key is not None:
                self._by_client_id[key] = message
            posted.append(Posted(message, created=True))
        return succeed(posted)

    def get_messages(
        self, room_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> Deferred[Sequence[Message]]:
        """Fire with a page of the room's history, oldest first."""
        history = self._messages.get(room_id, [])
        ids = self._message_ids.get(room_id, [])
        if after is not None:
            start = bisect.bisect_right(ids, after)
            return succeed(history[start : start + limit])
        end = len(history) if before is None else bisect.bisect_left(ids, before)
        return succeed(history[max(0, end - limit) : end])
