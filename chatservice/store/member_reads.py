"""Handshake reads that wait together share one trip to the database's threads.

A ``/ws`` handshake reads its room and the user's row in it
(``get_room_and_member``) once. On SQLite that read costs more in the
hand-off to a pool thread and back (waking the thread, the reactor's waker,
the GIL changing hands) than in SQL: about 100 µs of CPU of a handshake, the
whole difference between the shared harness's S3 on SQLite (2,259 connects
per second) and on ``memory:`` (2,936). As ``GroupCommitStore`` does for
writes, a read starts at once when none is in flight, and the reads asked
for meanwhile go together in the next trip, each answered on its own
(a ``NotFound`` fails only its own Deferred). Nothing waits for a timer:
under no load every read is its own trip, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from chatservice import access_models
from chatservice.errors import NotFound
from chatservice.models import Room
from chatservice.store import access_queries
from chatservice.store.database import Database, Txn

RoomAndMember = tuple[Room, access_models.Member | None]
# At most this many reads share one transaction.
MAX_BATCH = 256


def read_all(txn: Txn, pairs: Sequence[tuple[int, int]]) -> list[RoomAndMember | NotFound]:
    """Each (room, user)'s room and row, or the ``NotFound`` of a room that is not there."""
    found: list[RoomAndMember | NotFound] = []
    for room_id, user_id in pairs:
        try:
            found.append(access_queries.room_and_member(txn, room_id, user_id))
        except NotFound as missing:
            found.append(missing)
    return found


class MemberReads:
    """Queues ``get_room_and_member`` reads while one is in flight; runs them as one."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._queue: list[tuple[int, int, Deferred[RoomAndMember]]] = []
        self._reading = False

    def get(self, room_id: int, user_id: int) -> Deferred[RoomAndMember]:
        """The room and the user's row in it; ``NotFound`` if the room is not there."""
        answer: Deferred[RoomAndMember] = Deferred()
        self._queue.append((room_id, user_id, answer))
        if not self._reading:
            self._next()
        return answer

    def _next(self) -> None:
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        self._reading = True
        pairs = [(room_id, user_id) for room_id, user_id, _ in batch]
        reading = self._database.run_read("get_room_and_member", read_all, pairs)
        reading.addBoth(self._answer, batch)

    def _answer(
        self,
        result: list[RoomAndMember | NotFound] | Failure,
        batch: list[tuple[int, int, Deferred[RoomAndMember]]],
    ) -> None:
        self._reading = False
        for index, (_, _, answer) in enumerate(batch):
            if isinstance(result, Failure):
                answer.errback(result)
                continue
            found = result[index]
            if isinstance(found, NotFound):
                answer.errback(found)
            else:
                answer.callback(found)
        # An answer's callbacks may have started the next read already.
        if self._queue and not self._reading:
            self._next()
