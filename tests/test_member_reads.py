"""``member_reads``: handshake reads asked for while one is in flight share the next trip."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.errors import NotFound, StoreUnavailable
from chatservice.models import Room
from chatservice.store.member_reads import MemberReads
from chatservice.store.sql import SQLStore


class _Trips:
    """A database whose reads are answered by the test: each call is one trip."""

    def __init__(self) -> None:
        self.trips: list[tuple[list[tuple[int, int]], Deferred[Any]]] = []

    def run_read(self, desc: str, fn: Any, pairs: list[tuple[int, int]]) -> Deferred[Any]:
        answer: Deferred[Any] = Deferred()
        self.trips.append((list(pairs), answer))
        return answer


def _room(room_id: int) -> Room:
    return Room(room_id, f"room {room_id}", "", None, 0)


class BatchingTests(SynchronousTestCase):
    """Which reads share which trip, and who gets which answer."""

    def setUp(self) -> None:
        self.database = _Trips()
        self.reads = MemberReads(self.database)  # type: ignore[arg-type]

    def outcome(self, answer: Deferred[Any]) -> Any:
        """What ``answer`` fired with so far (None if nothing), leaving a success in place."""
        results: list[Any] = []

        def keep(result: Any) -> Any:
            results.append(result)
            return None if isinstance(result, Failure) else result

        answer.addBoth(keep)
        return results[0] if results else None

    def test_a_lone_read_goes_at_once(self) -> None:
        self.reads.get(1, 7)
        self.assertEqual([pairs for pairs, _ in self.database.trips], [[(1, 7)]])

    def test_reads_asked_for_meanwhile_share_the_next_trip(self) -> None:
        first = self.reads.get(1, 7)
        waiting = [self.reads.get(room, 8) for room in (2, 3, 4)]
        self.assertEqual(len(self.database.trips), 1)
        self.database.trips[0][1].callback([(_room(1), None)])
        self.assertEqual(self.outcome(first), (_room(1), None))
        self.assertEqual(self.database.trips[1][0], [(2, 8), (3, 8), (4, 8)])
        missing = NotFound("No such room.")
        self.database.trips[1][1].callback([(_room(2), None), missing, (_room(4), None)])
        self.assertEqual(self.outcome(waiting[0]), (_room(2), None))
        self.assertIs(self.outcome(waiting[1]).value, missing)
        self.assertEqual(self.outcome(waiting[2]), (_room(4), None))
        self.assertEqual(len(self.database.trips), 2)

    def test_a_failed_trip_fails_each_of_its_reads_only(self) -> None:
        first = self.reads.get(1, 7)
        second = self.reads.get(2, 7)
        self.database.trips[0][1].errback(Failure(StoreUnavailable()))
        self.assertIsInstance(self.outcome(first).value, StoreUnavailable)
        self.assertIsNone(self.outcome(second))  # its own trip is under way
        self.database.trips[1][1].callback([(_room(2), None)])
        self.assertEqual(self.outcome(second), (_room(2), None))

    def test_a_read_asked_for_by_an_answer_is_not_started_twice(self) -> None:
        first = self.reads.get(1, 7)
        self.reads.get(2, 7)
        later: list[Deferred[Any]] = []
        first.addCallback(lambda _: later.append(self.reads.get(3, 7)))
        self.database.trips[0][1].callback([(_room(1), None)])
        # The answer's own read started the next trip, which took both waiting.
        self.assertEqual([pairs for pairs, _ in self.database.trips[1:]], [[(2, 7), (3, 7)]])


class SQLiteTests(TestCase):
    """Reads in flight together on a real SQLite store answer as one at a time would."""

    async def test_concurrent_reads_answer_each_their_own(self) -> None:
        store = SQLStore.sqlite(os.path.join(self.mktemp() + ".sqlite3"), reactor)
        await store.start()
        self.addCleanup(store.close)
        user = await store.create_user("alice", b"h", 1)
        general = await store.ensure_room("General", "", 1)
        asked = [
            store.get_room_and_member(room, user.id) for room in (general.id, 999, general.id)
        ]
        results = await gatherResults(
            [answer.addErrback(lambda failure: failure.trap(NotFound)) for answer in asked]
        )
        self.assertEqual(results[0], results[2])
        self.assertEqual(results[0][0].id, general.id)
        self.assertIs(results[1], NotFound)
