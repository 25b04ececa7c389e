"""Single-use, short-lived WebSocket tickets."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatservice import tickets
from chatservice.tickets import TICKET_LIFETIME, TicketBook
from chatservice.tokens import Identity

ALICE = Identity(1, "alice", expires_at=10_000.0)


class TicketBookTests(SynchronousTestCase):
    """``TicketBook.issue`` and ``redeem``."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.book = TicketBook(self.clock)

    def test_lifetime_is_30_seconds(self) -> None:
        """Tickets live 30 seconds, as API.md says."""
        self.assertEqual((TICKET_LIFETIME, self.book.lifetime), (30, 30))

    def test_ticket_stands_for_the_identity(self) -> None:
        """Redeeming gives back the identity the ticket was issued for."""
        self.assertEqual(self.book.redeem(self.book.issue(ALICE)), ALICE)

    def test_ticket_is_single_use(self) -> None:
        """A second redeem of the same ticket fails."""
        ticket = self.book.issue(ALICE)
        self.assertEqual(self.book.redeem(ticket), ALICE)
        self.assertIsNone(self.book.redeem(ticket))

    def test_unknown_ticket_is_none(self) -> None:
        """A ticket never issued redeems to nothing."""
        self.book.issue(ALICE)
        self.assertIsNone(self.book.redeem("made-up"))
        self.assertIsNone(self.book.redeem(""))

    def test_ticket_is_good_until_just_before_30_seconds(self) -> None:
        """29.9 seconds after issue the ticket still works."""
        ticket = self.book.issue(ALICE)
        self.clock.advance(29.9)
        self.assertEqual(self.book.redeem(ticket), ALICE)

    def test_ticket_expires_after_30_seconds(self) -> None:
        """At 30 seconds the ticket is expired."""
        ticket = self.book.issue(ALICE)
        self.clock.advance(30)
        self.assertIsNone(self.book.redeem(ticket))

    def test_ticket_dies_with_its_token(self) -> None:
        """A ticket is no good once the token that asked for it has expired."""
        identity = Identity(1, "alice", expires_at=10.0)
        ticket = self.book.issue(identity)
        self.clock.advance(10)
        self.assertIsNone(self.book.redeem(ticket))

    def test_tickets_are_unique_and_unguessable(self) -> None:
        """Each ticket is a fresh random string of at least 128 bits."""
        issued = {self.book.issue(ALICE) for _ in range(100)}
        self.assertEqual(len(issued), 100)
        self.assertTrue(all(len(t) >= 22 for t in issued))

    def test_oldest_are_dropped_past_the_bound(self) -> None:
        """Past the outstanding bound the oldest ticket is forgotten, the newest kept."""
        self.patch(tickets, "MAX_OUTSTANDING", 3)
        first, *rest = [self.book.issue(ALICE) for _ in range(4)]
        self.assertIsNone(self.book.redeem(first))
        self.assertEqual([self.book.redeem(t) for t in rest], [ALICE] * 3)

    def test_expired_tickets_are_pruned(self) -> None:
        """Expired tickets do not stay in memory."""
        for _ in range(5):
            self.book.issue(ALICE)
        self.clock.advance(31)
        self.book.issue(ALICE)
        self.assertEqual(len(self.book._tickets), 1)

    def test_bytes_follow_issue_redeem_and_expiry(self) -> None:
        """Issuing adds a ticket's bytes; redeeming and expiry take them away."""
        ticket = self.book.issue(ALICE)
        one = self.book.bytes_held
        self.assertEqual(one, tickets.entry_bytes(ticket, ALICE))
        self.book.issue(ALICE)
        self.assertEqual(self.book.bytes_held, 2 * one)
        self.book.redeem(ticket)
        self.assertEqual(self.book.bytes_held, one)
        self.clock.advance(31)
        self.book.redeem("anything")
        self.assertEqual((len(self.book), self.book.bytes_held), (0, 0))

    def test_oldest_are_dropped_past_the_byte_bound(self) -> None:
        """Past ``max_bytes`` the oldest tickets go first; the newest always stays."""
        probe = TicketBook(self.clock)
        probe.issue(ALICE)
        book = TicketBook(self.clock, max_bytes=3 * probe.bytes_held)
        first, *rest = [book.issue(ALICE) for _ in range(4)]
        self.assertEqual(len(book), 3)
        self.assertIsNone(book.redeem(first))
        self.assertEqual([book.redeem(t) for t in rest], [ALICE] * 3)
