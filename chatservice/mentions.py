"""Resolve the ``@username`` words of a message to the users it mentions, before it is stored.

A word ``@name`` (not preceded by a name character, so ``a@b.c`` is no
mention) names the account of that username, case-insensitively. It is a
mention if that user may read the room when the message is stored: in a
public room, anyone it did not ban; in a private room, its joined members
(``RoomAccess``'s rules). The sender never mentions themselves, and a
message names at most ``MAX_MENTIONS`` distinct names (the rest are
plain text), so resolving costs a bounded number of reads.

Stored with the message (``Message.mentions``), the ids are what unread
mention counts and notifications use; an edit resolves the new content
again (``changes.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from twisted.internet.defer import Deferred, succeed

from chatservice.access_models import BANNED, JOINED
from chatservice.errors import NotFound
from chatservice.store import IChatStore

# The name characters of ``wire.USERNAME_PATTERN``, 3 to 32 of them.
_MENTION = re.compile(r"(?<![A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{3,32})(?![A-Za-z0-9_-])")
MAX_MENTIONS = 20
NO_MENTIONS: tuple[int, ...] = ()


def mentioned_names(content: str) -> list[str]:
    """The distinct names (case-folded, first ``MAX_MENTIONS``) that ``@`` words name.

    A name ending in dots (``@bob.`` at the end of a sentence) is also
    tried without them: usernames may contain dots, so both are candidates.
    """
    names: dict[str, None] = {}
    for match in _MENTION.finditer(content):
        name = match.group(1).casefold()
        for candidate in (name, name.rstrip(".-")):
            if len(candidate) >= 3:
                names.setdefault(candidate)
        if len(names) >= MAX_MENTIONS:
            break
    return list(names)[:MAX_MENTIONS]


class Mentions:
    """Turns the names of a message into the ids of users who may read its room."""

    def __init__(self, store: IChatStore) -> None:
        self._store = store

    def resolve(self, room_id: int, sender_id: int, content: str) -> Deferred[tuple[int, ...]]:
        """Fire with the mentioned user ids, ascending (at once when there is no ``@``).

        An unknown room mentions no one (storing the message will then fail
        with ``NotFound`` as it would have).
        """
        if "@" not in content:
            return succeed(NO_MENTIONS)
        names = mentioned_names(content)
        if not names:
            return succeed(NO_MENTIONS)
        return Deferred.fromCoroutine(self._resolve(room_id, sender_id, names))

    async def _resolve(
        self, room_id: int, sender_id: int, names: Sequence[str]
    ) -> tuple[int, ...]:
        try:
            room = await self._store.get_room(room_id)
        except NotFound:
            return NO_MENTIONS
        found: set[int] = set()
        for name in names:
            try:
                user = (await self._store.get_credentials(name)).user
            except NotFound:
                continue
            if user.id == sender_id or user.id in found:
                continue
            member = await self._store.get_member(room.id, user.id)
            state = member.state if member is not None else None
            if (room.public and state != BANNED) or state == JOINED:
                found.add(user.id)
        return tuple(sorted(found))
