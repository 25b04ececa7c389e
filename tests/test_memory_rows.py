"""MessageRows: the memory store's messages come back as stored, and cost the collector nothing."""

from __future__ import annotations

import gc

from twisted.trial.unittest import SynchronousTestCase

from chatservice.file_models import Attachment
from chatservice.models import Message, NewMessage, NewRoom, Reaction, ReplyPreview
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
