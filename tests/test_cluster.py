"""LocalCluster: the decisions of one process, and the handshake's reservation of a socket."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chatservice.cluster import ICluster, LocalCluster
from chatservice.handshake import _BoundFactory
from chatservice.ratelimit import Rate
from chatservice.tokens import Identity
from chatservice.websocket import SocketSession
from tests.fakes import FakeReactor
from tests.wsclient import result_now

ALICE = Identity(7, "alice", 4_000_000_000.0)


class LocalClusterTests(SynchronousTestCase):
    """One process is the whole service: every answer is immediate and exact."""

    def setUp(self) -> None:
        self.cluster = LocalCluster(FakeReactor())

    def test_it_is_a_cluster(self) -> None:
        """``LocalCluster`` provides ``ICluster``."""
        self.assertTrue(verifyObject(ICluster, self.cluster))

    def test_sockets_are_counted_up_to_the_limit(self) -> None:
        """Two of limit 2 pass, the third does not; a release frees one."""
        reserved = [result_now(self.cluster.reserve_socket(5, 2)) for _ in range(3)]
        self.assertEqual(reserved, [True, True, False])
        self.cluster.release_socket(5)
        self.assertEqual(self.cluster.sockets_of(5), 1)
        self.assertTrue(result_now(self.cluster.reserve_socket(5, 2)))
        for _ in range(2):
            self.cluster.release_socket(5)
        self.assertEqual(self.cluster.socket_counts(), {})

    def test_presence_is_the_first_and_last_socket_in_a_room(self) -> None:
        """Per room: online on the first socket, offline on the last."""
        arrive, depart = self.cluster.arrive, self.cluster.depart
        self.assertEqual(
            [result_now(arrive(1, 7, "alice")) for _ in range(2)]
            + [result_now(arrive(2, 7, "a"))],
            [True, False, True],
        )
        self.assertEqual(self.cluster.present_here(), {(1, 7): "alice", (2, 7): "a"})
        self.assertEqual([result_now(depart(1, 7)) for _ in range(3)], [False, True, False])

    def test_rates_are_one_limiter_per_name(self) -> None:
        """The same name gives the same buckets (posts, edits and reactions share one)."""
        first = self.cluster.rate("messages-per-user", Rate(2, 0.01))
        self.assertIs(self.cluster.rate("messages-per-user", Rate(2, 0.01)), first)
        taken = [first.take("7").allowed for _ in range(3)]  # at once: no Deferred
        self.assertEqual(taken, [True, True, False])

    def test_a_ticket_is_used_once(self) -> None:
        """Issued, redeemed once, then unknown."""
        ticket = result_now(self.cluster.issue_ticket(ALICE))
        self.assertEqual(result_now(self.cluster.redeem_ticket(ticket)), ALICE)
        self.assertIsNone(result_now(self.cluster.redeem_ticket(ticket)))
        self.assertEqual(self.cluster.ticket_lifetime, 30)


class _Sockets:
    """Records what a bound factory builds and gives back."""

    def __init__(self) -> None:
        self.built: list[SocketSession] = []
        self.released: list[int] = []

    def build_for(self, session: SocketSession, addr: Any) -> Any:
        self.built.append(session)
        return object()

    def release(self, user_id: int) -> None:
        self.released.append(user_id)


class ReservationTests(SynchronousTestCase):
    """A socket counted by the handshake is given back if the upgrade never builds it."""

    def setUp(self) -> None:
        self.sockets = _Sockets()
        session = SocketSession(ALICE, 1, None, "c-1")
        self.bound = _BoundFactory(self.sockets, session)  # type: ignore[arg-type]

    def test_a_request_that_ends_first_gives_the_count_back_once(self) -> None:
        """The client left before the upgrade: released once, however often told."""
        self.bound.unused(None)
        self.bound.unused(None)
        self.assertEqual(self.sockets.released, [7])

    def test_a_built_socket_keeps_its_count(self) -> None:
        """Once built, the socket's close uncounts it, not the request's end."""
        self.bound.buildProtocol(None)
        self.bound.unused(None)
        self.assertEqual((len(self.sockets.built), self.sockets.released), (1, []))
