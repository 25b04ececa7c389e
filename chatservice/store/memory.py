"""MemoryStore: the in-memory backend, for tests and throwaway runs.

It keeps everything in dicts and fires its Deferreds synchronously, which
makes REST tests through ``StubTreq`` run without spinning the reactor.
Messages, events and reactions live in a ``MemoryTimeline``.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import sys
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from chatservice.access_models import JOINED, OWNER
from chatservice.errors import ChatError, Conflict, NotFound
from chatservice.models import (
    Account,
    Change,
    Credentials,
    ErasePage,
    Message,
    NewMessage,
    NewRoom,
    Posted,
    Room,
    TimelineEvent,
    User,
)
from chatservice.store import IChatStore
from chatservice.store.memory_access import MemoryAccess
from chatservice.store.memory_accounts import MemoryAccounts
from chatservice.store.memory_hooks import MemoryHooks
from chatservice.store.memory_push import MemoryPush
from chatservice.store.memory_read import MemoryRead
from chatservice.store.memory_timeline import MemoryTimeline
from chatservice.store.memory_uploads import MemoryUploads
from chatservice.store.sealing import (
    NOTHING_TO_ROTATE_TO,
    PLAINTEXT,
    ISealingStore,
    NothingToRotateTo,
    ResealStep,
    Sealing,
)
from chatservice.store.upload_interface import IUploadStore
from chatservice.words import matches, search_words


@implementer(IChatStore, IUploadStore, ISealingStore)
class MemoryStore(
    MemoryAccess, MemoryPush, MemoryAccounts, MemoryUploads, MemoryRead, MemoryHooks
):
    """Users, rooms and messages in process memory; nothing survives exit.

    Accounts (generations, sessions, admins) come from ``MemoryAccounts``;
    read markers and counts from ``MemoryRead``. Nothing is at rest, so the
    text is kept plain even with a key ring (``store.sealing``): a rotation
    has nothing to re-seal.
    """

    def __init__(self, clock: IReactorTime | None = None, sealing: Sealing = PLAINTEXT) -> None:
        self._sealing = sealing
        self._users: dict[int, User] = {}
        self._hashes: dict[int, bytes] = {}
        self._user_ids_by_name: dict[str, int] = {}
        self._accounts: dict[int, Account] = {}
        self._revoked: dict[int, dict[str, int]] = {}
        self._rooms: dict[int, Room] = {}
        self._room_ids_by_name: dict[str, int] = {}
        self._timeline = MemoryTimeline()
        # Per room, oldest first, in their current state (the timeline's own lists).
        self._messages = self._timeline.messages
        self._message_ids = self._timeline.message_ids  # parallel to _messages, for bisect
        self._next_user_id = 1
        self._next_room_id = 1
        self._init_access()
        self._init_read()
        self._hooks_init()
        self._init_uploads()
        self._init_push()

    def start(self) -> Deferred[None]:
        """Nothing to open."""
        return succeed(None)

    def close(self) -> Deferred[None]:
        """Nothing to close."""
        return succeed(None)

    def ping(self) -> Deferred[None]:
        """Memory is always reachable."""
        return succeed(None)

    def reseal_batch(self, batch_size: int) -> Deferred[ResealStep]:
        """Nothing is sealed in memory: every rotation is done at once (``ISealingStore``)."""
        if not self._sealing.enabled:
            return fail(NothingToRotateTo(NOTHING_TO_ROTATE_TO))
        return succeed(ResealStep(0, 0, True))

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

    def create_room(self, new: NewRoom) -> Deferred[Room]:
        """Store a new room, its creator as owner; ``Conflict`` if the name is taken."""
        if new.name.casefold() in self._room_ids_by_name:
            return fail(Conflict("That room name is already taken."))
        if new.created_by is not None and new.created_by not in self._users:
            return fail(NotFound("No such user."))
        room = self._insert_room(
            new.name, new.description, new.created_by, new.created_at, new.visibility
        )
        if new.created_by is not None:
            self._set_member(room.id, new.created_by, new.created_at, JOINED, OWNER, False)
        return succeed(room)

    def ensure_room(self, name: str, description: str, created_at: int) -> Deferred[Room]:
        """Fire with the named room, creating it if missing."""
        room_id = self._room_ids_by_name.get(name.casefold())
        if room_id is not None:
            return succeed(self._rooms[room_id])
        return succeed(self._insert_room(name, description, None, created_at))

    def _insert_room(
        self,
        name: str,
        description: str,
        created_by: int | None,
        created_at: int,
        visibility: str = "public",
        name_key: str | None = None,
    ) -> Room:
        room = Room(self._next_room_id, name, description, created_by, created_at, visibility)
        self._next_room_id += 1
        self._rooms[room.id] = room
        self._room_ids_by_name[name_key or name.casefold()] = room.id
        self._timeline.add_room(room.id)
        return room

    def get_room(self, room_id: int) -> Deferred[Room]:
        """Fire with the room or fail with ``NotFound``."""
        try:
            return succeed(self._live_room(room_id))
        except NotFound as error:
            return fail(error)

    def list_rooms(self) -> Deferred[Sequence[Room]]:
        """Fire with every room not deleted, in id order."""
        live = sorted(set(self._rooms) - self._deleted_rooms)
        return succeed([self._rooms[k] for k in live])

    def add_messages(self, messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
        """Store messages in order; a repeated ``client_msg_id`` returns the original."""
        return _settle(self._timeline.add, messages).addCallback(self._mark_attached)

    def get_messages(
        self, room_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> Deferred[Sequence[Message]]:
        """Fire with a page of the room's history, oldest first."""
        history = self._messages.get(room_id)
        if history is None:
            return succeed([])
        ids = self._message_ids[room_id]
        if after is not None:
            start = bisect.bisect_right(ids, after)
            return succeed(history[start : start + limit])
        end = len(history) if before is None else bisect.bisect_left(ids, before)
        return succeed(history[max(0, end - limit) : end])

    def get_message(self, message_id: int) -> Deferred[Message]:
        """Fire with one message in its current state, or fail with ``NotFound``."""
        message = self._timeline.get(message_id)
        if message is None:
            return fail(NotFound("No such message."))
        return succeed(message)

    def edit_message(
        self,
        message_id: int,
        editor_id: int,
        content: str,
        edited_at: int,
        mentions: Sequence[int] | None = None,
    ) -> Deferred[Change]:
        """Replace a message's content (and mentions) as an ``edit`` event."""
        return _settle(self._timeline.edit, message_id, editor_id, content, edited_at, mentions)

    def delete_message(
        self, message_id: int, deleter_id: int, deleted_at: int, any_author: bool = False
    ) -> Deferred[Change]:
        """Turn a message into a tombstone as a ``delete`` event."""
        before = self._timeline.get(message_id)
        carried = {a.id for a in before.attachments} if before is not None else set()
        deleting = _settle(self._timeline.delete, message_id, deleter_id, any_author)
        return deleting.addCallback(self._released, carried)

    def erase_messages(self, page: ErasePage) -> Deferred[Sequence[Change]]:
        """Tombstone the next page of the user's messages; their files go with them."""
        carried = {
            attachment.id
            for messages in self._messages.values()
            for message in messages.with_objects()
            if message.sender_id == page.user_id
            for attachment in message.attachments
        }
        return MemoryAccounts.erase_messages(self, page).addCallback(self._released, carried)

    def _released(self, result: _T, carried: set[int]) -> _T:
        if carried:
            self._release(carried)
        return result

    def set_reaction(
        self, message_id: int, user_id: int, emoji: str, present: bool, ts: int
    ) -> Deferred[Change]:
        """Add or remove a reaction as a ``react``/``unreact`` event."""
        if user_id not in self._users:
            return fail(NotFound("No such user."))
        return _settle(self._timeline.react, message_id, user_id, emoji, present)

    def get_events(
        self, room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[TimelineEvent]]:
        """Fire with a page of the room's events, oldest first."""
        return succeed(self._timeline.events(room_id, after, max(limit, 0)))

    def search_messages(
        self, query: str, room_ids: Sequence[int] | None, before: int | None, limit: int
    ) -> Deferred[Sequence[Message]]:
        """Fire with the newest ``limit`` messages holding every word: a plain scan.

        Each room's list is walked from its newest message and the walks are
        merged by id, so a search stops after ``limit`` matches; the word
        rule is ``search_queries``', the one the SQL stores index.
        """
        words = search_words(query)
        if not words or limit <= 0:
            return succeed([])
        rooms = self._messages if room_ids is None else dict.fromkeys(room_ids)
        newest_first = heapq.merge(
            *(reversed(self._messages.get(room_id, [])) for room_id in rooms),
            key=lambda message: -message.id,
        )
        found = (
            message
            for message in newest_first
            if (before is None or message.id < before)
            and not message.deleted
            and matches(words, message.content)
        )
        return succeed(list(itertools.islice(found, min(limit, sys.maxsize))))


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _settle(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]:
    """Call ``fn`` now; fire with its result, or fail with the ``ChatError`` it raised.

    ``MemoryTimeline`` raises our errors, and the store answers every call
    with a Deferred already fired, as the other backends' callers expect.
    """
    try:
        return succeed(fn(*args, **kwargs))
    except ChatError as error:
        return fail(error)
