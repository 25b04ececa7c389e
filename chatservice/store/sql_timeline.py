"""``SQLStore``'s timeline methods: one message, its changes, and the events of a room.

A mixin, so ``sql.py`` (users, rooms, history) keeps to its size; the SQL
is in ``timeline_queries``. Ids that cannot be bound as 64-bit integers are
answered here without a round trip, as ``sql.py`` does for users and rooms:
a message id past the range is not found, an editor past it is not the
author, a reacting user past it does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound
from chatservice.models import Change, Message, TimelineEvent
from chatservice.store import timeline_queries
from chatservice.store.database import Database
from chatservice.store.ranges import INT64_MAX, fits, page_bounds


class SQLTimeline:
    """Reads and changes of existing messages, on ``self.database``."""

    database: Database

    def get_message(self, message_id: int) -> Deferred[Message]:
        """Fire with one message in its current state; ``NotFound``."""
        if not fits(message_id):
            return fail(NotFound("No such message."))
        return self.database.run_read("get_message", timeline_queries.get_message, message_id)

    def edit_message(
        self,
        message_id: int,
        editor_id: int,
        content: str,
        edited_at: int,
        mentions: Sequence[int] | None = None,
    ) -> Deferred[Change]:
        """Replace a message's content (and mentions) as an ``edit`` event."""
        return self._authored_change(
            "edit_message",
            timeline_queries.edit_message,
            message_id,
            editor_id,
            content,
            edited_at,
            None if mentions is None else tuple(mentions),
        )

    def delete_message(
        self, message_id: int, deleter_id: int, deleted_at: int, any_author: bool = False
    ) -> Deferred[Change]:
        """Turn a message into a tombstone as a ``delete`` event."""
        return self._authored_change(
            "delete_message",
            timeline_queries.delete_message,
            message_id,
            deleter_id,
            deleted_at,
            any_author,
        )

    def _authored_change(
        self,
        desc: str,
        change: Callable[..., Change],
        message_id: int,
        author_id: int,
        *args: object,
    ) -> Deferred[Change]:
        """Run a change only the author may make: ``change(txn, message_id, author_id, *args)``.

        A message id past 64 bits is not found; an author id past them is
        passed as None, which is no one's id, so the change is ``Forbidden``.
        """
        if not fits(message_id):
            return fail(NotFound("No such message."))
        return self.database.run_interaction(
            desc, change, message_id, author_id if fits(author_id) else None, *args
        )

    def set_reaction(
        self, message_id: int, user_id: int, emoji: str, present: bool, ts: int
    ) -> Deferred[Change]:
        """Add or remove a reaction as a ``react``/``unreact`` event."""
        if not fits(message_id):
            return fail(NotFound("No such message."))
        if not fits(user_id):
            return fail(NotFound("No such user."))
        return self.database.run_interaction(
            "set_reaction", timeline_queries.set_reaction, message_id, user_id, emoji, present, ts
        )

    def get_events(
        self, room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[TimelineEvent]]:
        """Fire with a page of the room's events, oldest first."""
        bounds = page_bounds(room_id, None, after)
        if limit <= 0 or bounds.empty or bounds.after is None:
            return succeed([])
        return self.database.run_read(
            "get_events",
            timeline_queries.get_events,
            room_id,
            bounds.after,
            min(limit, INT64_MAX),
        )
