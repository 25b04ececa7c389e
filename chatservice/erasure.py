"""Erase every message of a user, page by page, and tell each room as it goes.

Shared by deleting one's own account (``sessions.py``) and a server admin
erasing a user's messages (``admin_users.py``). Each page is one store
transaction of at most ``ERASE_PAGE`` messages, so a prolific user never
becomes one huge transaction; each erased message is a ``delete`` event of
its room, published after its page commits as every change is
(``message_updated`` frames), so clients replace what they show.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.hub import IHub, RoomEvent, publish_quietly
from chatservice.models import ErasePage
from chatservice.store import IChatStore
from chatservice.timeline import event_payload

# Messages per transaction.
ERASE_PAGE = 500

_log = Logger()


async def erase_messages(
    store: IChatStore,
    hub: IHub,
    clock: IReactorTime,
    user_id: int,
    eraser_id: int,
    rename: str | None = None,
) -> int:
    """Tombstone every message of ``user_id`` (renamed to ``rename`` if given); how many.

    A failure midway (the store went away) leaves the pages already erased
    erased and published; calling again goes on where it stopped.

    Raises:
        NotFound: either user does not exist.
        StoreUnavailable: the store could not commit a page.
    """
    erased = 0
    after = 0
    while True:
        now_ms = int(clock.seconds() * 1000)
        page = ErasePage(user_id, eraser_id, ERASE_PAGE, now_ms, rename, after)
        changes = await store.erase_messages(page)
        for change in changes:
            event = change.event
            room_event = RoomEvent(event.room_id, event_payload(event), event_id=event.id)
            publish_quietly(hub, room_event, _log)
        erased += len(changes)
        if len(changes) < ERASE_PAGE:
            return erased
        after = changes[-1].event.message.id
