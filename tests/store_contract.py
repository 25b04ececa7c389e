"""The ``IChatStore`` contract, as one test mixin run against every backend.

A backend's test module mixes ``StoreContractMixin`` into a trial
``TestCase`` and implements ``make_store`` (and, for a durable backend,
``reopen_store``). The tests only use the interface, so a behaviour that
differs between backends fails here, not in production.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.trial.unittest import SkipTest, TestCase
from zope.interface.verify import verifyObject

from chatservice.errors import (
    Conflict,
    InternalError,
    InvalidRequest,
    NotFound,
    StoreUnavailable,
)
from chatservice.models import Message, NewMessage, NewRoom, Posted, Room, User
from chatservice.store import IChatStore
from chatservice.store.database import DEFAULT_RETRY_WINDOW, Txn
from chatservice.store.migrations import SchemaTooNew, load_migrations, migrate
from chatservice.store.sql import SQLStore
from tests.logcapture import LogCapture

if TYPE_CHECKING:
    MixinBase = TestCase
else:
    # At run time the mixins are plain classes, so trial never collects them
    # on their own; the type checker sees the TestCase they are mixed into.
    MixinBase = object


_E = TypeVar("_E", bound=BaseException)

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
PAST_64_BITS = (INT64_MAX + 1, 10**20, 10**400, INT64_MIN - 1)


async def failure_of(test: TestCase, deferred: Deferred[Any], kind: type[_E]) -> _E:
    """Return the exception ``deferred`` fails with, failing the test unless it is a ``kind``.

    ``assertFailure`` fires with the exception, but its annotation says it
    fires with the Deferred's own result type.
    """
    error = await cast("Deferred[object]", test.assertFailure(deferred, kind))
    assert isinstance(error, kind)
    return error


def new_message(
    room: Room | int,
    user: User,
    content: str = "hello",
    client_msg_id: str | None = None,
    ts: int = 1_700_000_000_000,
) -> NewMessage:
    """Build a ``NewMessage`` from ``user`` into ``room``."""
    room_id = room if isinstance(room, int) else room.id
    return NewMessage(room_id, user.id, user.username, content, ts, client_msg_id)


def insert_early_rows(txn: Txn, content: str) -> tuple[int, int, int]:
    """A user, a room and one message in the first schema's columns; their ids.

    For a migration test: rows as early code wrote them, before the
    columns (and the search index) that later versions add.
    """
    user_id = txn.insert(
        "INSERT INTO users (username, username_key, password_hash, created_at)"
        " VALUES ('alice', 'alice', :hash, 1)",
        {"hash": b"h"},
    )
    room_id = txn.insert(
        "INSERT INTO rooms (name, name_key, description, created_at)"
        " VALUES ('General', 'general', '', 1)",
        {},
    )
    message_id = txn.insert(
        "INSERT INTO messages (room_id, sender_id, username, content, ts)"
        " VALUES (:room_id, :sender_id, 'alice', :content, 1)",
        {"room_id": room_id, "sender_id": user_id, "content": content},
    )
    return user_id, room_id, message_id


class StoreContractMixin(MixinBase):
    """Every rule of ``IChatStore``; mix into a ``TestCase`` with the hooks below."""

    durable = False
    """Set by backends that keep data across ``close()``; enables the restart tests."""

    async def make_store(self) -> IChatStore:
        """Return a started, empty store that is closed when the test ends."""
        raise NotImplementedError

    async def reopen_store(self, store: IChatStore) -> IChatStore:
        """Close ``store`` and return a started store on the same data (durable only)."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------

    async def make_user(self, store: IChatStore, name: str = "alice") -> User:
        """Register ``name`` with a fixed hash."""
        return await store.create_user(name, b"$2b$04$hash-of-" + name.encode(), 1_000)

    async def post(self, store: IChatStore, *messages: NewMessage) -> list[Message]:
        """Store ``messages`` in one call and return them as stored."""
        posted = await store.add_messages(list(messages))
        return [p.message for p in posted]

    async def room_with_history(self, count: int) -> tuple[IChatStore, Room, list[Message]]:
        """Return a store with one room holding ``count`` messages."""
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.create_room(NewRoom("General", "", None, 1_000))
        batch = [new_message(room, user, f"m{i}") for i in range(count)]
        return store, room, await self.post(store, *batch)

    def assert_ids(self, messages: Sequence[Message], expected: Sequence[Message]) -> None:
        """Compare two pages by id, which reads better in a failure than full objects."""
        self.assertEqual([m.id for m in messages], [m.id for m in expected])

    # -- lifecycle ---------------------------------------------------------------

    async def test_provides_interface(self) -> None:
        """The store provides every method of IChatStore."""
        store = await self.make_store()
        self.assertTrue(verifyObject(IChatStore, store))

    async def test_ping_succeeds_when_started(self) -> None:
        """A started store answers ping."""
        store = await self.make_store()
        await store.ping()

    # -- users -------------------------------------------------------------------

    async def test_create_user_returns_user(self) -> None:
        """create_user fires with the new user and its fields."""
        store = await self.make_store()
        user = await store.create_user("Alice", b"hash", 1234)
        self.assertEqual((user.username, user.created_at), ("Alice", 1234))
        self.assertGreater(user.id, 0)

    async def test_get_user_returns_created_user(self) -> None:
        """get_user finds a user by id."""
        store = await self.make_store()
        user = await self.make_user(store)
        self.assertEqual(await store.get_user(user.id), user)

    async def test_unknown_user_is_not_found(self) -> None:
        """get_user of an unknown id fails with NotFound."""
        store = await self.make_store()
        await self.assertFailure(store.get_user(42), NotFound)

    async def test_duplicate_username_is_conflict(self) -> None:
        """A username taken in any letter case fails with Conflict."""
        store = await self.make_store()
        await self.make_user(store, "Alice")
        await self.assertFailure(store.create_user("aLICE", b"x", 1), Conflict)
        await self.assertFailure(store.create_user("Alice", b"x", 1), Conflict)

    async def test_conflict_stores_nothing(self) -> None:
        """A refused username leaves the first account as it was."""
        store = await self.make_store()
        first = await self.make_user(store, "Alice")
        await self.assertFailure(store.create_user("ALICE", b"other", 9), Conflict)
        credentials = await store.get_credentials("alice")
        self.assertEqual(credentials.user, first)
        self.assertNotEqual(credentials.password_hash, b"other")

    async def test_user_ids_increase(self) -> None:
        """Each new user gets a larger id than the one before."""
        store = await self.make_store()
        ids = [(await self.make_user(store, f"user{i}")).id for i in range(3)]
        self.assertEqual(ids, sorted(set(ids)))

    async def test_credentials_are_found_case_insensitively(self) -> None:
        """get_credentials matches the username in any case and returns the hash."""
        store = await self.make_store()
        user = await store.create_user("Alice", b"\x00\xffhash", 5)
        credentials = await store.get_credentials("ALICE")
        self.assertEqual(credentials.user, user)
        self.assertEqual(credentials.password_hash, b"\x00\xffhash")

    async def test_credentials_casefold_unicode(self) -> None:
        """Case-insensitive means casefold: 'Straße' and 'STRASSE' are one name."""
        store = await self.make_store()
        await store.create_user("Straße", b"h", 1)
        await self.assertFailure(store.create_user("STRASSE", b"h", 1), Conflict)
        self.assertEqual((await store.get_credentials("strasse")).user.username, "Straße")

    async def test_unknown_credentials_are_not_found(self) -> None:
        """get_credentials of an unknown name fails with NotFound."""
        store = await self.make_store()
        await self.assertFailure(store.get_credentials("nobody"), NotFound)

    # -- rooms -------------------------------------------------------------------

    async def test_create_room_returns_room(self) -> None:
        """create_room fires with the room and every field it was given."""
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.create_room(NewRoom("Lobby", "Say hi", user.id, 77))
        self.assertEqual(
            (room.name, room.description, room.created_by, room.created_at),
            ("Lobby", "Say hi", user.id, 77),
        )
        self.assertEqual(await store.get_room(room.id), room)

    async def test_duplicate_room_name_is_conflict(self) -> None:
        """A room name taken in any letter case fails with Conflict."""
        store = await self.make_store()
        await store.create_room(NewRoom("Lobby", "", None, 1))
        await self.assertFailure(store.create_room(NewRoom("lOBBY", "", None, 2)), Conflict)
        self.assertEqual(len(await store.list_rooms()), 1)

    async def test_unknown_room_is_not_found(self) -> None:
        """get_room of an unknown id fails with NotFound."""
        store = await self.make_store()
        await self.assertFailure(store.get_room(42), NotFound)

    async def test_list_rooms_is_ordered_by_id(self) -> None:
        """list_rooms returns every room in id order (none on a new store)."""
        store = await self.make_store()
        self.assertEqual(list(await store.list_rooms()), [])
        rooms = [await store.create_room(NewRoom(name, "", None, 1)) for name in ("b", "a", "c")]
        self.assertEqual(list(await store.list_rooms()), sorted(rooms, key=lambda r: r.id))
        self.assertEqual([r.id for r in rooms], sorted(r.id for r in rooms))

    async def test_ensure_room_creates_missing_room(self) -> None:
        """ensure_room creates the room, with no creator, when it does not exist."""
        store = await self.make_store()
        room = await store.ensure_room("General", "Everyone", 5)
        self.assertEqual(
            (room.name, room.description, room.created_by), ("General", "Everyone", None)
        )
        self.assertEqual(list(await store.list_rooms()), [room])

    async def test_first_room_has_id_1(self) -> None:
        """The first room of a new store gets id 1 (API.md: General is id 1)."""
        store = await self.make_store()
        self.assertEqual((await store.ensure_room("General", "", 1)).id, 1)

    async def test_ensure_room_is_idempotent(self) -> None:
        """ensure_room of an existing name (any case) returns it unchanged."""
        store = await self.make_store()
        first = await store.ensure_room("General", "Everyone", 5)
        again = await store.ensure_room("GENERAL", "Something else", 9)
        self.assertEqual(again, first)
        self.assertEqual(list(await store.list_rooms()), [first])

    async def test_ensure_room_returns_a_created_room(self) -> None:
        """ensure_room returns a room made by create_room, creator included."""
        store = await self.make_store()
        user = await self.make_user(store)
        made = await store.create_room(NewRoom("Lobby", "d", user.id, 3))
        self.assertEqual(await store.ensure_room("lobby", "", 4), made)

    # -- adding messages ---------------------------------------------------------

    async def test_add_messages_returns_stored_messages(self) -> None:
        """Each Posted carries the stored message with every field and created=True."""
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.ensure_room("General", "", 1)
        new = new_message(room, user, "Grüße 👋", "c-1", ts=1_640_995_200_000)
        [posted] = await store.add_messages([new])
        message = posted.message
        self.assertTrue(posted.created)
        self.assertEqual(
            (message.room_id, message.sender_id, message.username, message.content),
            (room.id, user.id, "alice", "Grüße 👋"),
        )
        self.assertEqual((message.ts, message.client_msg_id), (1_640_995_200_000, "c-1"))
        self.assertEqual(list(await store.get_messages(room.id, 10)), [message])

    async def test_add_no_messages_stores_nothing(self) -> None:
        """An empty batch fires with an empty list."""
        store = await self.make_store()
        self.assertEqual(list(await store.add_messages([])), [])

    async def test_ids_strictly_increase(self) -> None:
        """Ids increase within a batch, across batches and across rooms."""
        store = await self.make_store()
        user = await self.make_user(store)
        one = await store.ensure_room("one", "", 1)
        two = await store.ensure_room("two", "", 1)
        first = await self.post(store, new_message(one, user), new_message(two, user))
        second = await self.post(store, new_message(one, user), new_message(one, user))
        ids = [m.id for m in first + second]
        self.assertEqual(ids, sorted(set(ids)))

    async def test_unknown_room_is_not_found_and_stores_nothing(self) -> None:
        """A batch naming an unknown room fails with NotFound and stores none of it."""
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.ensure_room("General", "", 1)
        batch = [new_message(room, user, "kept?"), new_message(room.id + 100, user)]
        await self.assertFailure(store.add_messages(batch), NotFound)
        self.assertEqual(list(await store.get_messages(room.id, 10)), [])

    # -- client_msg_id -----------------------------------------------------------

    async def test_repeated_client_msg_id_returns_original(self) -> None:
        """A client_msg_id used again by the same sender in the same room returns the original."""
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.ensure_room("General", "", 1)
        [first] = await store.add_messages([new_message(room, user, "one", "abc")])
        [again] = await store.add_messages([new_message(room, user, "two", "abc", ts=5)])
        self.assertEqual(again, Posted(first.message, created=False))
        self.assertEqual(list(await store.get_messages(room.id, 10)), [first.message])

    async def test_repeated_client_msg_id_within_one_batch(self) -> None:
        """A client_msg_id repeated inside one batch is stored once."""
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.ensure_room("General", "", 1)
        batch = [
            new_message(room, user, "one", "abc"),
            new_message(room, user, "other"),
            new_message(room, user, "two", "abc"),
        ]
        first, other, again = await store.add_messages(batch)
        self.assertEqual([first.created, other.created, again.created], [True, True, False])
        self.assertEqual(again.message, first.message)
        self.assert_ids(await store.get_messages(room.id, 10), [first.message, other.message])

    async def test_same_client_msg_id_from_another_sender_is_new(self) -> None:
        """Another sender's identical client_msg_id is a different message."""
        store = await self.make_store()
        alice = await self.make_user(store, "alice")
        bob = await self.make_user(store, "bob")
        room = await store.ensure_room("General", "", 1)
        a, b = await store.add_messages(
            [new_message(room, alice, "a", "abc"), new_message(room, bob, "b", "abc")]
        )
        self.assertTrue(a.created and b.created)
        self.assertNotEqual(a.message.id, b.message.id)

    async def test_same_client_msg_id_in_another_room_is_new(self) -> None:
        """The same sender's client_msg_id in another room is a different message."""
        store = await self.make_store()
        user = await self.make_user(store)
        one = await store.ensure_room("one", "", 1)
        two = await store.ensure_room("two", "", 1)
        [a] = await store.add_messages([new_message(one, user, "a", "abc")])
        [b] = await store.add_messages([new_message(two, user, "b", "abc")])
        self.assertTrue(a.created and b.created)
        self.assertEqual(b.message.room_id, two.id)

    async def test_messages_without_client_msg_id_are_never_merged(self) -> None:
        """Identical messages without client_msg_id are all stored."""
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.ensure_room("General", "", 1)
        posted = await store.add_messages([new_message(room, user, "same")] * 3)
        self.assertEqual([p.created for p in posted], [True] * 3)
        self.assertEqual(len(await store.get_messages(room.id, 10)), 3)

    # -- reading history ---------------------------------------------------------

    async def test_empty_room_has_no_messages(self) -> None:
        """A room without messages gives an empty page, with or without a cursor."""
        store = await self.make_store()
        room = await store.ensure_room("General", "", 1)
        self.assertEqual(list(await store.get_messages(room.id, 50)), [])
        self.assertEqual(list(await store.get_messages(room.id, 50, before=10)), [])
        self.assertEqual(list(await store.get_messages(room.id, 50, after=0)), [])

    async def test_unknown_room_has_no_messages(self) -> None:
        """get_messages does not check the room: an unknown one is just empty."""
        store = await self.make_store()
        self.assertEqual(list(await store.get_messages(999, 50)), [])

    async def test_newest_messages_come_oldest_first(self) -> None:
        """Without a cursor, the newest ``limit`` messages come back oldest first."""
        store, room, stored = await self.room_with_history(5)
        self.assert_ids(await store.get_messages(room.id, 3), stored[2:])
        self.assert_ids(await store.get_messages(room.id, 50), stored)

    async def test_before_pages_back(self) -> None:
        """With before, the newest ``limit`` messages with a smaller id, oldest first."""
        store, room, stored = await self.room_with_history(6)
        self.assert_ids(await store.get_messages(room.id, 2, before=stored[4].id), stored[2:4])
        self.assert_ids(await store.get_messages(room.id, 10, before=stored[2].id), stored[:2])

    async def test_before_the_first_message_is_empty(self) -> None:
        """Paging back past the first message gives an empty page."""
        store, room, stored = await self.room_with_history(3)
        self.assertEqual(list(await store.get_messages(room.id, 10, before=stored[0].id)), [])
        self.assertEqual(list(await store.get_messages(room.id, 10, before=1)), [])

    async def test_before_beyond_the_newest_gives_the_newest(self) -> None:
        """A before larger than every id acts as no cursor."""
        store, room, stored = await self.room_with_history(4)
        page = await store.get_messages(room.id, 2, before=stored[-1].id + 1000)
        self.assert_ids(page, stored[2:])

    async def test_after_pages_forward(self) -> None:
        """With after, the oldest ``limit`` messages with a larger id, oldest first."""
        store, room, stored = await self.room_with_history(6)
        self.assert_ids(await store.get_messages(room.id, 2, after=stored[1].id), stored[2:4])
        self.assert_ids(await store.get_messages(room.id, 10, after=stored[3].id), stored[4:])

    async def test_after_zero_starts_at_the_beginning(self) -> None:
        """after=0 pages from the first message."""
        store, room, stored = await self.room_with_history(4)
        self.assert_ids(await store.get_messages(room.id, 3, after=0), stored[:3])

    async def test_after_the_newest_is_empty(self) -> None:
        """Paging forward past the newest message gives an empty page."""
        store, room, stored = await self.room_with_history(3)
        self.assertEqual(list(await store.get_messages(room.id, 10, after=stored[-1].id)), [])

    async def test_history_holds_only_that_room(self) -> None:
        """A room's pages never include another room's messages."""
        store = await self.make_store()
        user = await self.make_user(store)
        one = await store.ensure_room("one", "", 1)
        two = await store.ensure_room("two", "", 1)
        stored = await self.post(
            store,
            new_message(one, user, "1a"),
            new_message(two, user, "2a"),
            new_message(one, user, "1b"),
            new_message(two, user, "2b"),
        )
        self.assert_ids(await store.get_messages(one.id, 10), [stored[0], stored[2]])
        self.assert_ids(await store.get_messages(two.id, 10, after=0), [stored[1], stored[3]])
        self.assert_ids(await store.get_messages(two.id, 10, before=stored[3].id), [stored[1]])

    async def test_paging_back_visits_every_message_once(self) -> None:
        """Following before= from the newest page visits every message exactly once."""
        store, room, stored = await self.room_with_history(23)
        seen: list[Message] = []
        page = await store.get_messages(room.id, 5)
        while page:
            seen[:0] = page
            page = await store.get_messages(room.id, 5, before=page[0].id)
        self.assert_ids(seen, stored)

    # -- ids at and past the 64-bit edge ----------------------------------------
    #
    # Every id is a signed 64-bit integer. The edge validates what clients send
    # (tokens, query parameters), but the store must not depend on that: an id
    # that cannot exist is simply not found, on every backend, never a driver
    # overflow.

    async def test_largest_id_is_not_found(self) -> None:
        """2**63-1 is a valid id that nobody has: NotFound, and an empty history."""
        store, room, _ = await self.room_with_history(2)
        await self.assertFailure(store.get_user(INT64_MAX), NotFound)
        await self.assertFailure(store.get_room(INT64_MAX), NotFound)
        self.assertEqual(list(await store.get_messages(INT64_MAX, 10)), [])
        self.assertEqual(list(await store.get_messages(INT64_MAX, 10, after=0)), [])

    async def test_ids_past_64_bits_are_not_found(self) -> None:
        """An id past the signed 64-bit range, either way, names no user or room."""
        store = await self.make_store()
        await self.make_user(store)
        await store.ensure_room("General", "", 1)
        for outside in PAST_64_BITS:
            await self.assertFailure(store.get_user(outside), NotFound)
            await self.assertFailure(store.get_room(outside), NotFound)
            self.assertEqual(list(await store.get_messages(outside, 10)), [])

    async def test_cursors_at_the_64_bit_edge(self) -> None:
        """after=2**63-1 is past every message; before=2**63-1 is before none of them."""
        store, room, stored = await self.room_with_history(3)
        self.assertEqual(list(await store.get_messages(room.id, 10, after=INT64_MAX)), [])
        self.assert_ids(await store.get_messages(room.id, 10, before=INT64_MAX), stored)

    async def test_cursors_past_64_bits(self) -> None:
        """Cursors past the range compare like the numbers they are."""
        store, room, stored = await self.room_with_history(3)
        for big in (INT64_MAX + 1, 10**30):
            self.assertEqual(list(await store.get_messages(room.id, 10, after=big)), [])
            self.assert_ids(await store.get_messages(room.id, 2, before=big), stored[1:])
        for small in (INT64_MIN - 1, -(10**30)):
            self.assert_ids(await store.get_messages(room.id, 2, after=small), stored[:2])
            self.assertEqual(list(await store.get_messages(room.id, 10, before=small)), [])
        self.assert_ids(await store.get_messages(room.id, 10**30), stored)

    async def test_message_to_a_room_past_64_bits_is_not_found(self) -> None:
        """add_messages into a room id that cannot exist fails with NotFound, storing nothing."""
        store, room, stored = await self.room_with_history(1)
        user = await store.get_user(stored[0].sender_id)
        for outside in PAST_64_BITS:
            await self.assertFailure(
                store.add_messages([new_message(room, user, "ok"), new_message(outside, user)]),
                NotFound,
            )
        self.assert_ids(await store.get_messages(room.id, 10), stored)

    # -- durability --------------------------------------------------------------

    async def test_restart_keeps_everything(self) -> None:
        """After close and reopen, users, hashes, rooms and messages are all there."""
        if not self.durable:
            raise SkipTest("this backend keeps nothing across close()")
        store = await self.make_store()
        user = await store.create_user("Alice", b"hash", 1)
        room = await store.create_room(NewRoom("Lobby", "d", user.id, 2))
        stored = await self.post(
            store, new_message(room, user, "a", "c1"), new_message(room, user)
        )
        store = await self.reopen_store(store)
        self.assertEqual(await store.get_user(user.id), user)
        self.assertEqual((await store.get_credentials("alice")).password_hash, b"hash")
        self.assertEqual(list(await store.list_rooms()), [room])
        self.assertEqual(list(await store.get_messages(room.id, 10)), stored)
        await self.assertFailure(store.create_user("ALICE", b"x", 3), Conflict)

    async def test_restart_continues_ids_and_dedupe(self) -> None:
        """After reopening, new ids are larger and old client_msg_ids still dedupe."""
        if not self.durable:
            raise SkipTest("this backend keeps nothing across close()")
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.ensure_room("General", "", 1)
        old = await self.post(store, new_message(room, user, "a", "c1"), new_message(room, user))
        store = await self.reopen_store(store)
        again, fresh = await store.add_messages(
            [new_message(room, user, "a", "c1"), new_message(room, user, "b")]
        )
        self.assertEqual(again, Posted(old[0], created=False))
        self.assertGreater(fresh.message.id, old[-1].id)
        later_user = await self.make_user(store, "bob")
        later_room = await store.ensure_room("Other", "", 1)
        self.assertGreater(later_user.id, user.id)
        self.assertGreater(later_room.id, room.id)

    # -- search ------------------------------------------------------------------

    async def searchable(self, *contents: str) -> tuple[IChatStore, Room, User, list[Message]]:
        """Return a store with one room holding a message of each of ``contents``, in order."""
        store = await self.make_store()
        user = await self.make_user(store)
        room = await store.create_room(NewRoom("General", "", None, 1_000))
        stored = await self.post(store, *(new_message(room, user, text) for text in contents))
        return store, room, user, stored

    async def test_search_needs_every_word(self) -> None:
        """Only messages holding every word of the query match, newest first."""
        store, room, _, stored = await self.searchable(
            "the red fox", "a blue fox", "red and blue fox", "the red herring"
        )
        self.assert_ids(
            await store.search_messages("red fox", None, None, 10), [stored[2], stored[0]]
        )
        self.assert_ids(await store.search_messages("fox", [room.id], None, 10), stored[2::-1])
        self.assertEqual(list(await store.search_messages("red green", None, None, 10)), [])

    async def test_search_matches_whole_words_in_any_case(self) -> None:
        """Words match whole words of the content, in any letter case, diacritics kept."""
        store, _, _, stored = await self.searchable(
            "Hello, World!", "worldwide HELLO", "Une ÉCOLE", "café au lait"
        )
        self.assert_ids(await store.search_messages("WORLD hello", None, None, 10), [stored[0]])
        self.assert_ids(await store.search_messages("hello", None, None, 10), stored[1::-1])
        self.assertEqual(list(await store.search_messages("wor", None, None, 10)), [])
        self.assert_ids(await store.search_messages("école", None, None, 10), [stored[2]])
        self.assertEqual(list(await store.search_messages("cafe", None, None, 10)), [])
        self.assert_ids(await store.search_messages("CAFÉ", None, None, 10), [stored[3]])

    async def test_search_agrees_on_accents_and_special_letters(self) -> None:
        """A combining accent is part of its word; letters fold as the databases fold them."""
        store, _, _, stored = await self.searchable("cafe\u0301 noir", "İstanbul", "cafe noir")
        self.assert_ids(await store.search_messages("noir", None, None, 10), stored[2::-2])
        self.assert_ids(await store.search_messages("cafe", None, None, 10), [stored[2]])
        self.assert_ids(await store.search_messages("CAFE\u0301", None, None, 10), [stored[0]])
        self.assert_ids(await store.search_messages("İstanbul", None, None, 10), [stored[1]])

    async def test_search_returns_whole_messages(self) -> None:
        """A found message is the same object history returns."""
        store, room, _, stored = await self.searchable("find me", "not this one")
        [found] = await store.search_messages("find", None, None, 10)
        self.assertEqual(found, stored[0])
        self.assertEqual(found, (await store.get_messages(room.id, 10))[0])

    async def test_search_only_in_the_given_rooms(self) -> None:
        """room_ids limits the search to those rooms; None searches every room."""
        store = await self.make_store()
        user = await self.make_user(store)
        rooms = [
            await store.create_room(NewRoom(name, "", None, 1)) for name in ("one", "two", "three")
        ]
        stored = await self.post(store, *(new_message(room, user, "news") for room in rooms))
        search = store.search_messages
        self.assert_ids(await search("news", [rooms[1].id], None, 10), [stored[1]])
        self.assert_ids(
            await search("news", [rooms[2].id, rooms[0].id], None, 10), [stored[2], stored[0]]
        )
        self.assert_ids(await search("news", None, None, 10), stored[::-1])
        self.assertEqual(list(await search("news", [], None, 10)), [])
        self.assertEqual(list(await search("news", [999, INT64_MAX + 1], None, 10)), [])

    async def test_search_never_takes_a_number_for_a_room(self) -> None:
        """A room id in a text is only a word, and a room is never a word of its messages.

        SQLite indexes each message's room next to its words; the query
        filters every term to its own column, which this holds it to.
        """
        store = await self.make_store()
        user = await self.make_user(store)
        one, two = [await store.create_room(NewRoom(name, "", None, 1)) for name in ("one", "two")]
        number = str(two.id)
        stored = await self.post(
            store,
            new_message(one, user, f"room {number} news"),
            new_message(two, user, "news"),
            new_message(one, user, f"-{number} news"),
        )
        search = store.search_messages
        self.assert_ids(await search(number, None, None, 10), stored[2::-2])
        self.assert_ids(await search(f"news {number}", [two.id], None, 10), [])
        self.assert_ids(await search("news", [two.id], None, 10), [stored[1]])
        self.assert_ids(await search("news", [-two.id], None, 10), [])

    async def test_search_pages_back_with_before(self) -> None:
        """before= and limit page back through the matches, newest first, each once."""
        store, room, user, _ = await self.searchable()
        stored = await self.post(
            store,
            *(new_message(room, user, f"match {i}" if i % 3 else "other") for i in range(20)),
        )
        matches = [m for m in stored if m.content.startswith("match")][::-1]
        self.assert_ids(await store.search_messages("match", None, None, 4), matches[:4])
        seen: list[Message] = []
        page = await store.search_messages("match", [room.id], None, 5)
        while page:
            seen += page
            page = await store.search_messages("match", [room.id], page[-1].id, 5)
        self.assert_ids(seen, matches)

    async def test_search_limits_and_cursors_at_the_edges(self) -> None:
        """A limit of 0 finds nothing; a before past either end of the id range is a number."""
        store, _, _, stored = await self.searchable("edge", "edge")
        search = store.search_messages
        self.assertEqual(list(await search("edge", None, None, 0)), [])
        self.assert_ids(await search("edge", None, None, INT64_MAX + 1), stored[::-1])
        self.assert_ids(await search("edge", None, INT64_MAX + 1, 10), stored[::-1])
        self.assert_ids(await search("edge", None, stored[1].id, 10), [stored[0]])
        self.assertEqual(list(await search("edge", None, INT64_MIN - 1, 10)), [])

    async def test_search_query_is_plain_text(self) -> None:
        """Quotes, operators and other search syntax never raise and are no syntax."""
        store, _, _, stored = await self.searchable('say "hello" NEAR me', "hello world")
        for query in (
            '"', "'", '"hello', "hello*", "NEAR(hello me)", "hello AND", "OR", "NOT x",
            "-hello", "^hello", "content:hello", "(hello", "a & b | !c", "hello:*", "%_\\",
            "{x}", "*", "+", "hello'); DROP TABLE messages; --",
        ):  # fmt: skip
            await store.search_messages(query, None, None, 10)
        self.assert_ids(await store.search_messages('"hello"', None, None, 10), stored[::-1])
        self.assert_ids(await store.search_messages("NEAR(hello me)", None, None, 10), [stored[0]])
        self.assertEqual(list(await store.search_messages("hel*", None, None, 10)), [])
        self.assert_ids(await store.search_messages("-hello", None, None, 10), stored[::-1])

    async def test_search_without_words_finds_nothing(self) -> None:
        """A query with no letters or digits matches no message."""
        store, _, _, _ = await self.searchable("hello", "")
        for query in ("", "   ", "!?", "*"):
            self.assertEqual(list(await store.search_messages(query, None, None, 10)), [])

    async def test_search_finds_edits_by_their_new_words(self) -> None:
        """An edited message is found by its new words, no longer by its old ones."""
        store, _, user, stored = await self.searchable("old words here", "other")
        await store.edit_message(stored[0].id, user.id, "new text here", 2_000)
        [found] = await store.search_messages("new here", None, None, 10)
        self.assertEqual(
            (found.id, found.content, found.edited_at), (stored[0].id, "new text here", 2_000)
        )
        self.assertEqual(list(await store.search_messages("old", None, None, 10)), [])

    async def test_search_finds_an_edit_of_one_message_of_a_batch(self) -> None:
        """Messages stored in one batch are all found; an edit of one moves only its words.

        On SQLite a batch is indexed in one statement after its rows, and an
        edit removes the old words of the row it changes: the index must
        hold exactly what the batch stored for that to leave it whole.
        """
        store, _, user, stored = await self.searchable(
            "alpha one", "alpha two", "alpha three", "alpha four"
        )
        self.assert_ids(await store.search_messages("alpha", None, None, 10), stored[::-1])
        await store.edit_message(stored[1].id, user.id, "beta two", 2_000)
        await store.delete_message(stored[2].id, user.id, 2_000)
        self.assert_ids(
            await store.search_messages("alpha", None, None, 10), [stored[3], stored[0]]
        )
        self.assert_ids(await store.search_messages("beta two", None, None, 10), [stored[1]])
        self.assertEqual(list(await store.search_messages("alpha two", None, None, 10)), [])
        self.assertEqual(list(await store.search_messages("three", None, None, 10)), [])
        for n, word in enumerate(("one", "four")):
            self.assert_ids(await store.search_messages(word, None, None, 10), [stored[3 * n]])

    async def test_search_never_finds_tombstones(self) -> None:
        """A deleted message is not found by the words it had."""
        store, _, user, stored = await self.searchable("secret plan", "public plan")
        await store.delete_message(stored[0].id, user.id, 2_000)
        self.assert_ids(await store.search_messages("plan", None, None, 10), [stored[1]])
        self.assertEqual(list(await store.search_messages("secret", None, None, 10)), [])

    async def test_restart_keeps_the_search_index(self) -> None:
        """After close and reopen, old and new messages are both found."""
        if not self.durable:
            raise SkipTest("this backend keeps nothing across close()")
        store, room, user, old = await self.searchable("durable words")
        store = await self.reopen_store(store)
        new = await self.post(store, new_message(room, user, "more durable words"))
        self.assert_ids(await store.search_messages("durable words", None, None, 10), new + old)


class SignallingClock(Clock):
    """A Clock that fires ``scheduled`` when the first call is scheduled on it.

    A store schedules on its clock only to wait before a retry, and the
    failed attempt runs on a database thread: this is the signal that it
    failed, without turning the reactor until it has.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scheduled: Deferred[None] = Deferred()
        self._signalled = False

    def callLater(  # noqa: N802 - Twisted's name
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall:
        call = super().callLater(delay, callable, *args, **kw)
        if not self._signalled:
            self._signalled = True
            # Fired once the store's code has returned from scheduling (it
            # still has to keep the call to cancel it on close), not inside it.
            reactor.callLater(0, self.scheduled.callback, None)
        return call


class SQLStoreContractMixin(StoreContractMixin):
    """The contract on ``SQLStore``: a durable store from the ``build_store`` hook."""

    durable = True

    def build_store(self) -> SQLStore:
        """Return an unstarted store on this test's database, closed at cleanup."""
        raise NotImplementedError

    async def make_store(self) -> IChatStore:
        store = self.build_store()
        await store.start()
        return store

    async def reopen_store(self, store: IChatStore) -> IChatStore:
        await store.close()
        return await self.make_store()


class SQLStoreMixin(MixinBase):
    """Rules of ``SQLStore`` beyond the interface: migrations, retries, closing.

    Mix into a ``TestCase`` with the hooks below; shared by SQLite and
    PostgreSQL so both dialects are held to the same behaviour.
    """

    def build_store(
        self, clock: IReactorTime | None = None, retry_delays: Sequence[float] = (0.01, 0.02)
    ) -> SQLStore:
        """Return an unstarted store on this test's database, closed at cleanup.

        ``clock`` (default: the reactor) schedules the retries.
        """
        raise NotImplementedError

    def execute_raw(self, sql: str) -> None:
        """Run one statement on this test's database, bypassing the store."""
        raise NotImplementedError

    def transient_error(self) -> Exception:
        """Return a driver exception that means "busy, try again"."""
        raise NotImplementedError

    async def started(self, **kwargs: Any) -> SQLStore:
        """Return a started ``build_store(**kwargs)``."""
        store = self.build_store(**kwargs)
        await store.start()
        return store

    def failing(
        self, failures: float, during: Callable[[], object] = lambda: None
    ) -> tuple[Callable[[Txn], str], list[int]]:
        """A transaction that fails transiently its first ``failures`` times, then says "done".

        Each attempt calls ``during`` before it fails; the list counts the attempts.
        """
        attempts: list[int] = []
        error = self.transient_error()

        def interaction(txn: Txn) -> str:
            attempts.append(1)
            during()
            if len(attempts) <= failures:
                raise error
            return "done"

        return interaction, attempts

    # -- migrations --------------------------------------------------------------

    async def assert_every_migration_applied_once(self, store: SQLStore) -> None:
        """``schema_version`` lists each schema file's version, once each, in order."""
        rows = await store.run_read("versions", _versions)
        self.assertEqual(rows, [m.version for m in load_migrations()])

    async def test_start_creates_schema_version(self) -> None:
        """A new database is migrated to the newest schema file's version."""
        await self.assert_every_migration_applied_once(await self.started())

    async def test_restart_applies_no_migration_twice(self) -> None:
        """Starting on an up-to-date database changes nothing."""
        store = await self.started()
        await store.close()
        await self.assert_every_migration_applied_once(await self.started())

    async def test_newer_schema_refuses_to_start(self) -> None:
        """A database marked with a newer schema version makes start() fail, naming both."""
        store = await self.started()
        await store.close()
        newest = load_migrations()[-1].version
        self.execute_raw(
            "INSERT INTO schema_version (version, name, applied_at)"
            f" VALUES ({newest + 998}, '{newest + 998:04d}_future.sql', 0)"
        )
        error = await failure_of(self, self.build_store().start(), SchemaTooNew)
        self.assertIn(str(newest + 998), str(error))
        self.assertIn(f"up to {newest}", str(error))

    async def test_migration_indexes_existing_messages(self) -> None:
        """Messages stored before the search migration are found once start() applies it."""
        store = self.build_store()
        store.database.open()
        before_search = [m for m in load_migrations() if m.version < 3]
        await store.run_interaction("migrate", migrate, before_search, 0)

        # As the code of version 2 stored them: plain inserts (no search
        # index yet, and none of the columns later versions add).
        def insert_v2(txn: Txn) -> int:
            return insert_early_rows(txn, "written before search existed")[2]

        message_id = await store.run_interaction("insert", insert_v2)
        await store.close()
        store = await self.started()
        found = await store.search_messages("before search", None, None, 10)
        self.assertEqual([m.id for m in found], [message_id])

    async def test_search_walks_the_index_newest_first(self) -> None:
        """On SQLite, FTS5 hands out matches newest first: nothing is collected and sorted."""
        store = await self.started()
        if store.dialect.name != "sqlite":
            raise SkipTest("PostgreSQL's plan depends on statistics: see bench/search_latency.py")
        from chatservice.store.search_queries import sqlite_probe_sql, sqlite_search_sql

        params = {
            "match": '"a" "b"',
            "probe": 200,
            "before": 9,
            "room_0": 1,
            "room_1": 2,
            "limit": 50,
        }

        def plan(txn: Txn, sql: str) -> list[str]:
            return [str(row[-1]) for row in txn.query("EXPLAIN QUERY PLAN " + sql, params)]

        queries = [sqlite_search_sql(before, rooms) for before, rooms in ((False, 0), (True, 2))]
        queries += [sqlite_probe_sql(before, 2) for before in (False, True)]
        for sql in queries:
            steps = await store.run_read("plan", plan, sql)
            self.assertEqual(len(steps), 2, steps)
            self.assertIn("SCAN messages_fts VIRTUAL TABLE", steps[0])
            self.assertIn("SEARCH m USING INTEGER PRIMARY KEY", steps[1])

    # -- retries and errors ------------------------------------------------------

    async def test_transient_error_is_retried_on_the_clock(self) -> None:
        """A transient failure is retried after the backoff, measured on the injected clock."""
        clock = SignallingClock()
        store = await self.started(clock=clock, retry_delays=(0.5, 1.0))
        flaky, attempts = self.failing(1)
        result = store.run_interaction("flaky", flaky)
        await clock.scheduled  # the first attempt failed; the retry waits
        self.assertEqual((len(attempts), clock.getDelayedCalls()[0].getTime()), (1, 0.5))
        clock.advance(0.5)
        self.assertEqual(await result, "done")
        self.assertEqual(len(attempts), 2)

    async def test_persistent_transient_error_is_store_unavailable(self) -> None:
        """When every retry fails transiently, the caller gets StoreUnavailable."""
        store = await self.started(retry_delays=(0, 0, 0))
        busy, attempts = self.failing(math.inf)
        await self.assertFailure(store.run_interaction("busy", busy), StoreUnavailable)
        self.assertEqual(len(attempts), 4)

    async def test_slow_transient_failure_is_not_retried_past_the_window(self) -> None:
        """An attempt that failed only after the retry window passed is not repeated."""
        clock = SignallingClock()
        store = await self.started(clock=clock, retry_delays=(0.5, 1.0))
        # Like a connect that waited out connect_timeout; no timer is pending
        # while it runs, so moving the fake clock here is safe.
        slow, attempts = self.failing(math.inf, lambda: clock.advance(DEFAULT_RETRY_WINDOW))
        await self.assertFailure(store.run_interaction("slow", slow), StoreUnavailable)
        self.assertEqual(len(attempts), 1)

    async def test_other_driver_error_is_internal_error(self) -> None:
        """Any other driver error is an InternalError, logged as one line without traceback."""
        store = await self.started()
        logs = LogCapture(self)

        def broken(txn: Txn) -> None:
            txn.execute("SELEC 1")

        await self.assertFailure(store.run_read("broken", broken), InternalError)
        self.assertEqual(self.flushLoggedErrors(), [])
        [line] = logs.texts(LogLevel.error)
        self.assertIn("transaction broken failed", line)
        self.assertIn("SELEC", line)
        self.assertNotIn("\n", line)
        self.assertNotIn("Traceback", line)

    async def test_number_the_driver_cannot_hold_is_invalid_request(self) -> None:
        """A value past 64 bits reaching the driver is a 400 InvalidRequest, nothing logged."""
        store = await self.started()
        logs = LogCapture(self)

        def too_big(txn: Txn) -> None:
            txn.query("SELECT CAST(:n AS BIGINT)", {"n": 2**64})

        error = await failure_of(self, store.run_read("too_big", too_big), InvalidRequest)
        self.assertEqual((error.status, error.code), (400, "invalid_request"))
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(logs.texts(LogLevel.warn), [])

    async def test_sender_past_64_bits_is_not_found(self) -> None:
        """A message whose sender id cannot exist fails with NotFound, like an unknown sender."""
        store = await self.started()
        room = await store.ensure_room("General", "", 1)
        for outside in PAST_64_BITS:
            await self.assertFailure(
                store.add_messages([NewMessage(room.id, outside, "ghost", "boo", 1)]), NotFound
            )
            await self.assertFailure(
                store.create_room(NewRoom(f"r{outside}", "", outside, 1)), NotFound
            )

    async def test_store_keeps_working_after_errors(self) -> None:
        """A failed transaction is rolled back: the next one sees a clean connection."""
        store = await self.started()
        user = await store.create_user("alice", b"h", 1)
        await self.assertFailure(store.create_user("ALICE", b"h", 1), Conflict)
        self.assertEqual(await store.get_user(user.id), user)

    async def test_own_errors_pass_through(self) -> None:
        """An exception of ours raised in an interaction reaches the caller as it is."""
        store = await self.started()

        def refuse(txn: Txn) -> None:
            raise NotFound("No such thing.")

        error = await failure_of(self, store.run_interaction("refuse", refuse), NotFound)
        self.assertEqual(error.message, "No such thing.")

    # -- closing -----------------------------------------------------------------

    async def test_closed_store_is_unavailable(self) -> None:
        """After close(), calls and ping fail with StoreUnavailable."""
        store = await self.started()
        await store.close()
        await self.assertFailure(store.get_user(1), StoreUnavailable)
        await self.assertFailure(store.ping(), StoreUnavailable)

    async def test_close_waits_for_running_transactions(self) -> None:
        """close() fires only after transactions already running have finished."""
        store = await self.started()
        release = threading.Event()

        def slow(txn: Txn) -> int:
            release.wait(10)
            row = txn.query_one("SELECT 1")
            assert row is not None
            return int(row[0])

        running = store.run_read("slow", slow)
        closed = store.close()
        self.assertFalse(closed.called)
        release.set()
        self.assertEqual(await running, 1)
        await closed

    async def test_close_abandons_a_retry_wait(self) -> None:
        """A transaction waiting to retry fails with StoreUnavailable when the store closes."""
        clock = SignallingClock()
        store = await self.started(clock=clock, retry_delays=(60,))
        error = self.transient_error()

        def busy(txn: Txn) -> None:
            raise error

        result = store.run_interaction("busy", busy)
        await clock.scheduled  # the first attempt failed; the retry waits
        await store.close()
        await self.assertFailure(result, StoreUnavailable)
        self.assertEqual(clock.getDelayedCalls(), [])


def _versions(txn: Txn) -> list[int]:
    return [
        int(row[0]) for row in txn.query("SELECT version FROM schema_version ORDER BY version")
    ]
