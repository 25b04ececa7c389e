"""The read-marker rules of ``IChatStore`` (``IReadStore``) and mentions, on every backend."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, gatherResults

from chatservice.access_models import JOINED, LEFT, MemberUpdate
from chatservice.errors import NotFound
from chatservice.models import Change, ErasePage, Message, NewMessage, NewRoom, Room, User
from chatservice.store import IChatStore
from chatservice.store.read_interface import COUNT_LIMIT, RoomCounts
from tests.store_contract import StoreContractMixin, failure_of, new_message


def mentioning(room: Room, user: User, content: str, *mentioned: User) -> NewMessage:
    """A new message of ``user`` in ``room`` that mentions ``mentioned``."""
    new = new_message(room, user, content)
    return dataclasses.replace(new, mentions=tuple(sorted(u.id for u in mentioned)))


def expected_counts(
    history: Sequence[Message],
    user_id: int,
    marker: int,
    mentions: dict[int, tuple[int, ...]],
    *,
    unread_counted: bool = True,
) -> tuple[int, int]:
    """The oracle: ``(unread, mention_count)`` recounted from a final history."""
    after = [m for m in history if m.id > marker and not m.deleted]
    unread = sum(1 for m in after if m.sender_id != user_id) if unread_counted else 0
    mentioned = sum(1 for m in after if user_id in mentions.get(m.id, ()))
    return min(unread, COUNT_LIMIT), min(mentioned, COUNT_LIMIT)


async def settled(deferred: Deferred[Any]) -> Any:
    """The result of ``deferred``, or None if it failed with ``NotFound`` (a deleted target)."""
    try:
        return await deferred
    except NotFound:
        return None


class ReadContractMixin(StoreContractMixin):
    """Read markers, unread and mention counts, and the mentions a message carries."""

    async def readers(self) -> tuple[IChatStore, Room, list[User]]:
        """Alice's room (she owns it) with bob joined; carol and dave never joined."""
        store = await self.make_store()
        users = [await self.make_user(store, n) for n in ("alice", "bob", "carol", "dave")]
        room = await store.create_room(NewRoom("Lobby", "", users[0].id, 5))
        await store.change_member(room.id, users[1].id, MemberUpdate("joined", users[1].id, 6))
        return store, room, users

    async def counts(self, store: IChatStore, user: User, room: Room) -> RoomCounts:
        """The user's counts in the room."""
        return (await store.room_counts(user.id, [room.id]))[room.id]

    async def test_mentions_are_stored_with_the_message_and_read_back_everywhere(self) -> None:
        """``mentions`` come back from history, one message, events and a resend."""
        store, room, (alice, bob, carol, _) = await self.readers()
        (message,) = await self.post(store, mentioning(room, alice, "hi @bob @carol", bob, carol))
        self.assertEqual(message.mentions, tuple(sorted((bob.id, carol.id))))
        self.assertEqual((await store.get_message(message.id)).mentions, message.mentions)
        (page,) = await store.get_messages(room.id, 10)
        self.assertEqual(page.mentions, message.mentions)
        (event,) = await store.get_events(room.id, 0, 10)
        self.assertEqual(event.message.mentions, message.mentions)
        self.assertIn("mentions", message.to_json())
        self.assertEqual(message.to_json()["mentions"], list(message.mentions))

    async def test_an_edit_replaces_the_mentions_and_a_delete_removes_them(self) -> None:
        """An edit's mentions replace the old ones (None keeps them); a tombstone has none."""
        store, room, (alice, bob, carol, _) = await self.readers()
        (message,) = await self.post(store, mentioning(room, alice, "hi @bob", bob))
        self.assertEqual((await self.counts(store, bob, room)).mention_count, 1)
        change = await store.edit_message(message.id, alice.id, "hi @carol", 7, [carol.id])
        self.assertEqual(change.event.message.mentions, (carol.id,))
        self.assertEqual((await store.get_message(message.id)).mentions, (carol.id,))
        self.assertEqual((await self.counts(store, bob, room)).mention_count, 0)
        self.assertEqual((await self.counts(store, carol, room)).mention_count, 1)
        kept = await store.edit_message(message.id, alice.id, "hello @carol", 8)
        self.assertEqual(kept.event.message.mentions, (carol.id,))
        deleted = await store.delete_message(message.id, alice.id, 9)
        self.assertEqual(deleted.event.message.mentions, ())
        self.assertEqual((await store.get_message(message.id)).mentions, ())
        self.assertEqual((await self.counts(store, carol, room)).mention_count, 0)

    async def test_erased_messages_no_longer_count_as_mentions(self) -> None:
        """Erasing a user's messages (account deletion) removes their mentions too."""
        store, room, (alice, bob, _, _) = await self.readers()
        await self.post(store, mentioning(room, alice, "@bob", bob))
        await store.erase_messages(ErasePage(alice.id, alice.id, 10, 11))
        counts = await self.counts(store, bob, room)
        self.assertEqual((counts.unread, counts.mention_count), (0, 0))

    async def test_unread_skips_own_and_deleted_messages(self) -> None:
        """The sender's own messages and tombstones are never unread."""
        store, room, (alice, bob, _, _) = await self.readers()
        store_posts = [new_message(room, alice, f"a{i}") for i in range(3)]
        first, second, _ = await self.post(store, *store_posts)
        await self.post(store, new_message(room, bob, "mine"))
        await store.set_read_marker(bob.id, room.id, first.id - 1)
        self.assertEqual((await self.counts(store, bob, room)).unread, 3)
        self.assertEqual((await self.counts(store, alice, room)).unread, 1)
        await store.delete_message(second.id, alice.id, 10)
        self.assertEqual((await self.counts(store, bob, room)).unread, 2)

    async def test_a_marker_never_moves_back_and_is_clamped_to_the_newest_message(self) -> None:
        """Lower ids change nothing; ids past the room's newest message mark that message."""
        store, room, (alice, bob, _, _) = await self.readers()
        empty = await store.set_read_marker(bob.id, room.id, 50)
        self.assertEqual((empty.last_read_id, empty.moved), (0, True))
        messages = await self.post(store, *[new_message(room, alice, f"m{i}") for i in range(4)])
        moved = await store.set_read_marker(bob.id, room.id, messages[2].id)
        self.assertEqual((moved.last_read_id, moved.moved), (messages[2].id, True))
        back = await store.set_read_marker(bob.id, room.id, messages[0].id)
        self.assertEqual((back.last_read_id, back.moved), (messages[2].id, False))
        same = await store.set_read_marker(bob.id, room.id, messages[2].id)
        self.assertFalse(same.moved)
        self.assertEqual((await self.counts(store, bob, room)).unread, 1)
        past = await store.set_read_marker(bob.id, room.id, 10**12)
        self.assertEqual((past.last_read_id, past.moved), (messages[3].id, True))
        self.assertEqual(
            await self.counts(store, bob, room), RoomCounts(room.id, messages[3].id, 0, 0)
        )

    async def test_markers_are_per_user_and_room(self) -> None:
        """One user's marker in one room moves nobody else's."""
        store, room, (alice, bob, carol, _) = await self.readers()
        other = await store.create_room(NewRoom("Other", "", alice.id, 5))
        (message,) = await self.post(store, new_message(room, alice, "x"))
        (elsewhere,) = await self.post(store, new_message(other, alice, "y"))
        await store.change_member(other.id, bob.id, MemberUpdate("joined", bob.id, 6))
        await store.set_read_marker(bob.id, room.id, message.id)
        await store.change_member(room.id, carol.id, MemberUpdate("joined", carol.id, 7))
        counts = await store.room_counts(bob.id, [room.id, other.id])
        self.assertEqual(counts[room.id].unread, 0)
        # Bob joined Other after its message: counted from his join, nothing is unread.
        self.assertEqual(counts[other.id].unread, 0)
        self.assertGreater(counts[other.id].last_read_id, elsewhere.id)
        # Carol joined Lobby after its message too.
        self.assertEqual((await self.counts(store, carol, room)).unread, 0)

    async def test_default_marker_is_the_join_or_the_room_start_for_its_first_members(
        self,
    ) -> None:
        """A creator counts from the start; a joiner from their join; a stranger has none."""
        store, room, (alice, bob, carol, _) = await self.readers()
        (before,) = await self.post(store, new_message(room, carol, "before bob"))
        left = await store.change_member(
            room.id, bob.id, MemberUpdate("left", bob.id, 7, state=LEFT)
        )
        self.assertIsNotNone(left.event)
        again = await store.change_member(
            room.id, bob.id, MemberUpdate("joined", bob.id, 8, state=JOINED)
        )
        assert again.event is not None
        (after,) = await self.post(store, mentioning(room, carol, "after @alice", alice))
        self.assertEqual(await self.counts(store, alice, room), RoomCounts(room.id, 0, 2, 1))
        self.assertEqual(
            await self.counts(store, bob, room), RoomCounts(room.id, again.event.id, 1, 0)
        )
        dave = (await store.get_credentials("dave")).user
        stranger = await self.counts(store, dave, room)
        self.assertEqual(stranger, RoomCounts(room.id, 0, 0, 0))
        self.assertLess(before.id, after.id)

    async def test_a_stranger_still_counts_mentions_and_a_marker_starts_the_unread(self) -> None:
        """A public room never joined: mentions count from the start; a marker counts unread."""
        store, room, (alice, _, _, dave) = await self.readers()
        first, _ = await self.post(
            store, mentioning(room, alice, "@dave", dave), new_message(room, alice, "more")
        )
        self.assertEqual(await self.counts(store, dave, room), RoomCounts(room.id, 0, 0, 1))
        await store.set_read_marker(dave.id, room.id, first.id)
        self.assertEqual(await self.counts(store, dave, room), RoomCounts(room.id, first.id, 1, 0))

    async def test_counts_stop_at_the_limit(self) -> None:
        """Past ``COUNT_LIMIT`` unread messages (or mentions) the count says exactly the limit."""
        store, room, (alice, bob, _, _) = await self.readers()
        batch = [mentioning(room, alice, f"@bob {i}", bob) for i in range(COUNT_LIMIT + 5)]
        await self.post(store, *batch)
        await store.set_read_marker(bob.id, room.id, 1)
        counts = await self.counts(store, bob, room)
        self.assertEqual((counts.unread, counts.mention_count), (COUNT_LIMIT, COUNT_LIMIT))

    async def test_unknown_rooms_and_users(self) -> None:
        """Setting a marker in an unknown room or for an unknown user is ``NotFound``."""
        store, room, (alice, *_) = await self.readers()
        await failure_of(self, store.set_read_marker(alice.id, 9_999, 1), NotFound)
        await failure_of(self, store.set_read_marker(9_999, room.id, 1), NotFound)
        await failure_of(self, store.set_read_marker(alice.id, 2**70, 1), NotFound)
        self.assertEqual(await store.room_counts(alice.id, [9_999, 2**70]), {})
        await store.delete_room(room.id)
        self.assertEqual(await store.room_counts(alice.id, [room.id]), {})

    async def test_counts_stay_exact_under_concurrent_posts_edits_and_deletes(self) -> None:
        """Many posts, edits, deletes and marker moves in flight at once; counts match a recount.

        The oracle is computed from the final history and from what each
        change answered (an edit's event id decides which content stayed),
        not from the store's own mention bookkeeping.
        """
        store, room, users = await self.readers()
        alice, bob, carol, dave = users
        other = await store.create_room(NewRoom("Other", "", alice.id, 5))
        rng = random.Random(13)

        def pick_mentions(sender: User) -> tuple[User, ...]:
            return tuple(u for u in users if u is not sender and rng.random() < 0.4)

        def post_one(target: Room) -> Deferred[Any]:
            sender = rng.choice(users)
            mentioned = pick_mentions(sender)
            names = " ".join("@" + u.username for u in mentioned)
            return store.add_messages([mentioning(target, sender, f"hi {names}", *mentioned)])

        first = await gatherResults([post_one(rng.choice((room, other))) for _ in range(40)])
        originals: list[Message] = [posted.message for (posted,) in first]
        in_lobby = [m for m in originals if m.room_id == room.id]
        mentions = {m.id: m.mentions for m in originals}
        ceiling = max(m.id for m in in_lobby)

        # Everything of the second phase is in flight together.
        work: list[Deferred[Any]] = []
        kinds: list[tuple[str, Message | None]] = []
        for _ in range(20):
            work.append(post_one(rng.choice((room, other))))
            kinds.append(("post", None))
        for _ in range(30):
            target = rng.choice(originals)
            sender = next(u for u in users if u.id == target.sender_id)
            mentioned = pick_mentions(sender)
            edit = store.edit_message(
                target.id,
                sender.id,
                f"edit {rng.random()}",
                20,
                [u.id for u in mentioned],
            )
            work.append(Deferred.fromCoroutine(settled(edit)))
            kinds.append(("edit", target))
        for _ in range(15):
            target = rng.choice(originals)
            deletion = store.delete_message(target.id, target.sender_id, 30)
            work.append(Deferred.fromCoroutine(settled(deletion)))
            kinds.append(("delete", target))
        wanted_markers: dict[int, list[int]] = {bob.id: [], dave.id: []}
        for _ in range(6):
            reader = rng.choice((bob, dave))
            marker = rng.choice(in_lobby).id
            wanted_markers[reader.id].append(marker)
            work.append(store.set_read_marker(reader.id, room.id, marker))
            kinds.append(("marker", None))
        results = await gatherResults(work)

        latest_edit: dict[int, int] = {}
        deleted: set[int] = set()
        for (kind, acted_on), result in zip(kinds, results, strict=True):
            if kind == "post":
                (posted,) = result
                mentions[posted.message.id] = posted.message.mentions
            elif kind == "edit" and result is not None:
                change: Change = result
                assert acted_on is not None
                if change.changed and change.event.id > latest_edit.get(acted_on.id, 0):
                    latest_edit[acted_on.id] = change.event.id
                    mentions[acted_on.id] = change.event.message.mentions
            elif kind == "delete":
                assert acted_on is not None
                deleted.add(acted_on.id)
        history = list(await store.get_messages(room.id, 1000))
        lobby_ids = {m.id for m in in_lobby}
        self.assertEqual({m.id for m in history if m.deleted}, deleted & lobby_ids)
        for message in history:
            want = () if message.deleted else mentions[message.id]
            self.assertEqual(message.mentions, want, message)
        self.assertTrue(any(m.mentions for m in history if not m.deleted))

        markers = {
            alice.id: 0,  # the owner: counted from the room's start
            bob.id: max(wanted_markers[bob.id], default=0),
            carol.id: 0,  # never joined, never marked: mentions only
            dave.id: max(wanted_markers[dave.id], default=0),
        }
        self.assertLessEqual(max(markers.values()), ceiling)
        for user in users:
            counts = await self.counts(store, user, room)
            # Carol never joined nor marked; dave never joined, but may have marked.
            unread_counted = user is not carol and (user is not dave or bool(markers[dave.id]))
            marker = markers[user.id]
            if user is bob and not wanted_markers[bob.id]:
                # His join event, before every message: nothing is read.
                self.assertLess(counts.last_read_id, min(m.id for m in history))
                marker = counts.last_read_id
            self.assertEqual(counts.last_read_id, marker, user.username)
            self.assertEqual(
                (counts.unread, counts.mention_count),
                expected_counts(history, user.id, marker, mentions, unread_counted=unread_counted),
                user.username,
            )
