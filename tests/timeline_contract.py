"""The ``IChatStore`` contract of the timeline: events, edits, deletes, reactions, replies.

``TimelineContractMixin`` is mixed into each backend's contract test case
beside ``StoreContractMixin`` (whose hooks and helpers it uses), so every
rule holds on memory, SQLite and PostgreSQL alike. ``SQLTimelineMixin``
adds what only a database has: migrating a version-1 database.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.trial.unittest import SkipTest

from chatservice.errors import Forbidden, NotFound, TooManyReactions
from chatservice.models import (
    CREATED,
    DELETED,
    EDITED,
    MAX_REACTIONS_PER_MESSAGE,
    MAX_REACTIONS_PER_USER,
    REACTED,
    REPLY_EXCERPT_LENGTH,
    UNREACTED,
    Change,
    Message,
    NewMessage,
    Reaction,
    ReplyPreview,
    Room,
    TimelineEvent,
    User,
)
from chatservice.store import IChatStore
from chatservice.store.database import Txn
from chatservice.store.migrations import load_migrations, migrate
from chatservice.store.sql import SQLStore
from tests.store_contract import (
    INT64_MAX,
    PAST_64_BITS,
    MixinBase,
    StoreContractMixin,
    new_message,
)

TS = 1_700_000_000_000


def reply(room: Room, user: User, to: Message, content: str = "re") -> NewMessage:
    """A reply from ``user`` to ``to``."""
    return NewMessage(room.id, user.id, user.username, content, TS, None, to.id)


class TimelineContractMixin(StoreContractMixin):
    """Every timeline rule of ``IChatStore``."""

    async def cast(self) -> tuple[IChatStore, Room, User, User]:
        """A store with a room, alice and bob."""
        store = await self.make_store()
        alice = await self.make_user(store, "alice")
        bob = await self.make_user(store, "bob")
        room = await store.ensure_room("General", "", 1)
        return store, room, alice, bob

    async def all_events(self, store: IChatStore, room_id: int) -> list[TimelineEvent]:
        """Every event of a room, in one page."""
        return list(await store.get_events(room_id, 0, 10_000))

    async def assert_a_repeat(
        self, store: IChatStore, room_id: int, first: Change, again: Change
    ) -> None:
        """``again`` changed nothing and answers with ``first``'s event: still 2 events."""
        self.assertFalse(again.changed)
        self.assertEqual(again.event, first.event)
        self.assertEqual(len(await self.all_events(store, room_id)), 2)

    # -- events ------------------------------------------------------------------

    async def test_new_messages_are_message_events(self) -> None:
        """Each new message is a ``message`` event whose id is the message's."""
        store, room, alice, bob = await self.cast()
        stored = await self.post(store, new_message(room, alice, "a"), new_message(room, bob))
        events = await self.all_events(store, room.id)
        self.assertEqual(events, [TimelineEvent(m.id, CREATED, m) for m in stored])

    async def test_one_sequence_for_every_kind(self) -> None:
        """Messages, edits, deletes and reactions take ids from one increasing sequence."""
        store, room, alice, bob = await self.cast()
        [first] = await self.post(store, new_message(room, alice, "one"))
        edit = await store.edit_message(first.id, alice.id, "one!", TS + 1)
        react = await store.set_reaction(first.id, bob.id, "👍", True, TS + 2)
        [second] = await self.post(store, new_message(room, bob, "two"))
        delete = await store.delete_message(second.id, bob.id, TS + 3)
        ids = [first.id, edit.event.id, react.event.id, second.id, delete.event.id]
        self.assertEqual(ids, sorted(set(ids)))
        kinds = [(e.id, e.kind) for e in await self.all_events(store, room.id)]
        expected_kinds = [CREATED, EDITED, REACTED, CREATED, DELETED]
        self.assertEqual(kinds, list(zip(ids, expected_kinds, strict=True)))

    async def test_resend_adds_no_event(self) -> None:
        """A repeated client_msg_id stores no event, in a later batch or the same one."""
        store, room, alice, _ = await self.cast()
        await self.post(store, new_message(room, alice, "a", "c1"))
        before = await self.all_events(store, room.id)
        again = await store.add_messages(
            [new_message(room, alice, "a", "c1"), new_message(room, alice, "b", "c1")]
        )
        self.assertEqual([p.created for p in again], [False, False])
        self.assertEqual(await self.all_events(store, room.id), before)

    async def test_events_carry_the_current_state(self) -> None:
        """An old event is read with its message as it is now."""
        store, room, alice, bob = await self.cast()
        [message] = await self.post(store, new_message(room, alice, "typo"))
        await store.edit_message(message.id, alice.id, "fixed", TS + 5)
        await store.set_reaction(message.id, bob.id, "🎉", True, TS + 6)
        now = await store.get_message(message.id)
        self.assertEqual(
            (now.content, now.edited_at, now.reactions),
            ("fixed", TS + 5, (Reaction("🎉", (bob.id,)),)),
        )
        events = await self.all_events(store, room.id)
        self.assertEqual([e.message for e in events], [now] * 3)

    async def test_events_page_forward_once_each(self) -> None:
        """Following after= visits every event of the room once, in id order."""
        store, room, alice, bob = await self.cast()
        other = await store.ensure_room("Other", "", 1)
        messages = await self.post(
            store, *[new_message(room if i % 3 else other, alice, f"m{i}") for i in range(9)]
        )
        for message in messages:
            if message.room_id == room.id:
                await store.edit_message(message.id, alice.id, message.content + "!", TS)
                await store.set_reaction(message.id, bob.id, "👍", True, TS)
        await store.delete_message(messages[1].id, alice.id, TS)
        everything = await self.all_events(store, room.id)
        self.assertEqual(len(everything), 6 * 3 + 1)
        self.assertTrue(all(e.room_id == room.id for e in everything))
        seen: list[TimelineEvent] = []
        after = 0
        while page := await store.get_events(room.id, after, 4):
            self.assertLessEqual(len(page), 4)
            seen.extend(page)
            after = page[-1].id
        self.assertEqual(seen, everything)
        self.assertEqual([e.id for e in seen], sorted({e.id for e in seen}))
        state: dict[int, Message] = {}
        for event in seen:
            state[event.message.id] = event.message
        history = await store.get_messages(room.id, 50)
        self.assertEqual(list(state.values()), list(history))

    async def test_events_of_unknown_rooms_and_far_cursors(self) -> None:
        """No room, a cursor past the newest or past 64 bits: no events; far back: all."""
        store, room, alice, _ = await self.cast()
        stored = await self.post(store, new_message(room, alice), new_message(room, alice))
        self.assertEqual(list(await store.get_events(999, 0, 10)), [])
        self.assertEqual(list(await store.get_events(room.id, stored[-1].id, 10)), [])
        self.assertEqual(list(await store.get_events(room.id, INT64_MAX, 10)), [])
        self.assertEqual(list(await store.get_events(room.id, 0, 0)), [])
        for outside in PAST_64_BITS:
            self.assertEqual(list(await store.get_events(outside, 0, 10)), [])
        self.assertEqual(list(await store.get_events(room.id, 2**64, 10)), [])
        far_back = await store.get_events(room.id, -(2**70), 10**30)
        self.assertEqual([e.id for e in far_back], [m.id for m in stored])

    # -- get_message -------------------------------------------------------------

    async def test_get_message(self) -> None:
        """get_message finds a message; unknown and impossible ids are NotFound."""
        store, room, alice, _ = await self.cast()
        [message] = await self.post(store, new_message(room, alice, "hi", "c"))
        self.assertEqual(await store.get_message(message.id), message)
        for missing in (message.id + 1, 0, INT64_MAX, *PAST_64_BITS):
            await self.assertFailure(store.get_message(missing), NotFound)

    # -- edits -------------------------------------------------------------------

    async def test_edit_changes_the_message_in_place(self) -> None:
        """An edit is an ``edit`` event; history shows the new content and edited_at."""
        store, room, alice, _ = await self.cast()
        before, message, after = await self.post(
            store, *[new_message(room, alice, c) for c in ("a", "b", "c")]
        )
        change = await store.edit_message(message.id, alice.id, "B", TS + 9)
        self.assertTrue(change.changed)
        self.assertEqual(change.event.kind, EDITED)
        self.assertGreater(change.event.id, after.id)
        edited = change.event.message
        self.assertEqual((edited.id, edited.content, edited.edited_at), (message.id, "B", TS + 9))
        self.assertEqual((edited.ts, edited.sender_id), (message.ts, message.sender_id))
        self.assert_ids(await store.get_messages(room.id, 10), [before, message, after])
        self.assertEqual((await store.get_messages(room.id, 10))[1], edited)
        self.assertEqual(await store.get_message(message.id), edited)

    async def test_same_edit_again_changes_nothing(self) -> None:
        """The same content again stores no event and answers with the latest event."""
        store, room, alice, _ = await self.cast()
        [message] = await self.post(store, new_message(room, alice, "same"))
        unchanged = await store.edit_message(message.id, alice.id, "same", TS + 1)
        self.assertFalse(unchanged.changed)
        self.assertEqual(unchanged.event, TimelineEvent(message.id, CREATED, message))
        first = await store.edit_message(message.id, alice.id, "new", TS + 2)
        again = await store.edit_message(message.id, alice.id, "new", TS + 3)
        await self.assert_a_repeat(store, room.id, first, again)

    async def test_only_the_author_edits(self) -> None:
        """Another user's edit is Forbidden and changes nothing."""
        store, room, alice, bob = await self.cast()
        [message] = await self.post(store, new_message(room, alice, "mine"))
        for editor in (bob.id, INT64_MAX, *PAST_64_BITS):
            await self.assertFailure(store.edit_message(message.id, editor, "x", 1), Forbidden)
        self.assertEqual(await store.get_message(message.id), message)
        self.assertEqual(len(await self.all_events(store, room.id)), 1)

    async def test_editing_unknown_or_deleted_is_not_found(self) -> None:
        """An unknown id, an impossible one, or a tombstone cannot be edited."""
        store, room, alice, _ = await self.cast()
        [message] = await self.post(store, new_message(room, alice, "gone"))
        await store.delete_message(message.id, alice.id, TS)
        for target in (message.id, message.id + 100, INT64_MAX, *PAST_64_BITS):
            await self.assertFailure(store.edit_message(target, alice.id, "x", 1), NotFound)
        self.assertEqual(len(await self.all_events(store, room.id)), 2)

    async def test_concurrent_edits_last_event_wins(self) -> None:
        """Edits of one message started together are serialised: the highest event id stays."""
        store, room, alice, bob = await self.cast()
        [message] = await self.post(store, new_message(room, alice, "v0"))
        contents = [f"v{n}" for n in range(1, 13)]
        edits = [
            store.edit_message(message.id, alice.id, c, TS + n) for n, c in enumerate(contents)
        ]
        reactions = [store.set_reaction(message.id, bob.id, e, True, TS) for e in "abc"]
        changes = await gatherResults(edits)
        reacted = await gatherResults(reactions)
        self.assertTrue(all(change.changed for change in changes))
        for content, change in zip(contents, changes, strict=True):
            self.assertEqual(change.event.message.content, content)
        last = max(changes, key=lambda change: change.event.id)
        now = await store.get_message(message.id)
        self.assertEqual(
            (now.content, now.edited_at),
            (last.event.message.content, last.event.message.edited_at),
        )
        # Emoji in the order their reactions were stored: with several
        # connections (PostgreSQL) that need not be the order they were asked for.
        self.assertTrue(all(r.changed for r in reacted))
        ids = [r.event.id for r in reacted]
        stored_order = [emoji for _, emoji in sorted(zip(ids, "abc", strict=True))]
        self.assertEqual([r.emoji for r in now.reactions], stored_order)
        events = await self.all_events(store, room.id)
        edit_ids = sorted(e.id for e in events if e.kind == EDITED)
        self.assertEqual(edit_ids, sorted(change.event.id for change in changes))
        self.assertEqual(len(set(edit_ids)), len(contents))
        self.assertEqual(len(events), 1 + len(contents) + 3)

    # -- deletes -----------------------------------------------------------------

    async def test_delete_leaves_a_tombstone_in_place(self) -> None:
        """A deleted message keeps its id, sender and place; content and reactions go."""
        store, room, alice, bob = await self.cast()
        before, message, after = await self.post(
            store, *[new_message(room, alice, c, ts=TS + n) for n, c in enumerate("abc")]
        )
        await store.set_reaction(message.id, bob.id, "👍", True, TS)
        change = await store.delete_message(message.id, alice.id, TS + 7)
        self.assertTrue(change.changed)
        self.assertEqual(change.event.kind, DELETED)
        tomb = change.event.message
        self.assertEqual((tomb.deleted, tomb.content, tomb.reactions), (True, "", ()))
        self.assertEqual(
            (tomb.id, tomb.sender_id, tomb.username, tomb.ts, tomb.room_id),
            (message.id, alice.id, "alice", message.ts, room.id),
        )
        self.assertEqual(list(await store.get_messages(room.id, 10)), [before, tomb, after])
        self.assertEqual(await store.get_message(message.id), tomb)

    async def test_deleting_a_tombstone_changes_nothing(self) -> None:
        """A second delete stores no event and answers with the delete event."""
        store, room, alice, _ = await self.cast()
        [message] = await self.post(store, new_message(room, alice))
        first = await store.delete_message(message.id, alice.id, TS)
        again = await store.delete_message(message.id, alice.id, TS + 1)
        await self.assert_a_repeat(store, room.id, first, again)

    async def test_only_the_author_deletes(self) -> None:
        """Another user's delete is Forbidden; an unknown message is NotFound."""
        store, room, alice, bob = await self.cast()
        [message] = await self.post(store, new_message(room, alice, "mine"))
        for deleter in (bob.id, *PAST_64_BITS):
            await self.assertFailure(store.delete_message(message.id, deleter, 1), Forbidden)
        for missing in (message.id + 1, INT64_MAX, *PAST_64_BITS):
            await self.assertFailure(store.delete_message(missing, alice.id, 1), NotFound)
        self.assertEqual(await store.get_message(message.id), message)

    async def test_a_moderator_deletes_anyone_s_message(self) -> None:
        """With ``any_author`` (the use case checked the right) bob's delete is a tombstone."""
        store, room, alice, bob = await self.cast()
        [message] = await self.post(store, new_message(room, alice, "spam"))
        change = await store.delete_message(message.id, bob.id, TS, any_author=True)
        self.assertTrue(change.changed)
        self.assertEqual((change.event.kind, change.event.message.deleted), ("delete", True))
        self.assertEqual((await store.get_message(message.id)).content, "")

    # -- reactions ---------------------------------------------------------------

    async def test_reactions_add_and_remove(self) -> None:
        """Each emoji once, users oldest first, emoji in the order first reacted."""
        store, room, alice, bob = await self.cast()
        [message] = await self.post(store, new_message(room, alice))
        added = await store.set_reaction(message.id, bob.id, "👍", True, TS)
        self.assertTrue(added.changed)
        self.assertEqual(added.event.kind, REACTED)
        self.assertEqual(added.event.message.reactions, (Reaction("👍", (bob.id,)),))
        await store.set_reaction(message.id, alice.id, ":tada:", True, TS)
        await store.set_reaction(message.id, alice.id, "👍", True, TS)
        self.assertEqual(
            (await store.get_message(message.id)).reactions,
            (Reaction("👍", (bob.id, alice.id)), Reaction(":tada:", (alice.id,))),
        )
        removed = await store.set_reaction(message.id, bob.id, "👍", False, TS)
        self.assertTrue(removed.changed)
        self.assertEqual(removed.event.kind, UNREACTED)
        await store.set_reaction(message.id, alice.id, "👍", False, TS)
        await store.set_reaction(message.id, bob.id, "👍", True, TS)
        current = (Reaction(":tada:", (alice.id,)), Reaction("👍", (bob.id,)))
        self.assertEqual((await store.get_message(message.id)).reactions, current)
        self.assertEqual((await store.get_messages(room.id, 1))[0].reactions, current)

    async def test_repeated_reactions_change_nothing(self) -> None:
        """Adding a reaction that is there, or removing one that is not, stores no event."""
        store, room, alice, bob = await self.cast()
        [message] = await self.post(store, new_message(room, alice))
        absent = await store.set_reaction(message.id, bob.id, "👍", False, TS)
        self.assertEqual(absent.event, TimelineEvent(message.id, CREATED, message))
        self.assertFalse(absent.changed)
        first = await store.set_reaction(message.id, bob.id, "👍", True, TS)
        again = await store.set_reaction(message.id, bob.id, "👍", True, TS + 1)
        await self.assert_a_repeat(store, room.id, first, again)

    async def test_reactions_are_bounded(self) -> None:
        """Past the bounds per user and per message, adding is TooManyReactions."""
        store, room, alice, bob = await self.cast()
        carol = await self.make_user(store, "carol")
        [message] = await self.post(store, new_message(room, alice))
        for n in range(MAX_REACTIONS_PER_USER):
            await store.set_reaction(message.id, alice.id, f":a{n}:", True, TS)
        await self.assertFailure(
            store.set_reaction(message.id, alice.id, ":one-more:", True, TS), TooManyReactions
        )
        # An emoji already on the message is not a new distinct one.
        for n in range(MAX_REACTIONS_PER_MESSAGE - MAX_REACTIONS_PER_USER):
            await store.set_reaction(message.id, bob.id, f":b{n}:", True, TS)
        events = len(await self.all_events(store, room.id))
        await self.assertFailure(
            store.set_reaction(message.id, carol.id, ":new:", True, TS), TooManyReactions
        )
        self.assertTrue((await store.set_reaction(message.id, carol.id, ":a0:", True, TS)).changed)
        self.assertEqual(len(await self.all_events(store, room.id)), events + 1)
        reactions = (await store.get_message(message.id)).reactions
        self.assertEqual(len(reactions), MAX_REACTIONS_PER_MESSAGE)
        self.assertNotIn(":new:", {r.emoji for r in reactions})

    async def test_reacting_to_unknown_or_deleted_is_not_found(self) -> None:
        """No reaction, added or removed, on a tombstone or a message that is not there."""
        store, room, alice, bob = await self.cast()
        [message] = await self.post(store, new_message(room, alice))
        await store.delete_message(message.id, alice.id, TS)
        for target in (message.id, message.id + 100, INT64_MAX, *PAST_64_BITS):
            for present in (True, False):
                await self.assertFailure(
                    store.set_reaction(target, bob.id, "👍", present, TS), NotFound
                )

    async def test_reaction_of_an_unknown_user_is_not_found(self) -> None:
        """A reaction names a user that exists."""
        store, room, alice, _ = await self.cast()
        [message] = await self.post(store, new_message(room, alice))
        for user_id in (999, INT64_MAX, *PAST_64_BITS):
            await self.assertFailure(
                store.set_reaction(message.id, user_id, "👍", True, TS), NotFound
            )
        self.assertEqual(len(await self.all_events(store, room.id)), 1)

    # -- replies -----------------------------------------------------------------

    async def test_reply_carries_a_preview_of_the_original(self) -> None:
        """A reply names the original and quotes its first code points."""
        store, room, alice, bob = await self.cast()
        long = "👋" * (REPLY_EXCERPT_LENGTH + 5)
        [original] = await self.post(store, new_message(room, alice, long))
        [answer] = await self.post(store, reply(room, bob, original))
        preview = ReplyPreview(original.id, alice.id, "alice", "👋" * REPLY_EXCERPT_LENGTH)
        self.assertEqual((answer.reply_to, answer.reply_preview), (original.id, preview))
        self.assertEqual(await store.get_message(answer.id), answer)
        self.assertEqual(list(await store.get_messages(room.id, 10)), [original, answer])
        self.assertIsNone(original.reply_preview)

    async def test_reply_within_one_batch(self) -> None:
        """A reply to a message earlier in the same batch carries its preview."""
        store, room, alice, bob = await self.cast()
        first = new_message(room, alice, "question")
        posted = await store.add_messages([first])
        [answer] = await self.post(store, reply(room, bob, posted[0].message, "answer"))
        batch = await store.add_messages([new_message(room, alice, "q2")])
        self.assertEqual(
            answer.reply_preview, ReplyPreview(posted[0].message.id, alice.id, "alice", "question")
        )
        both = await store.add_messages(
            [
                new_message(room, alice, "q3"),
                NewMessage(room.id, bob.id, "bob", "a3", TS, None, batch[0].message.id + 1),
            ]
        )
        self.assertEqual(
            both[1].message.reply_preview,
            ReplyPreview(both[0].message.id, alice.id, "alice", "q3"),
        )

    async def test_preview_follows_edits_and_deletes(self) -> None:
        """The preview is read with the reply: the original's current content, or a tombstone."""
        store, room, alice, bob = await self.cast()
        [original] = await self.post(store, new_message(room, alice, "first"))
        [answer] = await self.post(store, reply(room, bob, original))
        await store.edit_message(original.id, alice.id, "second", TS)
        self.assertEqual((await store.get_message(answer.id)).reply_preview.excerpt, "second")  # type: ignore[union-attr]
        await store.delete_message(original.id, alice.id, TS)
        preview = (await store.get_messages(room.id, 10))[1].reply_preview
        self.assertEqual(preview, ReplyPreview(original.id, alice.id, "alice", "", deleted=True))
        events = await self.all_events(store, room.id)
        self.assertEqual(events[1].message.reply_preview, preview)

    async def test_reply_to_another_room_or_nothing_is_not_found(self) -> None:
        """A reply names a message of the same room; otherwise nothing of the batch is stored."""
        store, room, alice, bob = await self.cast()
        other = await store.ensure_room("Other", "", 1)
        [elsewhere] = await self.post(store, new_message(other, alice))
        for target in (elsewhere.id, elsewhere.id + 100, INT64_MAX, *PAST_64_BITS):
            batch = [
                new_message(room, bob),
                NewMessage(room.id, bob.id, "bob", "x", TS, None, target),
            ]
            await self.assertFailure(store.add_messages(batch), NotFound)
        self.assertEqual(list(await store.get_messages(room.id, 10)), [])
        self.assertEqual(list(await store.get_events(room.id, 0, 10)), [])

    # -- restart -----------------------------------------------------------------

    async def test_restart_keeps_the_timeline(self) -> None:
        """Events, edits, tombstones, reactions and replies survive; ids continue."""
        if not self.durable:
            raise SkipTest("this backend keeps nothing across close()")
        store, room, alice, bob = await self.cast()
        first, second = await self.post(
            store, new_message(room, alice, "a", "c1"), new_message(room, alice, "b")
        )
        [answer] = await self.post(store, reply(room, bob, first))
        await store.edit_message(first.id, alice.id, "a!", TS)
        await store.set_reaction(first.id, bob.id, "👍", True, TS)
        await store.set_reaction(answer.id, alice.id, "❤️", True, TS)
        last = await store.delete_message(second.id, alice.id, TS)
        events = await self.all_events(store, room.id)
        history = await store.get_messages(room.id, 10)
        store = await self.reopen_store(store)
        self.assertEqual(await self.all_events(store, room.id), events)
        self.assertEqual(await store.get_messages(room.id, 10), history)
        [fresh] = await self.post(store, new_message(room, bob, "later"))
        self.assertGreater(fresh.id, last.event.id)
        again = await store.add_messages([new_message(room, alice, "a", "c1")])
        self.assertEqual(again[0].message, history[0])
        self.assertFalse(again[0].created)
        change = await store.edit_message(first.id, alice.id, "a!!", TS)
        self.assertGreater(change.event.id, fresh.id)


class SQLTimelineMixin(MixinBase):
    """Migrating an existing database to the timeline schema (version 2)."""

    def build_store(
        self, clock: IReactorTime | None = None, retry_delays: Sequence[float] = (0.01, 0.02)
    ) -> SQLStore:
        """Return an unstarted store on this test's database, closed at cleanup."""
        raise NotImplementedError

    async def version_1_database(self, delete_newest: bool) -> list[tuple[int, int]]:
        """Build a database at schema version 1 with two rooms of messages, as 0001 left it.

        Returns (id, room_id) of the messages kept. With ``delete_newest``
        the newest message is removed again, so its id was handed out but is
        not in the table: the sequence must still continue after it.
        """
        store = self.build_store()
        store.database.open()
        await store.run_interaction("migrate", migrate, load_migrations()[:1], 0)
        await store.run_interaction("fill", _fill_version_1, delete_newest)
        kept = await store.run_read("kept", _message_ids)
        await store.close()
        return kept

    async def test_version_1_messages_are_their_creation_events(self) -> None:
        """After the migration each old message is its ``message`` event; ids continue.

        Nothing is copied: a message row is its creation event. New
        messages and changes continue the one sequence after every id it
        handed out, the deleted newest message's included.
        """
        kept = await self.version_1_database(delete_newest=True)
        store = self.build_store()
        await store.start()
        for room_id in (1, 2):
            in_room = [message_id for message_id, room in kept if room == room_id]
            events = await store.get_events(room_id, 0, 100)
            self.assertEqual([(e.id, e.kind) for e in events], [(i, CREATED) for i in in_room])
            history = await store.get_messages(room_id, 100)
            self.assertEqual([m.id for m in history], in_room)
            self.assertEqual([e.message for e in events], list(history))
            self.assertTrue(
                all(
                    (m.edited_at, m.deleted, m.reactions, m.reply_to) == (None, False, (), None)
                    for m in history
                )
            )
        first = await store.edit_message(kept[0][0], 1, "edited", TS)
        self.assertEqual(first.event.id, 7)  # after 6, handed out and deleted
        [posted] = await store.add_messages([NewMessage(1, 1, "alice", "new", TS)])
        self.assertGreater(posted.message.id, first.event.id)
        change = await store.set_reaction(kept[0][0], 1, "👍", True, TS)
        self.assertGreater(change.event.id, posted.message.id)
        events = await store.get_events(1, 0, 100)
        self.assertEqual(
            [(e.id, e.kind) for e in events][-3:],
            [(first.event.id, EDITED), (posted.message.id, CREATED), (change.event.id, REACTED)],
        )

    async def test_empty_version_1_database_starts_at_1(self) -> None:
        """A database migrated without messages hands out id 1 first."""
        store = self.build_store()
        store.database.open()
        await store.run_interaction("migrate", migrate, load_migrations()[:1], 0)
        await store.close()
        store = self.build_store()
        await store.start()
        user = await store.create_user("alice", b"h", 1)
        room = await store.ensure_room("General", "", 1)
        posted = await store.add_messages([NewMessage(room.id, user.id, "alice", "x", TS)])
        self.assertEqual(posted[0].message.id, 1)


def _fill_version_1(txn: Txn, delete_newest: bool) -> None:
    txn.execute(
        "INSERT INTO users (username, username_key, password_hash, created_at)"
        " VALUES ('alice', 'alice', :hash, 1)",
        {"hash": b"h"},
    )
    for name in ("one", "two"):
        txn.execute(
            "INSERT INTO rooms (name, name_key, description, created_at)"
            " VALUES (:name, :name, '', 1)",
            {"name": name},
        )
    for n in range(6):
        txn.execute(
            "INSERT INTO messages (room_id, sender_id, username, content, ts)"
            " VALUES (:room, 1, 'alice', :content, :ts)",
            {"room": 1 + n % 2, "content": f"old {n}", "ts": TS + n},
        )
    if delete_newest:
        txn.execute("DELETE FROM messages WHERE id = 6")


def _message_ids(txn: Txn) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in txn.query("SELECT id, room_id FROM messages ORDER BY id")]


__all__: Sequence[str] = ("SQLTimelineMixin", "TimelineContractMixin")
