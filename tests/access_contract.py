"""The access-control rules of ``IChatStore`` (``IAccessStore``), on every backend."""

from __future__ import annotations

from chatservice.access_models import (
    BANNED,
    INVITED,
    JOINED,
    MEMBER,
    MODERATOR,
    OWNER,
    MemberUpdate,
    NewAuditEntry,
    RoomUpdate,
)
from chatservice.errors import Conflict, NotFound
from chatservice.models import NewRoom, Room, User
from chatservice.store import IChatStore
from tests.store_contract import StoreContractMixin, failure_of, new_message


class AccessContractMixin(StoreContractMixin):
    """Memberships, direct rooms, room settings, member events and the audit log."""

    async def cast3(self) -> tuple[IChatStore, User, User, User]:
        """A store with alice, bob and carol."""
        store = await self.make_store()
        users = [await self.make_user(store, name) for name in ("alice", "bob", "carol")]
        return store, users[0], users[1], users[2]

    async def test_a_creator_owns_their_room_and_visibility_is_kept(self) -> None:
        """create_room makes the creator the joined owner; private rooms stay private."""
        store, alice, bob, _ = await self.cast3()
        room = await store.create_room(NewRoom("Secret", "", alice.id, 5, "private"))
        self.assertEqual((room.visibility, room.archived, room.direct), ("private", False, False))
        self.assertEqual(await store.get_room(room.id), room)
        owner = await store.get_member(room.id, alice.id)
        assert owner is not None
        self.assertEqual((owner.state, owner.role, owner.username), (JOINED, OWNER, "alice"))
        self.assertIsNone(await store.get_member(room.id, bob.id))
        general = await store.ensure_room("General", "", 1)
        self.assertEqual(general.visibility, "public")
        self.assertEqual(await store.list_members(general.id), [])

    async def test_a_room_and_a_members_row_are_read_together(self) -> None:
        """get_room_and_member: the same as get_room and get_member; NotFound for no live room."""
        store, alice, bob, _ = await self.cast3()
        room = await store.create_room(NewRoom("Secret", "", alice.id, 5, "private"))
        self.assertEqual(
            await store.get_room_and_member(room.id, alice.id),
            (room, await store.get_member(room.id, alice.id)),
        )
        self.assertEqual(await store.get_room_and_member(room.id, bob.id), (room, None))
        self.assertEqual(await store.get_room_and_member(room.id, 2**70), (room, None))
        await store.change_member(
            room.id, bob.id, MemberUpdate("banned", alice.id, 6, state=BANNED)
        )
        _, banned = await store.get_room_and_member(room.id, bob.id)
        assert banned is not None
        self.assertEqual((banned.user_id, banned.state), (bob.id, BANNED))
        await store.delete_room(room.id)
        for room_id in (room.id, 999_999, 2**70, -1):
            await failure_of(self, store.get_room_and_member(room_id, alice.id), NotFound)

    async def test_rooms_of_a_user_are_public_ones_and_their_private_ones(self) -> None:
        """Invited or joined: listed; banned, left or never in: not."""
        store, alice, bob, carol = await self.cast3()
        general = await store.ensure_room("General", "", 1)
        secret = await store.create_room(NewRoom("Secret", "", alice.id, 5, "private"))
        ids = lambda rooms: [r.id for r in rooms]  # noqa: E731
        self.assertEqual(ids(await store.rooms_of(alice.id)), [general.id, secret.id])
        self.assertEqual(ids(await store.rooms_of(bob.id)), [general.id])
        await store.change_member(
            secret.id, bob.id, MemberUpdate("invited", alice.id, 6, state=INVITED)
        )
        self.assertEqual(ids(await store.rooms_of(bob.id)), [general.id, secret.id])
        await store.change_member(
            secret.id, bob.id, MemberUpdate("banned", alice.id, 7, state=BANNED)
        )
        self.assertEqual(ids(await store.rooms_of(bob.id)), [general.id])
        self.assertEqual(ids(await store.list_rooms()), [general.id, secret.id])
        self.assertEqual(ids(await store.rooms_of(carol.id)), [general.id])
        rows = await store.memberships_of(bob.id)
        self.assertEqual([(m.room_id, m.state) for m in rows], [(secret.id, BANNED)])
        self.assertEqual(await store.memberships_of(carol.id), [])

    async def test_find_rooms_pages_every_live_room_and_matches_a_part_of_its_name(self) -> None:
        """Private and direct rooms too (a direct one by a username); no deleted ones."""
        store, alice, bob, _ = await self.cast3()
        general = await store.ensure_room("General", "", 1)
        cafe = await store.create_room(NewRoom("Café Ünïon", "", alice.id, 5, "private"))
        odd = await store.create_room(NewRoom("100% a_b", "", alice.id, 6))
        direct = await store.open_direct(alice.id, bob.id, 7)
        gone = await store.create_room(NewRoom("Gone", "", alice.id, 8))
        await store.delete_room(gone.id)
        ids = lambda rooms: [r.id for r in rooms]  # noqa: E731
        everything = [general.id, cafe.id, odd.id, direct.id]
        self.assertEqual(ids(await store.find_rooms(None, 0, 50)), everything)
        self.assertEqual(ids(await store.find_rooms(None, cafe.id, 2)), [odd.id, direct.id])
        self.assertEqual(ids(await store.find_rooms("ÜNÏ", 0, 50)), [cafe.id])
        self.assertEqual(ids(await store.find_rooms("%", 0, 50)), [odd.id])
        self.assertEqual(ids(await store.find_rooms("a_b", 0, 50)), [odd.id])
        self.assertEqual(ids(await store.find_rooms("0_", 0, 50)), [])
        self.assertEqual(ids(await store.find_rooms("BOB", 0, 50)), [direct.id])
        self.assertEqual(ids(await store.find_rooms("gone", 0, 50)), [])
        self.assertEqual(await store.find_rooms(None, 2**63 - 1, 50), [])

    async def test_a_change_records_an_event_on_the_timeline_and_a_repeat_does_not(self) -> None:
        """Member events take ids from the messages' sequence; nothing changed, no event."""
        store, alice, bob, _ = await self.cast3()
        room = await store.create_room(NewRoom("Lobby", "", alice.id, 5))
        (before,) = await self.post(store, new_message(room, alice, "first"))
        change = await store.change_member(
            room.id, bob.id, MemberUpdate("joined", bob.id, 9, detail={"via": "join"})
        )
        assert change.event is not None
        self.assertEqual((change.member.state, change.member.role), (JOINED, MEMBER))
        self.assertGreater(change.event.id, before.id)
        (after,) = await self.post(store, new_message(room, alice, "second"))
        self.assertGreater(after.id, change.event.id)
        again = await store.change_member(room.id, bob.id, MemberUpdate("joined", bob.id, 10))
        self.assertIsNone(again.event)
        promoted = await store.change_member(
            room.id, bob.id, MemberUpdate("role_changed", alice.id, 11, role=MODERATOR)
        )
        muted = await store.change_member(
            room.id, bob.id, MemberUpdate("muted", alice.id, 12, muted=True)
        )
        self.assertEqual((muted.member.role, muted.member.muted), (MODERATOR, True))
        events = await store.get_member_events(room.id, 0, 10)
        self.assertEqual([e.kind for e in events], ["joined", "role_changed", "muted"])
        first = events[0]
        self.assertEqual((first.user_id, first.actor_id, first.ts), (bob.id, bob.id, 9))
        self.assertEqual(first.detail, {"via": "join"})
        assert promoted.event is not None
        page = await store.get_member_events(room.id, first.id, 1)
        self.assertEqual([e.id for e in page], [promoted.event.id])
        self.assertEqual(await store.get_member_events(room.id, 0, 0), [])

    async def test_a_change_in_an_unknown_room_or_of_an_unknown_user_is_not_found(self) -> None:
        """NotFound for either; nothing recorded."""
        store, alice, _, _ = await self.cast3()
        room = await store.create_room(NewRoom("Lobby", "", alice.id, 5))
        for room_id, user_id in ((room.id + 99, alice.id), (room.id, alice.id + 99), (2**70, 1)):
            failure = await failure_of(
                self,
                store.change_member(room_id, user_id, MemberUpdate("joined", None, 1)),
                NotFound,
            )
            self.assertIsInstance(failure, NotFound)
        self.assertEqual(await store.get_member_events(room.id, 0, 10), [])

    async def test_a_direct_room_is_one_per_pair(self) -> None:
        """Asked by either user, the same private room, both of them joined."""
        store, alice, bob, carol = await self.cast3()
        room = await store.open_direct(alice.id, bob.id, 5)
        self.assertEqual((room.visibility, room.direct), ("private", True))
        self.assertEqual(await store.open_direct(bob.id, alice.id, 6), room)
        members = await store.list_members(room.id)
        self.assertEqual(
            [(m.user_id, m.state) for m in members], [(alice.id, JOINED), (bob.id, JOINED)]
        )
        other = await store.open_direct(alice.id, carol.id, 7)
        self.assertNotEqual(other.id, room.id)
        await failure_of(self, store.open_direct(alice.id, 999, 8), NotFound)
        # A user-chosen name equal to a direct room's stays free.
        await store.create_room(NewRoom(room.name, "", alice.id, 9))

    async def test_room_settings_archive_and_delete(self) -> None:
        """Renames keep names unique; archiving is an event; a deleted room is gone."""
        store, alice, _, _ = await self.cast3()
        room = await store.create_room(NewRoom("Lobby", "", alice.id, 5))
        await store.create_room(NewRoom("Taken", "", alice.id, 5))
        renamed, event = await store.update_room(
            room.id, RoomUpdate(actor_id=alice.id, ts=6, name="Hall")
        )
        assert event is not None
        self.assertEqual(
            (renamed.name, event.kind, event.detail), ("Hall", "room_updated", {"name": "Hall"})
        )
        self.assertEqual((await store.get_room(room.id)).name, "Hall")
        renaming = store.update_room(room.id, RoomUpdate(actor_id=alice.id, ts=7, name="taken"))
        await failure_of(self, renaming, Conflict)
        _, nothing = await store.update_room(
            room.id, RoomUpdate(actor_id=alice.id, ts=7, name="Hall")
        )
        self.assertIsNone(nothing)
        archived, event = await store.update_room(
            room.id, RoomUpdate(actor_id=alice.id, ts=8, archived=True)
        )
        assert event is not None
        self.assertEqual((archived.archived, event.kind), (True, "room_archived"))
        await store.delete_room(room.id)
        await failure_of(self, store.get_room(room.id), NotFound)
        self.assertNotIn(room.id, [r.id for r in await store.list_rooms()])
        await failure_of(self, store.delete_room(room.id), NotFound)
        await store.create_room(NewRoom("Hall", "", alice.id, 9))  # the name is free again

    async def test_the_audit_log_is_newest_first_by_room(self) -> None:
        """Entries come back with ids, newest first, filtered by room and paged by id."""
        store, alice, bob, _ = await self.cast3()
        room: Room = await store.create_room(NewRoom("Lobby", "", alice.id, 5))
        first = await store.add_audit(NewAuditEntry(alice.id, "kick", 10, bob.id, room.id, "spam"))
        await store.add_audit(NewAuditEntry(alice.id, "disable", 11, bob.id, None, ""))
        third = await store.add_audit(NewAuditEntry(None, "grant_admin", 12, alice.id))
        everything = await store.list_audit(None, None, 10)
        self.assertEqual([e.action for e in everything], ["grant_admin", "disable", "kick"])
        self.assertEqual(everything[-1], first)
        self.assertEqual(first.to_json()["reason"], "spam")
        self.assertEqual(await store.list_audit(room.id, None, 10), [first])
        self.assertEqual([e.id for e in await store.list_audit(None, third.id, 1)], [third.id - 1])
