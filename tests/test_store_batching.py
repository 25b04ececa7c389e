"""GroupCommitStore: concurrent single messages share one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from chatservice.config import Config
from chatservice.errors import NotFound, StoreUnavailable
from chatservice.models import Message, NewMessage, Posted
from chatservice.service import ChatService, commit_interval
from chatservice.store import IChatStore
from chatservice.store.batching import GroupCommitStore
from chatservice.store.memory import MemoryStore
from chatservice.store.sql import SQLStore
from tests.fakes import count_commits


def message(n: int) -> NewMessage:
    """The n-th test message, in room 1 from user 1."""
    return NewMessage(1, 1, "alice", f"m{n}", n)


def posted(new: NewMessage, message_id: int) -> Posted:
    """What a store would answer for ``new`` stored under ``message_id``."""
    stored = Message(
        message_id, new.room_id, new.sender_id, new.username, new.content, new.ts, None
    )
    return Posted(stored, created=True)


class HandFiredStore(MemoryStore):
    """A store whose add_messages waits until the test fires it by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[list[NewMessage], Deferred[Sequence[Posted]]]] = []
        self.closed = False

    def add_messages(self, messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
        waiting: Deferred[Sequence[Posted]] = Deferred()
        self.calls.append((list(messages), waiting))
        return waiting

    def commit(self, index: int) -> None:
        """Fire call ``index`` as a commit that gave ids 100 + position."""
        batch, waiting = self.calls[index]
        waiting.callback([posted(new, 100 * (index + 1) + i) for i, new in enumerate(batch)])

    def close(self) -> Deferred[None]:
        self.closed = True
        return super().close()


class GroupCommitTests(SynchronousTestCase):
    """Batching rules, driven by a store that commits when the test says so."""

    def setUp(self) -> None:
        self.inner = HandFiredStore()
        self.store = GroupCommitStore(self.inner)

    def test_provides_interface(self) -> None:
        """GroupCommitStore is an IChatStore."""
        self.assertTrue(verifyObject(IChatStore, self.store))

    def test_idle_store_commits_at_once(self) -> None:
        """A message arriving while nothing is in flight is committed right away, alone."""
        self.store.add_message(message(1))
        self.assertEqual([batch for batch, _ in self.inner.calls], [[message(1)]])

    def test_messages_during_a_commit_go_out_together(self) -> None:
        """Messages arriving during a commit are written in one next add_messages call."""
        first = self.store.add_message(message(1))
        waiting = [self.store.add_message(message(n)) for n in (2, 3, 4)]
        self.assertEqual(len(self.inner.calls), 1)
        self.assertEqual(self.store.pending, 3)
        self.inner.commit(0)
        self.assertEqual(self.successResultOf(first), posted(message(1), 100))
        self.assertEqual(
            [batch for batch, _ in self.inner.calls],
            [[message(1)], [message(n) for n in (2, 3, 4)]],
        )
        for d in waiting:
            self.assertNoResult(d)
        self.inner.commit(1)
        self.assertEqual(
            [self.successResultOf(d) for d in waiting],
            [posted(message(2), 200), posted(message(3), 201), posted(message(4), 202)],
        )

    def test_callers_hear_only_after_their_commit(self) -> None:
        """No caller's Deferred fires before the transaction holding its message commits."""
        result = self.store.add_message(message(1))
        self.assertNoResult(result)
        self.inner.commit(0)
        self.successResultOf(result)

    def test_failure_reaches_every_caller_of_the_batch(self) -> None:
        """When a batch fails, every caller in it gets the failure, and no one else."""
        first = self.store.add_message(message(1))
        batch = [self.store.add_message(message(n)) for n in (2, 3)]
        self.inner.commit(0)
        self.inner.calls[1][1].errback(StoreUnavailable())
        self.successResultOf(first)
        for d in batch:
            self.failureResultOf(d, StoreUnavailable)
        later = self.store.add_message(message(4))
        self.assertEqual(self.inner.calls[2][0], [message(4)])
        self.inner.commit(2)
        self.successResultOf(later)

    def test_synchronous_exception_is_a_failure(self) -> None:
        """A wrapped store that raises instead of failing a Deferred still fails the callers."""

        class Raising(MemoryStore):
            def add_messages(self, messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
                raise NotFound("No such room.")

        store = GroupCommitStore(Raising())
        self.failureResultOf(store.add_message(message(1)), NotFound)
        self.failureResultOf(store.add_message(message(2)), NotFound)

    def test_batches_are_capped(self) -> None:
        """No transaction holds more than max_batch messages; the rest wait their turn."""
        store = GroupCommitStore(self.inner, max_batch=2)
        store.add_message(message(1))
        for n in range(2, 7):
            store.add_message(message(n))
        self.inner.commit(0)
        self.inner.commit(1)
        self.inner.commit(2)
        self.assertEqual(
            [[new.ts for new in batch] for batch, _ in self.inner.calls],
            [[1], [2, 3], [4, 5], [6]],
        )

    def test_bad_batch_size_is_refused(self) -> None:
        """max_batch below 1 is a ValueError."""
        self.assertRaises(ValueError, GroupCommitStore, self.inner, 0)

    def test_message_posted_from_a_callback_waits_its_turn(self) -> None:
        """A message posted while callers of a batch are notified goes after the queued ones."""
        order: list[Posted] = []

        def post_again(_: Posted) -> None:
            self.store.add_message(message(9)).addCallback(order.append)

        first = self.store.add_message(message(1))
        first.addCallback(post_again)
        self.store.add_message(message(2)).addCallback(order.append)
        self.inner.commit(0)
        self.assertEqual(
            [[new.ts for new in batch] for batch, _ in self.inner.calls], [[1], [2, 9]]
        )
        self.inner.commit(1)
        self.assertEqual([p.message.ts for p in order], [2, 9])

    def test_order_is_kept_on_a_synchronous_store(self) -> None:
        """On a store that answers at once, messages get ids in the order they were added."""
        memory = MemoryStore(Clock())
        store = GroupCommitStore(memory)
        room = self.successResultOf(memory.ensure_room("General", "", 1))
        user = self.successResultOf(memory.create_user("alice", b"h", 1))
        results = [
            store.add_message(NewMessage(room.id, user.id, "alice", f"m{n}", n)) for n in range(5)
        ]
        ids = [self.successResultOf(d).message.id for d in results]
        self.assertEqual(ids, sorted(ids))

    def test_close_commits_accepted_messages_first(self) -> None:
        """close() waits for queued and in-flight messages, then closes the wrapped store."""
        first = self.store.add_message(message(1))
        second = self.store.add_message(message(2))
        closed = self.store.close()
        self.assertNoResult(closed)
        self.inner.commit(0)
        self.assertNoResult(closed)
        self.assertFalse(self.inner.closed)
        self.inner.commit(1)
        self.successResultOf(first)
        self.successResultOf(second)
        self.successResultOf(closed)
        self.assertTrue(self.inner.closed)

    def test_other_calls_are_delegated(self) -> None:
        """Users, rooms, history, changes, events and whole batches go to the wrapped store."""
        user = self.successResultOf(self.store.create_user("alice", b"h", 1))
        room = self.successResultOf(self.store.ensure_room("General", "", 1))
        self.assertEqual(self.successResultOf(self.store.get_user(user.id)), user)
        self.assertEqual(self.successResultOf(self.store.get_room(room.id)), room)
        self.assertEqual(self.successResultOf(self.store.list_rooms()), [room])
        self.assertEqual(self.successResultOf(self.store.get_credentials("ALICE")).user, user)
        self.successResultOf(self.store.ping())
        self.assertEqual(self.successResultOf(self.store.get_messages(room.id, 10)), [])
        self.assertEqual(self.successResultOf(self.store.get_events(room.id, 0, 10)), [])
        self.failureResultOf(self.store.get_message(1), NotFound)
        self.failureResultOf(self.store.edit_message(1, user.id, "x", 1), NotFound)
        self.failureResultOf(self.store.delete_message(1, user.id, 1), NotFound)
        self.failureResultOf(self.store.set_reaction(1, user.id, "x", True, 1), NotFound)
        self.store.add_messages([message(1)])
        self.assertEqual(self.inner.calls[0][0], [message(1)])


class GroupCommitOnSQLiteTests(TestCase):
    """On a real SQLite file, a burst of messages shares a few transactions."""

    async def test_burst_is_committed_in_few_transactions_in_order(self) -> None:
        """200 concurrent messages are all stored, ids in call order, in far fewer commits."""
        path = self.mktemp()
        sql = SQLStore.sqlite(path, reactor)
        store = GroupCommitStore(sql)
        await store.start()
        self.addCleanup(store.close)
        user = await store.create_user("alice", b"h", 1)
        room = await store.ensure_room("General", "", 1)
        commits = count_commits(sql)
        results = await gatherResults(
            [
                store.add_message(NewMessage(room.id, user.id, "alice", f"m{n}", n))
                for n in range(200)
            ]
        )
        self.assertEqual([p.message.content for p in results], [f"m{n}" for n in range(200)])
        ids = [p.message.id for p in results]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual(sum(commits), 200)
        self.assertLess(len(commits), 200)
        self.assertEqual(len(await store.get_messages(room.id, 500)), 200)


class PacedCommitTests(SynchronousTestCase):
    """With ``min_interval``, commits start at least that far apart; the rest waits and batches."""

    def setUp(self) -> None:
        self.inner = HandFiredStore()
        self.clock = Clock()
        self.clock.advance(100)
        self.store = GroupCommitStore(self.inner, clock=self.clock, min_interval=0.002)

    def test_an_idle_store_still_commits_at_once(self) -> None:
        """The first message, and one long after the last commit, do not wait."""
        self.store.add_message(message(1))
        self.assertEqual(len(self.inner.calls), 1)
        self.inner.commit(0)
        self.clock.advance(1)
        self.store.add_message(message(2))
        self.assertEqual(len(self.inner.calls), 2)

    def test_commits_start_min_interval_apart_and_gather_what_came_meanwhile(self) -> None:
        """Messages after a quick commit wait for the interval, then go out together, in order."""
        first = self.store.add_message(message(1))
        self.inner.commit(0)  # answered at once: the next commit may not start yet
        self.assertEqual(self.successResultOf(first).message.id, 100)
        later = [self.store.add_message(message(n)) for n in (2, 3)]
        self.assertEqual(len(self.inner.calls), 1)
        self.clock.advance(0.0015)
        self.store.add_message(message(4))
        self.assertEqual(len(self.inner.calls), 1)
        self.clock.advance(0.0005)
        self.assertEqual(
            [batch for batch, _ in self.inner.calls],
            [[message(1)], [message(n) for n in (2, 3, 4)]],
        )
        self.inner.commit(1)
        self.assertEqual([self.successResultOf(d).message.id for d in later], [200, 201])

    def test_close_commits_what_waits_for_its_turn(self) -> None:
        """Closing does not wait for the pacing timer: the waiting messages commit now."""
        self.store.add_message(message(1))
        self.inner.commit(0)
        waiting = self.store.add_message(message(2))
        closed = self.store.close()
        self.assertEqual(len(self.inner.calls), 2)
        self.assertNoResult(closed)
        self.inner.commit(1)
        self.successResultOf(waiting)
        self.successResultOf(closed)
        self.assertTrue(self.inner.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_the_service_paces_durable_stores_only(self) -> None:
        """COMMIT_INTERVAL (ms) applies to SQLite and PostgreSQL; the memory store never waits."""
        config = Config.defaults()
        self.assertEqual(config.commit_interval, 2)
        self.assertEqual(commit_interval(config, MemoryStore()), 0.0)
        sqlite = SQLStore.sqlite(self.mktemp(), self.clock)
        self.assertEqual(commit_interval(config, sqlite), 0.002)
        self.assertEqual(commit_interval(config.replace(commit_interval=0), sqlite), 0.0)


class TurnGatheringTests(SynchronousTestCase):
    """With ``gather_turn``, an idle store's commit waits for the end of the reactor turn."""

    def setUp(self) -> None:
        self.inner = HandFiredStore()
        self.clock = Clock()
        self.clock.advance(100)

    def _store(self, min_interval: float = 0.0) -> GroupCommitStore:
        return GroupCommitStore(
            self.inner, clock=self.clock, min_interval=min_interval, gather_turn=True
        )

    def test_posts_of_one_turn_share_a_commit(self) -> None:
        """Nothing commits while the turn goes on; then every post of it, in order, at once."""
        store = self._store()
        posted = [store.add_message(message(n)) for n in (1, 2, 3)]
        self.assertEqual(self.inner.calls, [])
        self.clock.advance(0)
        self.assertEqual(
            [batch for batch, _ in self.inner.calls], [[message(n) for n in (1, 2, 3)]]
        )
        self.inner.commit(0)
        self.assertEqual([self.successResultOf(d).message.id for d in posted], [100, 101, 102])

    def test_posts_during_a_commit_wait_for_it_then_the_turn(self) -> None:
        """A commit in flight still gathers what arrives; the next starts at a turn's end."""
        store = self._store()
        store.add_message(message(1))
        self.clock.advance(0)
        later = [store.add_message(message(n)) for n in (2, 3)]
        self.inner.commit(0)
        self.assertEqual(len(self.inner.calls), 1)
        self.clock.advance(0)
        self.assertEqual(self.inner.calls[1][0], [message(2), message(3)])
        self.inner.commit(1)
        self.assertEqual([self.successResultOf(d).message.id for d in later], [200, 201])

    def test_pacing_still_holds(self) -> None:
        """With ``min_interval`` too, the next commit waits for the interval, not only the turn."""
        store = self._store(min_interval=0.002)
        store.add_message(message(1))
        self.clock.advance(0)
        self.inner.commit(0)
        store.add_message(message(2))
        self.clock.advance(0)
        self.assertEqual(len(self.inner.calls), 1)
        self.clock.advance(0.002)
        self.assertEqual(self.inner.calls[1][0], [message(2)])

    def test_close_commits_what_waits_for_the_turn(self) -> None:
        """Closing does not wait for the turn's end: what waits commits now."""
        store = self._store()
        waiting = store.add_message(message(1))
        closed = store.close()
        self.assertEqual(len(self.inner.calls), 1)
        self.inner.commit(0)
        self.successResultOf(waiting)
        self.successResultOf(closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_without_a_clock_there_is_no_turn_to_wait_for(self) -> None:
        """``gather_turn`` needs a clock; without one a post commits at once, as before."""
        store = GroupCommitStore(self.inner, gather_turn=True)
        store.add_message(message(1))
        self.assertEqual(len(self.inner.calls), 1)

    def test_the_service_gathers_turns(self) -> None:
        """The service's committer gathers a turn's posts, on the memory store too."""
        service = ChatService(Config.from_sources({"database-url": "memory:"}, listen=()))
        committer = service.messages._committer
        assert isinstance(committer, GroupCommitStore)
        self.assertTrue(committer._gather_turn)
