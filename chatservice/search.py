"""Full-text search over the messages a user may read.

The words were checked at the edge (``message_forms.parse_search_query``,
by the rule of ``chatservice.words``: at most 8, kept as typed); every
store matches them the same way — whole words, all of them, lower-cased by
the database's own function — with its own index (SQLite FTS5, a
PostgreSQL ``tsvector``, a scan in memory).
"""

from __future__ import annotations

from collections.abc import Sequence

from chatservice.access import RoomAccess
from chatservice.message_forms import SearchQuery
from chatservice.models import Message
from chatservice.store import IChatStore
from chatservice.tokens import Identity


class Search:
    """The search use case, independent of HTTP."""

    def __init__(self, store: IChatStore, access: RoomAccess) -> None:
        self._access = access
        self._store = store

    async def search(self, reader: Identity, query: SearchQuery) -> Sequence[Message]:
        """Messages matching every word, newest first; ``NotFound`` for an unknown room.

        Only rooms the reader may read are searched (``access.py``): one
        room, or every room they read; a private room they are not in is
        ``NotFound``, as if it did not exist.
        """
        if query.room_id is not None:
            await self._access.readable(reader, query.room_id)
            room_ids: Sequence[int] = [query.room_id]
        else:
            room_ids = await self._access.readable_room_ids(reader)
        return await self._store.search_messages(query.text, room_ids, query.before, query.limit)
