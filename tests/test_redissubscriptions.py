"""The hub's book of channels: only the latest SUBSCRIBE confirms, and every waiter is released."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from chatservice.redissubscriptions import Subscriptions

ROOM = b"chat:0:room:1"
OTHER = b"chat:0:room:2"


class SubscriptionsTests(SynchronousTestCase):
    """Plain bookkeeping, driven as ``RedisHub`` drives it."""

    def setUp(self) -> None:
        self.book = Subscriptions()

    def test_a_new_channel_needs_a_subscribe_and_a_wanted_one_does_not(self) -> None:
        """``want`` says whether to send SUBSCRIBE; both waiters wait for the one reply."""
        first, new = self.book.want(ROOM, 1)
        second, again = self.book.want(ROOM, 1)
        self.assertEqual((new, again), (True, False))
        self.assertEqual(
            (self.book.channels(), self.book.rooms(), len(self.book)), ([ROOM], [1], 1)
        )
        self.book.confirm(ROOM, self.book.sending(ROOM))
        self.assertIsNone(self.successResultOf(first))
        self.assertIsNone(self.successResultOf(second))
        self.assertTrue(self.book.is_confirmed(ROOM))
        self.assertEqual(self.book.confirmed_rooms(), [1])

    def test_only_the_reply_to_the_latest_subscribe_confirms(self) -> None:
        """A reply to a superseded SUBSCRIBE (resent on a new connection) is stale."""
        waiter, _ = self.book.want(ROOM, 1)
        stale = self.book.sending(ROOM)
        self.book.unconfirm_all()  # the connection changed: subscribe again
        latest = self.book.sending(ROOM)
        self.book.confirm(ROOM, stale)
        self.assertNoResult(waiter)
        self.assertFalse(self.book.is_confirmed(ROOM))
        self.book.confirm(ROOM, latest)
        self.successResultOf(waiter)

    def test_a_dropped_channel_releases_its_waiters_and_ignores_its_reply(self) -> None:
        """Nothing waits for a room nobody wants any more; a late reply confirms nothing."""
        waiter, _ = self.book.want(ROOM, 1)
        token = self.book.sending(ROOM)
        self.assertTrue(self.book.drop(ROOM))
        self.successResultOf(waiter)
        self.book.confirm(ROOM, token)
        self.assertFalse(self.book.is_confirmed(ROOM))
        self.assertIsNone(self.book.room_of(ROOM))
        self.assertFalse(self.book.drop(ROOM))

    def test_a_new_connection_confirms_nothing_until_it_answers(self) -> None:
        """``unconfirm_all`` keeps every channel wanted but none confirmed."""
        self.book.want(ROOM, 1)
        self.book.want(OTHER, 2)
        self.book.confirm(ROOM, self.book.sending(ROOM))
        self.book.confirm(OTHER, self.book.sending(OTHER))
        self.book.unconfirm_all()
        self.assertEqual(self.book.confirmed_rooms(), [])
        self.assertEqual(sorted(self.book.rooms()), [1, 2])
        self.assertEqual(self.book.room_of(OTHER), 2)

    def test_release_fires_every_waiter(self) -> None:
        """When the hub stops, whoever waits goes on (the hub answers ``subscribe`` at once)."""
        waiters = [self.book.want(ROOM, 1)[0], self.book.want(OTHER, 2)[0]]
        self.book.release()
        for waiter in waiters:
            self.successResultOf(waiter)
