"""MessageRows: the memory store's messages come back as stored, and cost the collector nothing."""

from __future__ import annotations

import gc
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from chatservice.file_models import Attachment
from chatservice.models import Message, NewMessage, NewRoom, Reaction, ReplyPreview
from chatservice.store import memory_rows
from chatservice.store.memory import MemoryStore
from chatservice.store.memory_rows import MessageRows

PLAIN = Message(1, 2, 3, "ann", "hello", 1_700_000_000_000)
EVERY_FIELD = [
    PLAIN,
    Message(4, 2, 3, "ann", "hi @bob", 5, client_msg_id="c-1", reply_to=1, mentions=(7, 9)),
    Message(5, 2, 3, "ann", "changed", 6, edited_at=8),
    Message(6, 2, 3, "ann", "", 6, deleted=True),
    Message(
        7, 2, 3, "ann", "re", 9, reply_to=1, reply_preview=ReplyPreview(1, 3, "ann", "he", False)
    ),
    Message(8, 2, 3, "ann", "x", 9, reactions=(Reaction("👍", (3, 4)),)),
    Message(9, 2, 3, "ann", "f", 9, attachments=(Attachment(11, "a.png", 3, "image/png", 1, 1),)),
]


class MessageRowsTests(SynchronousTestCase):
    """A room's messages in and out of ``MessageRows``, and through ``MemoryStore``."""

    def test_every_kind_of_message_comes_back_equal(self) -> None:
        rows = MessageRows()
        for message in EVERY_FIELD:
            rows.append(message)
        self.assertEqual(len(rows), len(EVERY_FIELD))
        self.assertEqual([rows[i] for i in range(len(rows))], EVERY_FIELD)
        self.assertEqual(rows[1:3], EVERY_FIELD[1:3])
        self.assertEqual(rows[-2], EVERY_FIELD[-2])
        self.assertEqual(list(rows), EVERY_FIELD)
        self.assertEqual(list(reversed(rows)), EVERY_FIELD[::-1])

    def test_replacing_and_popping(self) -> None:
        rows = MessageRows()
        rows.append(PLAIN)
        rows.append(EVERY_FIELD[1])
        rows[0] = EVERY_FIELD[5]
        self.assertEqual(rows[0], EVERY_FIELD[5])
        rows[0] = PLAIN
        self.assertEqual(rows.pop(), EVERY_FIELD[1])
        self.assertEqual(list(rows), [PLAIN])

    def test_plain_messages_leave_no_tracked_object(self) -> None:
        """2,000 stored plain messages add (nearly) nothing to the collector's full walks."""
        store = MemoryStore()
        room = self.successResultOf(store.create_room(NewRoom("r", "", None, 0)))
        batch = [
            NewMessage(room.id, 1, "ann", f"hello {i}", 0, client_msg_id=f"c{i}", mentions=(1,))
            for i in range(2000)
        ]
        gc.collect()
        before = len(gc.get_objects())
        self.successResultOf(store.add_messages(batch))
        gc.collect()
        gained = len(gc.get_objects()) - before
        self.assertLess(gained, 100)
        history = self.successResultOf(store.get_messages(room.id, 3))
        self.assertEqual([m.content for m in history], ["hello 1997", "hello 1998", "hello 1999"])

    def test_a_full_collection_walks_a_chunk_not_every_row(self) -> None:
        """10,000 plain rows: a full collection follows the newest chunk's pointers, not 10,000.

        Untracked rows are never examined themselves, but a list holding
        them is walked element by element on every full collection (a
        cache miss each: 13 ms at 400,000 messages, ``bench/memory_gc.py``).
        Full chunks are tuples of untracked rows, untracked in turn.
        """
        rows = MessageRows()
        for i in range(10_000):
            rows.append(Message(i + 1, 2, 3, "ann", f"m{i}", i))
        gc.collect()
        # The open tail (under a chunk) and one pointer per full chunk.
        self.assertLess(_pointers_walked(rows), memory_rows.CHUNK + 20)
        self.assertEqual(rows[9_999].content, "m9999")

    def test_the_rows_read_like_a_list_across_chunk_boundaries(self) -> None:
        """Every read and write, checked against a plain list, with chunks of three rows."""
        rows = MessageRows(chunk=3)
        oracle: list[Message] = []
        for i in range(11):
            message = EVERY_FIELD[i % len(EVERY_FIELD)]
            rows.append(message)
            oracle.append(message)
        rows[1] = rows[4] = rows[9] = PLAIN
        oracle[1] = oracle[4] = oracle[9] = PLAIN
        self.assertEqual(len(rows), 11)
        self.assertEqual([rows[i] for i in range(-11, 11)], [oracle[i] for i in range(-11, 11)])
        for window in (slice(2, 8), slice(None, None, -1), slice(-4, None), slice(1, 10, 3)):
            self.assertEqual(rows[window], oracle[window])
        self.assertEqual(list(rows), oracle)
        self.assertEqual(list(reversed(rows)), oracle[::-1])
        for start in range(12):
            self.assertEqual(list(rows.iter_from(start)), oracle[start:])
        self.assertEqual(
            list(rows.with_objects()), [m for m in oracle if m not in EVERY_FIELD[:4]]
        )
        with self.assertRaises(IndexError):
            rows[11]
        for _ in range(5):
            self.assertEqual(rows.pop(), oracle.pop())
        rows.append(PLAIN)
        oracle.append(PLAIN)
        self.assertEqual(list(rows), oracle)


class CountsRebuildOnlyWhatTheyCountTests(SynchronousTestCase):
    """Reading from a position rebuilds the messages read, not the ones before them."""

    def test_unread_counts_skip_what_was_read_without_rebuilding_it(self) -> None:
        """10 unread after 4,990 read: about 10 messages rebuilt, not 5,000."""
        store = MemoryStore()
        user = self.successResultOf(store.create_user("ann", b"x", 0))
        room = self.successResultOf(store.create_room(NewRoom("r", "", None, 0)))
        batch = [NewMessage(room.id, 99, "bob", f"m{i}", 0) for i in range(5000)]
        posted = self.successResultOf(store.add_messages(batch))
        self.successResultOf(store.set_read_marker(user.id, room.id, posted[-11].message.id))
        built: list[int] = []
        real = Message

        def counting(*fields: Any) -> Message:
            built.append(1)
            return real(*fields)

        self.patch(memory_rows, "Message", counting)
        counts = self.successResultOf(store.room_counts(user.id, [room.id]))
        self.assertEqual(counts[room.id].unread, 10)
        self.assertLessEqual(len(built), 10)

    def test_iterating_from_a_position(self) -> None:
        """``iter_from`` gives the messages from ``start`` on, rebuilt as they are read."""
        rows = MessageRows()
        for message in EVERY_FIELD:
            rows.append(message)
        self.assertEqual(list(rows.iter_from(3)), EVERY_FIELD[3:])
        self.assertEqual(list(rows.iter_from(len(EVERY_FIELD))), [])

    def test_carried_files_come_from_the_messages_that_have_some(self) -> None:
        """``with_objects`` yields only the messages kept whole (reply, reactions, files)."""
        rows = MessageRows()
        for message in EVERY_FIELD:
            rows.append(message)
        self.assertEqual(list(rows.with_objects()), EVERY_FIELD[4:])


def _pointers_walked(root: object) -> int:
    """How many pointers a full collection follows inside ``root`` (its tracked containers)."""
    walked, seen, todo = 0, set(), [root]
    while todo:
        container = todo.pop()
        if id(container) in seen or not gc.is_tracked(container) or isinstance(container, type):
            continue  # a class is the module's, not the rows' own
        seen.add(id(container))
        inside = gc.get_referents(container)
        walked += len(inside)
        todo.extend(inside)
    return walked
